package records

import (
	"net"
	"sync"
	"time"
)

// Passphrase sign-in is where passphrases are guessed, and each guess costs
// the node an scrypt unlock (32 MiB and ~0.1 s with keystore.DefaultKDF).
// So failures are counted per principal and per source address, and past a
// few of them a sign-in is refused without trying the passphrase, for a
// window that doubles with each further failure (throttle, below).
const (
	// freeFailures is how many failed sign-ins a principal has before it
	// is throttled; an address has freeAddrFailures, since many users may
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

// failures counts failed sign-ins of one principal or address.
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

// reset forgets key's failures (a successful sign-in).
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

// throttleKey is the name failures of a sign-in as id are counted under.
func throttleKey(id string) string {
	if len(id) > maxThrottleKey {
		return id[:maxThrottleKey]
	}
	return id
}

// addressKey is the address failures from remote (a request's remote
// address, host:port or host) are counted under: the host's IP address,
// and for IPv6 its /64, which one client usually holds whole.
func addressKey(remote string) string {
	source := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		source = host
	}
	ip := net.ParseIP(source)
	if ip == nil || ip.To4() != nil {
		return source
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
