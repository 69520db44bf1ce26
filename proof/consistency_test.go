package proof_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/carechain/carechain/proof"
)

func TestConsistencyVectorVerifies(t *testing.T) {
	c := loadConsistency(t)
	if err := proof.VerifyConsistency(c, trustedSet(t)); err != nil {
		t.Fatalf("%s: %v", vectorConsistency, err)
	}
	if c.From.Info.LogSize >= c.To.Info.LogSize || len(c.Proof) == 0 {
		t.Errorf("%s proves nothing: log %d -> %d with %d hashes", vectorConsistency, c.From.Info.LogSize, c.To.Info.LogSize, len(c.Proof))
	}
}

// TestConsistencyMutationsFail changes one part of the consistency proof at
// a time. A changed checkpoint fails its signature check (ErrInvalid); a
// changed proof between two signed checkpoints means two logs that cannot
// both be true (ErrSplitView).
func TestConsistencyMutationsFail(t *testing.T) {
	type mutation struct {
		name   string
		change func(t *testing.T, c *proof.Consistency)
		want   error
		says   string
	}
	ms := []mutation{
		{"version", func(t *testing.T, c *proof.Consistency) { c.Version = 0 }, proof.ErrInvalid, "unknown version"},
		{"from log root", func(t *testing.T, c *proof.Consistency) { c.From.Info.LogRoot = flip(c.From.Info.LogRoot, 0) }, proof.ErrInvalid, "app hash"},
		{"from tree size", func(t *testing.T, c *proof.Consistency) { c.From.Info.LogSize-- }, proof.ErrInvalid, "app hash"},
		{"to state hash", func(t *testing.T, c *proof.Consistency) { c.To.Info.StateHash = flip(c.To.Info.StateHash, 0) }, proof.ErrInvalid, "app hash"},
		{"checkpoints swapped", func(t *testing.T, c *proof.Consistency) { c.From, c.To = c.To, c.From }, proof.ErrInvalid, "larger than"},
		{"proof hash dropped", func(t *testing.T, c *proof.Consistency) { c.Proof = c.Proof[:len(c.Proof)-1] }, proof.ErrSplitView, "split view"},
		{"proof hash added", func(t *testing.T, c *proof.Consistency) { c.Proof = append(c.Proof, c.Proof[0]) }, proof.ErrSplitView, "split view"},
		{"proof removed", func(t *testing.T, c *proof.Consistency) { c.Proof = nil }, proof.ErrSplitView, "split view"},
	}
	for i := range loadConsistency(t).Proof {
		ms = append(ms, mutation{fmt.Sprintf("proof hash %d", i), func(t *testing.T, c *proof.Consistency) {
			c.Proof[i] = flip(c.Proof[i], 3)
		}, proof.ErrSplitView, "split view"})
	}
	for _, m := range checkpointMutations() {
		ms = append(ms,
			mutation{"from " + m.name, func(t *testing.T, c *proof.Consistency) { m.change(t, &c.From) }, proof.ErrInvalid, m.says},
			mutation{"to " + m.name, func(t *testing.T, c *proof.Consistency) { m.change(t, &c.To) }, proof.ErrInvalid, m.says})
	}
	trusted := trustedSet(t)
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			c := loadConsistency(t)
			m.change(t, c)
			wantFailure(t, proof.VerifyConsistency(c, trusted), m.want, m.says)
		})
	}
}

// TestSplitView: a second log of the same size with another root is a split
// view, whatever proof comes with it; the same log is consistent with itself.
func TestSplitView(t *testing.T) {
	c := loadConsistency(t)
	for _, info := range []proof.AppInfo{c.From.Info, c.To.Info} {
		if err := proof.CheckConsistency(info, info, nil); err != nil {
			t.Errorf("log of size %d inconsistent with itself: %v", info.LogSize, err)
		}
		forged := info
		forged.LogRoot = bytes.Repeat([]byte{0xab}, len(info.LogRoot))
		wantFailure(t, proof.CheckConsistency(info, forged, c.Proof), proof.ErrSplitView, "split view")
	}
}
