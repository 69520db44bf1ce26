package records

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
)

// SignIns is passphrase sign-in for the principals whose keys this node
// keeps (custodial patients and staff), shared by every surface that signs
// people in (the FHIR API's /auth/login, the portal), so that one throttle
// counts all their guesses and one table knows whose keys a sign-in put in
// memory.
//
// The passphrase must open the principal's key in the node's keystore. At
// most GOMAXPROCS unlocks run at once, and an unknown principal costs and
// answers exactly what a wrong passphrase does (ErrSignInFailed), so neither
// timing nor throttling tells them apart. A patient's sign-in also unlocks
// the patient's encryption keys with the passphrase: the node never opens
// patients' keys with its own passphrase, so it reads (and grants) for a
// custodial patient only while the patient is signed in. Each sign-in names
// a holder (a FHIR token family, a portal session) and until when it holds
// the keys; once every holder of a patient has signed out or expired
// (SignOut, ForgetEnded) the patient's keys leave memory. Keys held before a
// sign-in (the demo's patients, a test's) are no holder's and stay.
type SignIns struct {
	chain     interface{ Latest() *ledger.View }
	keystore  *keystore.Store
	custodian *Custodian
	keys      *Keyring // nil: no records service, no encryption keys
	logger    *slog.Logger

	principals *throttle
	addresses  *throttle
	unlocks    chan struct{} // a semaphore: one token per scrypt unlock

	mu      sync.Mutex
	holders map[string]map[string]time.Time // patient → holder → until
}

// ErrSignInFailed is the answer to an unknown principal and to a wrong
// passphrase alike.
var ErrSignInFailed = carechain.NewError(carechain.KindUnauthenticated, "unknown principal or wrong passphrase")

// ThrottledError refuses a sign-in without trying its passphrase: too many
// failures for Which ("this principal", "this address") until Wait passes.
type ThrottledError struct {
	Wait  time.Duration
	Which string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins for %s: retry after %d s", e.Which, e.Seconds())
}

// ErrorKind is KindThrottled.
func (e *ThrottledError) ErrorKind() carechain.ErrorKind { return carechain.KindThrottled }

// Seconds is Wait in whole seconds, rounded up.
func (e *ThrottledError) Seconds() int { return int((e.Wait + time.Second - 1) / time.Second) }

// NewSignIns signs principals in with the keys in ks, putting them in
// custodian and (for patients' encryption keys) keys, which may be nil;
// parallel bounds concurrent unlocks.
func NewSignIns(chain interface{ Latest() *ledger.View }, ks *keystore.Store, custodian *Custodian, keys *Keyring, parallel int, logger *slog.Logger) *SignIns {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &SignIns{chain: chain, keystore: ks, custodian: custodian, keys: keys, logger: logger,
		principals: newThrottle(freeFailures), addresses: newThrottle(freeAddrFailures),
		unlocks: make(chan struct{}, max(parallel, 1)), holders: map[string]map[string]time.Time{}}
}

// SignIn opens id's key with pass for a request from remote (its remote
// address: failures are counted per address too) at now, and keeps it (and a patient's encryption keys) in memory
// for holder until the given time. It returns the principal, or
// ErrSignInFailed, or a *ThrottledError.
func (s *SignIns) SignIn(ctx context.Context, id string, pass []byte, remote, holder string, now, until time.Time) (*carechain.Principal, error) {
	if s == nil || s.keystore == nil {
		return nil, ErrSignInFailed
	}
	who, addr := throttleKey(id), addressKey(remote)
	if err := s.throttled(who, addr, now); err != nil {
		return nil, err
	}
	select {
	case s.unlocks <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Checked again: failures may have been counted while this waited.
	if err := s.throttled(who, addr, now); err != nil {
		<-s.unlocks
		return nil, err
	}
	p, key := s.unlock(id, pass)
	patient := key != nil && p.Kind == carechain.KindPatient
	// Keys held before this sign-in are not this holder's to forget.
	held := patient && (s.custodian.Holds(id) || s.keys != nil && s.keys.Holds(id))
	if patient {
		s.unlockEncryptionKeys(id, pass)
	}
	<-s.unlocks
	if key == nil {
		s.principals.fail(who, now)
		s.addresses.fail(addr, now)
		return nil, ErrSignInFailed
	}
	s.principals.reset(who)
	s.custodian.Add(id, key)
	if patient {
		s.hold(id, holder, until, !held)
	}
	return p, nil
}

// throttled refuses a sign-in of who from addr that must wait.
func (s *SignIns) throttled(who, addr string, now time.Time) error {
	if d := s.principals.wait(who, now); d > 0 {
		return &ThrottledError{Wait: d, Which: "this principal"}
	}
	if d := s.addresses.wait(addr, now); d > 0 {
		return &ThrottledError{Wait: d, Which: "this address"}
	}
	return nil
}

// unlock opens id's key with pass if id is an active principal whose key
// this node keeps and pass opens it, else returns a nil key after the same
// work (keystore.Store.Decoy).
func (s *SignIns) unlock(id string, pass []byte) (*carechain.Principal, ed25519.PrivateKey) {
	p, err := s.chain.Latest().Principal(id)
	if err != nil || p.Status != carechain.StatusActive {
		s.keystore.Decoy(pass)
		return nil, nil
	}
	key, err := s.keystore.Unlock(strings.ReplaceAll(id, "/", "."), pass)
	switch {
	case errors.Is(err, keystore.ErrWrongPassphrase):
		return nil, nil // scrypt ran
	case err != nil: // no such key here, or it cannot be read
		s.keystore.Decoy(pass)
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
func (s *SignIns) unlockEncryptionKeys(patient string, pass []byte) {
	if s.keys == nil {
		return
	}
	n, err := s.keys.Unlock(s.keystore, patient, pass)
	switch {
	case err != nil:
		s.logger.Warn("unlocking a signed-in patient's encryption keys", "err", err)
	case n == 0:
		s.logger.Debug("a signed-in patient has no encryption key here that opens with their passphrase")
	}
}

// hold notes that holder keeps patient's keys in memory until the given
// time. A patient whose keys were in memory before any sign-in (fresh is
// false and nobody holds them) stays nobody's.
func (s *SignIns) hold(patient, holder string, until time.Time, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, tracked := s.holders[patient]
	if !tracked && !fresh {
		return
	}
	if !tracked {
		hs = map[string]time.Time{}
		s.holders[patient] = hs
	}
	if until.After(hs[holder]) {
		hs[holder] = until
	}
}

// Extend moves holder's hold of patient's keys to until, if it holds them.
func (s *SignIns) Extend(patient, holder string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs, ok := s.holders[patient]; ok {
		if _, ok := hs[holder]; ok && until.After(hs[holder]) {
			hs[holder] = until
		}
	}
}

// SignOut ends holder's hold of patient's keys; if nobody else holds them,
// they leave memory.
func (s *SignIns) SignOut(patient, holder string) {
	s.mu.Lock()
	hs, ok := s.holders[patient]
	if ok {
		delete(hs, holder)
	}
	last := ok && len(hs) == 0
	if last {
		delete(s.holders, patient)
	}
	s.mu.Unlock()
	if last {
		s.forget(patient)
	}
}

// ForgetEnded forgets the keys of patients whose holders have all expired
// by now.
func (s *SignIns) ForgetEnded(now time.Time) {
	if s == nil {
		return
	}
	var ended []string
	s.mu.Lock()
	for p, hs := range s.holders {
		for h, until := range hs {
			if now.After(until) {
				delete(hs, h)
			}
		}
		if len(hs) == 0 {
			ended = append(ended, p)
			delete(s.holders, p)
		}
	}
	s.mu.Unlock()
	for _, p := range ended {
		s.forget(p)
	}
}

// forget takes patient's keys out of memory.
func (s *SignIns) forget(patient string) {
	s.custodian.Remove(patient)
	if s.keys != nil {
		s.keys.Remove(patient)
	}
	s.logger.Debug("a patient's sessions ended: their keys left memory")
}

// Hold adds holder to those keeping patient's keys in memory until until,
// if a sign-in put them there and someone still holds them (an app's token
// the signed-in patient approved lasts as long as its own hold).
func (s *SignIns) Hold(patient, holder string, until time.Time) {
	if s != nil {
		s.hold(patient, holder, until, false)
	}
}
