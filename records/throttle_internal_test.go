package records

import (
	"fmt"
	"testing"
	"time"
)

// TestThrottleTableIsBounded floods a throttle table with new names: it
// stays bounded, and a principal locked out stays locked out.
func TestThrottleTableIsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	th := newThrottle(freeFailures)
	for range freeFailures {
		th.fail("patient/victim", now)
	}
	for i := range maxThrottled + 500 {
		th.fail(fmt.Sprint("guess-", i), now.Add(time.Millisecond))
	}
	if len(th.seen) > maxThrottled {
		t.Fatalf("%d counts kept, bound %d", len(th.seen), maxThrottled)
	}
	if th.wait("patient/victim", now.Add(time.Second)) == 0 {
		t.Fatal("the flood lifted a lockout")
	}
}
