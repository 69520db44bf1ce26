package node

import (
	"testing"
	"time"
)

// TestWaitingCountsFromFirstSightingSinceLastCommit: pending transactions
// wait from when the node first saw one pending after its last commit; a
// commit or an empty mempool starts over, so an idle chain that then takes
// a transaction is not taken for a stalled one.
func TestWaitingCountsFromFirstSightingSinceLastCommit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w progressWatch
	steps := []struct {
		do      func()
		pending int
		now     int
		want    time.Duration
	}{
		{nil, 0, 0, 0},
		{nil, 1, 100, 0}, // first seen pending after 100 s idle: waits from now
		{nil, 1, 105, 5 * time.Second},
		{func() { w.committed() }, 1, 110, 0}, // a block: what is left waits anew
		{nil, 2, 140, 30 * time.Second},
		{nil, 0, 150, 0}, // the mempool emptied
		{func() { w.sawPending(at(160)) }, 1, 170, 10 * time.Second}, // accepted at 160
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		if got := w.waiting(s.pending, at(s.now)); got != s.want {
			t.Fatalf("step %d: waiting %v, want %v", i, got, s.want)
		}
	}
}
