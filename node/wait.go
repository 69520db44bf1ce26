package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/types"
)

// waitSeq tells the event-bus subscriptions of concurrent waits apart.
var waitSeq atomic.Uint64

// WaitHeight waits until the node has committed block h. It is woken by the
// node's commits, not by polling.
func (n *Node) WaitHeight(ctx context.Context, h int64) error {
	return n.waitCommit(ctx, fmt.Sprintf("height %d", h), func(height int64, _ time.Time) bool { return height >= h })
}

// WaitBlockTime waits until the node has committed a block whose time is at
// or after t. The ledger judges time-bound rules (a proposal's expiry, a
// grant's window) at block time, so from that block on a rule that ends at
// t no longer admits transactions. An idle chain commits a block only every
// Config.EmptyBlockInterval.
func (n *Node) WaitBlockTime(ctx context.Context, t time.Time) error {
	return n.waitCommit(ctx, "a block at "+t.UTC().Format(time.RFC3339), func(_ int64, bt time.Time) bool { return !bt.Before(t) })
}

// waitCommit waits until done holds for the newest committed block. CometBFT
// announces a block on its event bus after the application has committed it.
func (n *Node) waitCommit(ctx context.Context, what string, done func(height int64, t time.Time) bool) error {
	bus := n.cmt.EventBus()
	subscriber := fmt.Sprintf("carechain-wait-%d", waitSeq.Add(1))
	// Subscribe before looking, so that no commit falls between the two.
	sub, err := bus.Subscribe(ctx, subscriber, types.EventQueryNewBlockHeader, 16)
	if err != nil {
		return fmt.Errorf("wait for %s: %w", what, err)
	}
	defer bus.Unsubscribe(context.Background(), subscriber, types.EventQueryNewBlockHeader)
	if h, t := n.lastCommitted(); done(h, t) {
		return nil
	}
	for {
		select {
		case msg := <-sub.Out():
			if ev, ok := msg.Data().(types.EventDataNewBlockHeader); ok && done(ev.Header.Height, ev.Header.Time) {
				return nil
			}
		case <-sub.Canceled():
			return fmt.Errorf("wait for %s: %w", what, sub.Err())
		case <-ctx.Done():
			h, _ := n.lastCommitted()
			return fmt.Errorf("wait for %s (committed height %d): %w", what, h, ctx.Err())
		}
	}
}

// lastCommitted returns the height and time of the newest block the ledger
// has committed (the block store's newest if StartOptions.App replaced the
// ledger).
func (n *Node) lastCommitted() (int64, time.Time) {
	bs := n.cmt.BlockStore()
	h := bs.Height()
	if n.app != nil {
		c, _ := n.app.LastCommit()
		h = c.Height
	}
	if meta := bs.LoadBlockMeta(h); meta != nil {
		return h, meta.Header.Time
	}
	return h, time.Time{}
}
