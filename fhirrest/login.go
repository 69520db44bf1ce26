package fhirrest

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
)

// Passphrase login is where passphrases are guessed, and each guess costs
// the node an scrypt unlock (32 MiB and ~0.1 s with keystore.DefaultKDF).
// So failures are counted per principal and per source address, and past a
// few of them the login answers 429 without trying the passphrase, for a
// window that doubles with each further failure; at most GOMAXPROCS unlocks
// run at once; and an unknown principal costs and answers exactly what a
// wrong passphrase does, so neither timing nor throttling tells them apart.
// A patient's sign-in, once the passphrase proved right, also unlocks the
// patient's encryption keys, in the same unlock slot: failures cost what
// they did.
const (
	// freeFailures is how many failed logins a principal has before it is
	// throttled; an address has freeAddrFailures, since many users may
	// share one (a hospital behind NAT).
	freeFailures     = 5
	freeAddrFailures = 20
	// firstLockout is the first throttling window; each further failure
	// doubles it, up to maxLockout.
	firstLockout = 2 * time.Second
	maxLockout   = 15 * time.Minute
	// forgetFailures is how long after its last failure a count is
	// forgotten.
	forgetFailures = time.Hour
	// maxThrottled bounds each table of counts (principals, addresses):
	// names and addresses come from the client, so a full table drops its
	// stalest entry.
	maxThrottled = 10_000
	// maxThrottleKey bounds a counted name.
	maxThrottleKey = 128
)

var errLoginFailed = errors.New("unknown principal or wrong passphrase")

// failures counts failed logins of one principal or address.
type failures struct {
	count int
	last  time.Time // of the last failure
	until time.Time // throttled until then
}

// throttle is a table of failure counts.
type throttle struct {
	mu   sync.Mutex
	free int
	seen map[string]*failures
}

func newThrottle(free int) *throttle { return &throttle{free: free, seen: map[string]*failures{}} }

// wait is how long key is still throttled at now (0: not throttled).
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.seen[key]; ok && now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// fail counts a failure of key at now.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.seen[key]
	if ok && now.Sub(f.last) > forgetFailures {
		f.count = 0
	}
	if !ok {
		t.makeRoom(now)
		f = &failures{}
		t.seen[key] = f
	}
	f.count++
	f.last = now
	if f.count >= t.free {
		lockout := maxLockout
		if shift := f.count - t.free; shift < 20 {
			lockout = min(firstLockout<<shift, maxLockout)
		}
		f.until = now.Add(lockout)
	}
}

// reset forgets key's failures (a successful login).
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.seen, key)
}

// makeRoom drops forgotten counts when the table is full, and if it still
// is, the count whose last failure is oldest, preferring one that throttles
// nobody now: a flood of new names must not lift a lockout.
func (t *throttle) makeRoom(now time.Time) {
	if len(t.seen) < maxThrottled {
		return
	}
	var stalest, stalestFree string
	older := func(a string, f *failures) bool { return a == "" || f.last.Before(t.seen[a].last) }
	for k, f := range t.seen {
		switch {
		case now.Sub(f.last) > forgetFailures && !now.Before(f.until):
			delete(t.seen, k)
		case !now.Before(f.until) && older(stalestFree, f):
			stalestFree = k
		case older(stalest, f):
			stalest = k
		}
	}
	if len(t.seen) < maxThrottled {
		return
	}
	if stalestFree != "" {
		stalest = stalestFree
	}
	delete(t.seen, stalest)
}

// logins holds the state of passphrase login.
type logins struct {
	principals *throttle
	addresses  *throttle
	unlocks    chan struct{} // a semaphore: one token per scrypt unlock
}

func newLogins(parallel int) *logins {
	return &logins{principals: newThrottle(freeFailures), addresses: newThrottle(freeAddrFailures), unlocks: make(chan struct{}, parallel)}
}

// throttled is how long a login of principal from addr must wait, and
// which of them is throttled.
func (l *logins) throttled(principal, addr string, now time.Time) (time.Duration, string) {
	if d := l.principals.wait(principal, now); d > 0 {
		return d, "this principal"
	}
	if d := l.addresses.wait(addr, now); d > 0 {
		return d, "this address"
	}
	return 0, ""
}

// login is passphrase login for portal users whose keys this node keeps:
// the passphrase must open the principal's key in the node's keystore. A
// patient's sign-in also unlocks the patient's encryption keys with it: the
// node never opens patients' keys with its own passphrase, so it reads (and
// grants) for a custodial patient only once the patient has signed in. The
// keys leave memory when the patient's session ends (signout.go).
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	s.signOutEnded()
	if err := readForm(w, r, "principal", "passphrase"); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, pass := r.PostForm.Get("principal"), r.PostForm.Get("passphrase")
	if s.Keystore == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_grant", errLoginFailed.Error())
		return
	}
	who, addr := throttleKey(id), addressKey(r)
	if s.refuseThrottled(w, who, addr) {
		return
	}
	select {
	case s.logins.unlocks <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	// Checked again: failures may have been counted while this waited.
	if s.refuseThrottled(w, who, addr) {
		<-s.logins.unlocks
		return
	}
	p, key := s.unlock(id, []byte(pass))
	patient := key != nil && p.Kind == carechain.KindPatient
	// Keys held before this login are not this session's to forget.
	held := patient && (s.Custodian.Holds(id) || s.Records != nil && s.Records.Keys().Holds(id))
	if patient {
		s.unlockEncryptionKeys(p.ID, []byte(pass))
	}
	<-s.logins.unlocks
	if key == nil {
		now := s.Now()
		s.logins.principals.fail(who, now)
		s.logins.addresses.fail(addr, now)
		oauthError(w, http.StatusUnauthorized, "invalid_grant", errLoginFailed.Error())
		return
	}
	s.logins.principals.reset(who)
	s.Custodian.Add(id, key)
	if expires := s.Now().Add(s.TokenTTL); patient && !held {
		s.sessions.signedIn(id, expires)
	} else if patient {
		s.sessions.extend(id, expires)
	}
	s.writeToken(w, p, "", "user/*.read user/*.write")
}

// refuseThrottled answers 429 if a login of who from addr must wait.
func (s *server) refuseThrottled(w http.ResponseWriter, who, addr string) bool {
	wait, which := s.logins.throttled(who, addr, s.Now())
	if wait == 0 {
		return false
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.failErr(w, carechain.E(carechain.KindThrottled,
		fmt.Errorf("too many failed logins for %s: retry after %d s", which, secs)))
	return true
}

// unlock opens id's key with pass if id is an active principal whose key
// this node keeps and pass opens it, else returns a nil key after the same
// work (keystore.Store.Decoy).
func (s *server) unlock(id string, pass []byte) (*carechain.Principal, ed25519.PrivateKey) {
	p, err := s.App.Latest().Principal(id)
	if err != nil || p.Status != carechain.StatusActive {
		s.Keystore.Decoy(pass)
		return nil, nil
	}
	key, err := s.Keystore.Unlock(strings.ReplaceAll(id, "/", "."), pass)
	switch {
	case errors.Is(err, keystore.ErrWrongPassphrase):
		return nil, nil // scrypt ran
	case err != nil: // no such key here, or it cannot be read
		s.Keystore.Decoy(pass)
		return nil, nil
	case !key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(p.PublicKey)):
		clear(key) // an older key of a rotated principal
		return nil, nil
	}
	return p, key
}

// unlockEncryptionKeys adds to the node's keyring the encryption keys of a
// patient who signed in with pass, those of them it opens (the current key
// and those it replaced: records sealed to them stay readable).
func (s *server) unlockEncryptionKeys(patient string, pass []byte) {
	if s.Records == nil {
		return
	}
	n, err := s.Records.Keys().Unlock(s.Keystore, patient, pass)
	switch {
	case err != nil:
		s.Logger.Warn("unlocking a signed-in patient's encryption keys", "err", err)
	case n == 0:
		s.Logger.Debug("a signed-in patient has no encryption key here that opens with their passphrase")
	}
}

// throttleKey is the name failures of a login as id are counted under.
func throttleKey(id string) string {
	if len(id) > maxThrottleKey {
		return id[:maxThrottleKey]
	}
	return id
}

// addressKey is the address failures of r are counted under: its source,
// and for IPv6 its /64, which one client usually holds whole.
func addressKey(r *http.Request) string {
	ip := net.ParseIP(sourceOf(r))
	if ip == nil || ip.To4() != nil {
		return sourceOf(r)
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
