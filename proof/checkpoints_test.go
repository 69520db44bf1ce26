package proof_test

import (
	"testing"

	"github.com/carechain/carechain/proof"
)

// TestCheckpointsRemembersOnlyWhatVerified: once a checkpoint verified, a
// Checkpoints passes it again without its signatures; yet every mutation
// of it, of its header, validators or info, is verified afresh and fails,
// and a checkpoint that failed is not remembered.
func TestCheckpointsRemembersOnlyWhatVerified(t *testing.T) {
	cs := proof.NewCheckpoints(trustedSet(t))
	good := loadBundle(t).At
	for range 2 {
		if err := cs.Verify(good); err != nil {
			t.Fatal(err)
		}
	}
	muts := checkpointMutations()
	muts = append(muts,
		checkpointMutation{"info log size", func(t *testing.T, cp *proof.Checkpoint) { cp.Info.LogSize++ }, "does not commit"},
		checkpointMutation{"info supply root", func(t *testing.T, cp *proof.Checkpoint) { cp.Info.SupplyRoot = make([]byte, 32) }, "does not commit"},
		checkpointMutation{"height", func(t *testing.T, cp *proof.Checkpoint) { cp.Height++ }, "header is for height"})
	for _, m := range muts {
		t.Run(m.name, func(t *testing.T) {
			cp := loadBundle(t).At
			m.change(t, &cp)
			for range 2 { // a failure is not remembered either way
				wantFailure(t, cs.Verify(cp), proof.ErrInvalid, m.says)
			}
		})
	}
	if err := cs.Verify(good); err != nil {
		t.Fatalf("the good checkpoint after the mutations: %v", err)
	}
	if err := proof.NewCheckpoints(otherSet(t)).Verify(good); err == nil {
		t.Fatal("a Checkpoints trusting another set passed the checkpoint")
	}
}
