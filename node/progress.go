package node

import (
	"sync"
	"time"
)

// progressWatch times how long transactions wait without a block. Waiting
// starts when this node first sees pending transactions after its last
// commit: when it accepts one (Broadcast), or when Progress is asked and
// finds the mempool non-empty (transactions gossiped by peers).
type progressWatch struct {
	mu           sync.Mutex
	pendingSince time.Time // zero: no transaction seen pending since the last commit
}

// sawPending notes that a transaction is pending at now.
func (w *progressWatch) sawPending(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pendingSince.IsZero() {
		w.pendingSince = now
	}
}

// committed notes a block: what is still pending waits from now on.
func (w *progressWatch) committed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pendingSince = time.Time{}
}

// waiting returns how long the pending transactions (a count) have waited at now.
func (w *progressWatch) waiting(pending int, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pending == 0 {
		w.pendingSince = time.Time{}
		return 0
	}
	if w.pendingSince.IsZero() {
		w.pendingSince = now
	}
	return now.Sub(w.pendingSince)
}

// Pending reports whether the chain moves for the transactions this node
// holds: how many wait in its mempool, and how long they have waited
// without a block committing. A chain that has lost its quorum (too many
// validators down) takes transactions into the mempool but commits none:
// the wait then grows while transactions stay pending.
func (n *Node) Pending() (txs int, waiting time.Duration) {
	txs = n.cmt.Mempool().Size()
	return txs, n.progress.waiting(txs, time.Now())
}
