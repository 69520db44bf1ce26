package proof_test

import (
	"fmt"
	"slices"
	"testing"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
)

// threeSets is a founder alone (A), joined by two organizations (B), then
// leaving while a fourth joins (C): no validator of A is left in C.
func threeSets(t testing.TB) *fakeChain {
	pool := keyPool(4)
	return newFakeChain(t, "carechain-test",
		newFakeSet(pool, 10, 0, 0, 0),
		newFakeSet(pool, 10, 5, 5, 0),
		newFakeSet(pool, 0, 5, 5, 5))
}

func TestCheckpointVerifiesAcrossValidatorChanges(t *testing.T) {
	c := threeSets(t)
	if err := proof.VerifyCheckpoint(c.cp, c.sets[0].vals); err != nil {
		t.Fatalf("from the first set through two transitions: %v", err)
	}
	// A verifier who trusts a later set needs only the later transitions.
	later := c.cp
	later.Transitions = c.cp.Transitions[1:]
	if err := proof.VerifyCheckpoint(later, c.sets[1].vals); err != nil {
		t.Errorf("from the second set through one transition: %v", err)
	}
	later.Transitions = nil
	if err := proof.VerifyCheckpoint(later, c.sets[2].vals); err != nil {
		t.Errorf("from the signing set itself: %v", err)
	}
	// Consistency proofs carry transitions in each checkpoint, and survive
	// the canonical encoding.
	file, err := proof.Encode(&proof.Consistency{Version: 1, From: c.cp, To: c.cp})
	if err != nil {
		t.Fatal(err)
	}
	var back proof.Consistency
	if err := proof.Decode(file, &back); err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(&back, c.sets[0].vals); err != nil {
		t.Errorf("consistency across validator changes: %v", err)
	}
}

// TestTransitionVectorVerifies: a real chain's proof made after governance
// admitted a validator verifies against the set saved before, and not
// without its transition, nor against another chain's set.
func TestTransitionVectorVerifies(t *testing.T) {
	before, err := proof.ParseValidators(readVector(t, vectorTransitionValidators))
	if err != nil {
		t.Fatal(err)
	}
	b := loadTransition(t)
	if len(b.At.Transitions) != 1 {
		t.Fatalf("%s carries %d transitions, want 1", vectorTransition, len(b.At.Transitions))
	}
	if err := proof.Verify(b, before); err != nil {
		t.Fatalf("%s: %v", vectorTransition, err)
	}
	wantFailure(t, proof.Verify(b, trustedSet(t)), proof.ErrNotFromTrusted, "transition 0")
	b.At.Transitions = nil
	wantFailure(t, proof.Verify(b, before), proof.ErrNotFromTrusted, "not the trusted set")
}

func TestTamperedTransitionsFail(t *testing.T) {
	type mutation struct {
		name    string
		change  func(t *testing.T, c *fakeChain)
		trusted int // index of the set the verifier trusts
		says    string
	}
	header := func(i int, f func(sh *types.SignedHeader)) func(t *testing.T, c *fakeChain) {
		return func(t *testing.T, c *fakeChain) {
			var sh types.SignedHeader
			if err := cmtjson.Unmarshal(c.cp.Transitions[i].Header, &sh); err != nil {
				t.Fatal(err)
			}
			f(&sh)
			c.cp.Transitions[i].Header = encodeCmtTB(t, sh)
		}
	}
	ms := []mutation{
		{"first transition dropped", func(t *testing.T, c *fakeChain) { c.cp.Transitions = c.cp.Transitions[1:] }, 0, "transition 0 (header 8): header's validators hash"},
		{"last transition dropped", func(t *testing.T, c *fakeChain) { c.cp.Transitions = c.cp.Transitions[:1] }, 0, "not the trusted set"},
		{"all transitions dropped", func(t *testing.T, c *fakeChain) { c.cp.Transitions = nil }, 0, "not the trusted set"},
		{"transitions reordered", func(t *testing.T, c *fakeChain) { slices.Reverse(c.cp.Transitions) }, 0, "validators hash"},
		{"transition repeated", func(t *testing.T, c *fakeChain) {
			c.cp.Transitions = append(c.cp.Transitions[:1], c.cp.Transitions...)
		}, 0, "is not after the previous transition's"},
		{"trusting the signing set, with transitions", func(t *testing.T, c *fakeChain) {}, 2, "transition 0 (header 5): header's validators hash"},
		{"next set's power altered", func(t *testing.T, c *fakeChain) {
			vals := c.sets[1].vals.Copy()
			vals.Validators[0].VotingPower++
			vals.Proposer = nil
			c.cp.Transitions[0].Next = encodeCmtTB(t, vals)
		}, 0, "transition 0: header 5 names next validator set"},
		{"next set replaced by a later one", func(t *testing.T, c *fakeChain) { c.cp.Transitions[0].Next = c.cp.Transitions[1].Next }, 0, "names next validator set"},
		{"next set with a proposer priority", func(t *testing.T, c *fakeChain) {
			vals := c.sets[1].vals.Copy()
			vals.Validators[0].ProposerPriority = 3
			vals.Proposer = nil
			c.cp.Transitions[0].Next = encodeCmtTB(t, vals)
		}, 0, "proposer priorities"},
		{"commit signature corrupted", header(1, func(sh *types.SignedHeader) {
			sh.Commit.Signatures[0].Signature = flip(sh.Commit.Signatures[0].Signature, 5)
		}), 0, "transition 1 (header 8): commit signatures"},
		// Two thirds were signed without it, but every signature is checked.
		{"commit signature beyond two thirds corrupted", header(1, func(sh *types.SignedHeader) {
			sh.Commit.Signatures[2].Signature = flip(sh.Commit.Signatures[2].Signature, 5)
		}), 0, "commit signatures"},
		// Votes do not sign the validator's address: it is checked apart.
		{"commit signature's validator address", header(1, func(sh *types.SignedHeader) {
			sh.Commit.Signatures[1].ValidatorAddress = flip(sh.Commit.Signatures[1].ValidatorAddress, 0)
		}), 0, "commit signature 1 names validator"},
		{"commit signature removed", header(1, func(sh *types.SignedHeader) {
			sh.Commit.Signatures = sh.Commit.Signatures[1:]
		}), 0, "commit signatures"},
		{"header changed after signing", header(0, func(sh *types.SignedHeader) { sh.AppHash = flip(sh.AppHash, 0) }), 0, "transition 0: signed header"},
		{"header not canonical", func(t *testing.T, c *fakeChain) {
			c.cp.Transitions[0].Header = append([]byte(`{"extra":1,`), c.cp.Transitions[0].Header[1:]...)
		}, 0, "not in canonical form"},
		// The old set's power that signed is below two thirds: the founder
		// (10 of 20) is absent, the two newcomers (5 and 5) sign.
		{"signed by half the old set", func(t *testing.T, c *fakeChain) { c.resign(t, 1, func(*types.Header) {}, 0) }, 0, "insufficient voting power"},
		{"signed by three quarters of the old set", func(t *testing.T, c *fakeChain) { c.resign(t, 1, func(*types.Header) {}, 2) }, 0, ""},
		{"transition of another chain", func(t *testing.T, c *fakeChain) {
			c.resign(t, 0, func(h *types.Header) { h.ChainID = "other-chain" })
		}, 0, `another chain "other-chain"`},
		{"checkpoint of another chain", func(t *testing.T, c *fakeChain) { c.cp.ChainID = "other-chain" }, 0, "another chain"},
		{"transition that changes nothing", func(t *testing.T, c *fakeChain) {
			c.resign(t, 0, func(h *types.Header) { h.NextValidatorsHash = h.ValidatorsHash })
			c.cp.Transitions[0].Next = encodeCmtTB(t, c.sets[0].vals)
		}, 0, "does not change the validator set"},
		{"transition not after the one before", func(t *testing.T, c *fakeChain) {
			c.resign(t, 1, func(h *types.Header) { h.Height = 5 })
		}, 0, "header 5 is not after the previous transition's 5"},
		{"transition after the checkpoint", func(t *testing.T, c *fakeChain) {
			c.resign(t, 1, func(h *types.Header) { h.Height = 100 })
		}, 0, "checkpoint header 12 is not after the last validator transition's 100"},
		{"too many transitions", func(t *testing.T, c *fakeChain) {
			c.cp.Transitions = slices.Repeat(c.cp.Transitions[:1], proof.MaxTransitions+1)
		}, 0, fmt.Sprintf("more than %d", proof.MaxTransitions)},
	}
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			c := threeSets(t)
			m.change(t, c)
			err := proof.VerifyCheckpoint(c.cp, c.sets[m.trusted].vals)
			if m.says == "" {
				if err != nil {
					t.Fatalf("want verified: %v", err)
				}
				return
			}
			wantFailure(t, err, proof.ErrInvalid, m.says)
		})
	}
}

// BenchmarkVerifyCheckpoint measures what transitions add to verification:
// each set has four validators, one of which is replaced per transition.
func BenchmarkVerifyCheckpoint(b *testing.B) {
	for _, n := range []int{0, 1, 4, 16} {
		b.Run(fmt.Sprintf("transitions=%d", n), func(b *testing.B) {
			pool := keyPool(n + 4)
			var sets []*fakeSet
			for i := 0; i <= n; i++ {
				powers := make([]int64, len(pool))
				for j := i; j < i+4; j++ {
					powers[j] = 10
				}
				sets = append(sets, newFakeSet(pool, powers...))
			}
			c := newFakeChain(b, "carechain-bench", sets...)
			trusted := sets[0].vals
			b.ResetTimer()
			for range b.N {
				if err := proof.VerifyCheckpoint(c.cp, trusted); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
