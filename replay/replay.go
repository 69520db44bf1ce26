// Package replay refuses one-time values seen before: a client assertion's
// jti, a signed request's nonce. A Guard remembers each value until it
// expires, in memory and bounded.
//
// A restart empties the memory, so a Guard also refuses every value issued
// before its floor: the time the process started (New), raised when the
// Guard is full and forgets its oldest values. Whatever an earlier process
// accepted was issued before this one started, so it cannot be replayed
// here, with one exception that MaxAhead bounds: a value issued by a client
// whose clock runs ahead of the server's, accepted less than MaxAhead before
// a restart, looks fresh to the new process until it expires. Persisting the
// values would close that gap at the cost of a disk write per request; we
// accept the gap instead and keep MaxAhead small.
package replay

import (
	"container/heap"
	"fmt"
	"sync"
	"time"

	"github.com/carechain/carechain"
)

// MaxAhead is how far ahead of the server's clock a value's issue time may
// be (clients' clocks drift).
const MaxAhead = 30 * time.Second

// Guard remembers one-time values until they expire. It is safe for
// concurrent use.
type Guard struct {
	mu    sync.Mutex
	floor time.Time
	max   int
	seen  map[string]time.Time // value → when it expires
	byAge ages
}

// New returns a Guard that refuses values issued before start and
// remembers at most max values.
func New(start time.Time, max int) *Guard {
	return &Guard{floor: start, max: max, seen: map[string]time.Time{}}
}

// Use accepts the value id, issued at issued and valid until expires, once.
// It refuses (KindUnauthenticated) a value seen before, issued before the
// Guard's floor, or issued more than MaxAhead after now.
func (g *Guard) Use(id string, issued, expires, now time.Time) error {
	if issued.After(now.Add(MaxAhead)) {
		return carechain.E(carechain.KindUnauthenticated,
			fmt.Errorf("issued %v in the future by this server's clock (at most %v allowed)", issued.Sub(now).Round(time.Second), MaxAhead))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if issued.Before(g.floor) {
		return carechain.E(carechain.KindUnauthenticated,
			fmt.Errorf("issued at %s, before this server's replay horizon %s (it restarted, or was busy): make a new one",
				issued.UTC().Format(time.RFC3339), g.floor.UTC().Format(time.RFC3339)))
	}
	if _, ok := g.seen[id]; ok {
		return carechain.E(carechain.KindUnauthenticated, fmt.Errorf("already used: make a new one"))
	}
	g.forget(now)
	g.seen[id] = expires
	heap.Push(&g.byAge, entry{id: id, issued: issued})
	return nil
}

// forget drops the values that have expired, oldest first, and, while the
// Guard is full, the oldest value still valid, raising the floor past it so
// that it stays refused.
func (g *Guard) forget(now time.Time) {
	for len(g.byAge) > 0 {
		oldest := g.byAge[0]
		full := len(g.seen) >= g.max
		if !full && !now.After(g.seen[oldest.id]) {
			return
		}
		heap.Pop(&g.byAge)
		delete(g.seen, oldest.id)
		if full && !oldest.issued.Before(g.floor) {
			g.floor = oldest.issued.Add(time.Nanosecond)
		}
	}
}

// Len is the number of values remembered.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

type entry struct {
	id     string
	issued time.Time
}

// ages is a min-heap of entries by issue time.
type ages []entry

func (a ages) Len() int           { return len(a) }
func (a ages) Less(i, j int) bool { return a[i].issued.Before(a[j].issued) }
func (a ages) Swap(i, j int)      { a[i], a[j] = a[j], a[i] }
func (a *ages) Push(x any)        { *a = append(*a, x.(entry)) }
func (a *ages) Pop() any {
	old := *a
	e := old[len(old)-1]
	*a = old[:len(old)-1]
	return e
}
