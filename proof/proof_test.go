package proof_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/tlog"
)

func TestRecordVectorVerifies(t *testing.T) {
	b := loadBundle(t)
	if err := proof.Verify(b, trustedSet(t)); err != nil {
		t.Fatalf("%s: %v", vectorRecord, err)
	}
	if b.Leaf.Kind != tlog.KindRecord {
		t.Errorf("%s proves a %q entry, want a record version", vectorRecord, b.Leaf.Kind)
	}
	// Encode gives back the file byte for byte: the one canonical form.
	again, err := proof.Encode(b)
	if err != nil || !bytes.Equal(again, readVector(t, vectorRecord)) {
		t.Errorf("Encode(Decode(%s)) differs from the file (%v)", vectorRecord, err)
	}
}

// bundleMutation changes one part of the record bundle; Verify must then
// fail with an error saying what failed.
type bundleMutation struct {
	name   string
	change func(t *testing.T, b *proof.Bundle)
	says   string
}

func bundleMutations(t *testing.T) []bundleMutation {
	ms := []bundleMutation{
		{"version", func(t *testing.T, b *proof.Bundle) { b.Version = 2 }, "unknown bundle version"},
		{"leaf kind", func(t *testing.T, b *proof.Bundle) { b.Leaf.Kind = tlog.KindConsent }, "inclusion"},
		{"leaf key", func(t *testing.T, b *proof.Bundle) { b.Leaf.Key += "0" }, "inclusion"},
		{"leaf state key", func(t *testing.T, b *proof.Bundle) { b.Leaf.StateKey += "0" }, "inclusion"},
		{"leaf height earlier", func(t *testing.T, b *proof.Bundle) { b.Leaf.Height-- }, "inclusion"},
		{"leaf height after the checkpoint", func(t *testing.T, b *proof.Bundle) { b.Leaf.Height = b.At.Height + 1 }, "after the checkpoint"},
		{"leaf content hash", func(t *testing.T, b *proof.Bundle) { b.Leaf.ContentHash = flip(b.Leaf.ContentHash, 0) }, "content does not match"},
		{"content byte", func(t *testing.T, b *proof.Bundle) { b.Content = flip(b.Content, len(b.Content)/2) }, "content does not match"},
		{"content truncated", func(t *testing.T, b *proof.Bundle) { b.Content = b.Content[:len(b.Content)-1] }, "content does not match"},
		{"content removed", func(t *testing.T, b *proof.Bundle) { b.Content = nil }, "content does not match"},
		{"leaf index up", func(t *testing.T, b *proof.Bundle) { b.LeafIndex++ }, "inclusion"},
		{"leaf index down", func(t *testing.T, b *proof.Bundle) { b.LeafIndex-- }, "inclusion"},
		{"inclusion hash dropped", func(t *testing.T, b *proof.Bundle) { b.Inclusion = b.Inclusion[1:] }, "inclusion"},
		{"inclusion hash added", func(t *testing.T, b *proof.Bundle) { b.Inclusion = append(b.Inclusion, b.Inclusion[0]) }, "inclusion"},
		{"checkpoint height", func(t *testing.T, b *proof.Bundle) { b.At.Height++ }, "header is for height"},
		{"checkpoint chain ID", func(t *testing.T, b *proof.Bundle) { b.At.ChainID += "x" }, "signed header"},
		// One more leaf can leave the inclusion path valid (its last hash
		// read as the new right subtree's): the signed app hash catches it.
		{"tree size up", func(t *testing.T, b *proof.Bundle) { b.At.Info.LogSize++ }, "app hash"},
		{"tree size down", func(t *testing.T, b *proof.Bundle) { b.At.Info.LogSize-- }, "inclusion"},
		{"log root", func(t *testing.T, b *proof.Bundle) { b.At.Info.LogRoot = flip(b.At.Info.LogRoot, 31) }, "inclusion"},
		{"state hash", func(t *testing.T, b *proof.Bundle) { b.At.Info.StateHash = flip(b.At.Info.StateHash, 0) }, "app hash"},
	}
	for i := range loadBundle(t).Inclusion {
		ms = append(ms, bundleMutation{fmt.Sprintf("inclusion hash %d", i), func(t *testing.T, b *proof.Bundle) {
			b.Inclusion[i] = flip(b.Inclusion[i], 7)
		}, "inclusion"})
	}
	for _, m := range checkpointMutations() {
		ms = append(ms, bundleMutation{m.name, func(t *testing.T, b *proof.Bundle) { m.change(t, &b.At) }, m.says})
	}
	return ms
}

// checkpointMutation changes one part of a checkpoint's signed header or
// validator set.
type checkpointMutation struct {
	name   string
	change func(t *testing.T, cp *proof.Checkpoint)
	says   string
}

func checkpointMutations() []checkpointMutation {
	header := func(f func(sh *types.SignedHeader)) func(t *testing.T, cp *proof.Checkpoint) {
		return func(t *testing.T, cp *proof.Checkpoint) { editHeader(t, cp, f) }
	}
	vals := func(f func(vs *types.ValidatorSet)) func(t *testing.T, cp *proof.Checkpoint) {
		return func(t *testing.T, cp *proof.Checkpoint) { editValidators(t, cp, f) }
	}
	return []checkpointMutation{
		// The commit signs the header's hash, so a changed header no longer
		// matches its commit...
		{"header app hash", header(func(sh *types.SignedHeader) { sh.AppHash = flip(sh.AppHash, 0) }), "signed header"},
		{"header time", header(func(sh *types.SignedHeader) { sh.Time = sh.Time.Add(time.Second) }), "signed header"},
		// ...and a commit re-pointed at the changed header is not signed.
		{"header app hash, commit re-pointed", header(func(sh *types.SignedHeader) {
			sh.AppHash = flip(sh.AppHash, 0)
			sh.Commit.BlockID.Hash = sh.Header.Hash()
		}), "commit signatures"},
		{"commit signature byte", header(func(sh *types.SignedHeader) {
			sh.Commit.Signatures[0].Signature = flip(sh.Commit.Signatures[0].Signature, 10)
		}), "commit signatures"},
		{"commit signature time", header(func(sh *types.SignedHeader) {
			sh.Commit.Signatures[0].Timestamp = sh.Commit.Signatures[0].Timestamp.Add(time.Millisecond)
		}), "commit signatures"},
		{"commit signature absent", header(func(sh *types.SignedHeader) {
			sh.Commit.Signatures[0] = types.NewCommitSigAbsent()
		}), "commit signatures"},
		{"commit validator address", header(func(sh *types.SignedHeader) {
			sh.Commit.Signatures[0].ValidatorAddress = flip(sh.Commit.Signatures[0].ValidatorAddress, 0)
		}), "names validator"},
		{"header validators hash", header(func(sh *types.SignedHeader) {
			sh.ValidatorsHash = flip(sh.ValidatorsHash, 0)
			sh.Commit.BlockID.Hash = sh.Header.Hash()
		}), "validators hash"},
		{"signed header not canonical", func(t *testing.T, cp *proof.Checkpoint) {
			cp.Header = append([]byte(`{"extra":1,`), cp.Header[1:]...)
		}, "not in canonical form"},
		{"validator voting power", vals(func(vs *types.ValidatorSet) { vs.Validators[0].VotingPower++ }), "not the trusted set"},
		{"validator set of another chain", func(t *testing.T, cp *proof.Checkpoint) {
			cp.Validators = encodeCmt(t, otherSet(t))
		}, "not the trusted set"},
		{"validator proposer priority", vals(func(vs *types.ValidatorSet) { vs.Validators[0].ProposerPriority = 1 }), "proposer priorities"},
		{"validator set with a proposer", vals(func(vs *types.ValidatorSet) { vs.Proposer = vs.Validators[0] }), "no proposer"},
		{"validator set empty", vals(func(vs *types.ValidatorSet) { vs.Validators = nil }), "empty"},
	}
}

func TestRecordBundleMutationsFail(t *testing.T) {
	trusted := trustedSet(t)
	for _, m := range bundleMutations(t) {
		t.Run(m.name, func(t *testing.T) {
			b := loadBundle(t)
			m.change(t, b)
			wantFailure(t, proof.Verify(b, trusted), proof.ErrInvalid, m.says)
		})
	}
}

func TestRecordBundleUntrustedSetFails(t *testing.T) {
	wantFailure(t, proof.Verify(loadBundle(t), otherSet(t)), proof.ErrInvalid, "not the trusted set")
}

// TestEveryByteOfTheVectorsMatters flips each byte of the proof files and of
// the trusted set in turn: decoding or verification must fail every time.
func TestEveryByteOfTheVectorsMatters(t *testing.T) {
	trusted := trustedSet(t)
	beforeChange, err := proof.ParseValidators(readVector(t, vectorTransitionValidators))
	if err != nil {
		t.Fatal(err)
	}
	// A bundle file verifies against a set; a set file verifies a bundle.
	bundleFile := func(trusted *types.ValidatorSet) func(data []byte) error {
		return func(data []byte) error {
			var b proof.Bundle
			if err := proof.Decode(data, &b); err != nil {
				return err
			}
			return proof.Verify(&b, trusted)
		}
	}
	setFile := func(load func(t *testing.T) *proof.Bundle) func(data []byte) error {
		return func(data []byte) error {
			vals, err := proof.ParseValidators(data)
			if err != nil {
				return err
			}
			return proof.Verify(load(t), vals)
		}
	}
	verifyFile := map[string]func(data []byte) error{
		vectorRecord:     bundleFile(trusted),
		vectorTransition: bundleFile(beforeChange),
		vectorConsistency: func(data []byte) error {
			var c proof.Consistency
			if err := proof.Decode(data, &c); err != nil {
				return err
			}
			return proof.VerifyConsistency(&c, trusted)
		},
		vectorTransitionValidators: setFile(loadTransition),
		vectorValidators:           setFile(loadBundle),
	}
	for name, verify := range verifyFile {
		t.Run(name, func(t *testing.T) {
			file := readVector(t, name)
			if err := verify(file); err != nil {
				t.Fatalf("the file itself: %v", err)
			}
			for i := range file {
				if verify(flip(file, i)) == nil {
					t.Errorf("changing byte %d (in %q) still verifies", i, file[max(0, i-20):min(len(file), i+20)])
				}
			}
		})
	}
}
