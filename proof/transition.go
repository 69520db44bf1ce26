package proof

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cometbft/cometbft/types"
)

// MaxTransitions bounds the validator transitions one checkpoint may carry,
// so that a hostile file cannot make Verify check signatures without end. A
// consortium changes its validators by governance vote, rarely; a verifier
// whose trusted set is older than this many changes needs a newer one.
const MaxTransitions = 1024

// Transition is one change of the validator set, as the set before the
// change signed it. The ledger returns validator updates from FinalizeBlock
// of block H; they are in force from block H+2, and the header of block H+1
// is the first to name the new set (its NextValidatorsHash) while still being
// signed by the old one.
type Transition struct {
	// Header is the CometBFT signed header (header and commit) of the block
	// whose NextValidatorsHash first names Next.
	Header json.RawMessage `json:"signed_header"`
	// Next is the validator set in force from the block after Header's.
	Next json.RawMessage `json:"next_validators"`
}

// ErrNotFromTrusted is wrapped (with ErrInvalid) when the first set that
// signs in a checkpoint, that of its first validator transition or, without
// transitions, its own, is not the trusted set: the proof was made for a
// verifier who trusts another set, or the trusted set is of another chain.
// A proof made from the height at which the trusted set was in force may
// verify.
var ErrNotFromTrusted = errors.New("the proof does not start from the trusted validator set")

func notFromTrusted(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalid, ErrNotFromTrusted, fmt.Sprintf(format, args...))
}

// walkTransitions follows ts from the trusted set: each transition's header
// must be signed by more than two thirds of the power of the set reached so
// far, be of a later height than the one before, and name the next set by
// its hash. It returns the set reached and the height of the last header.
func walkTransitions(chainID string, ts []Transition, trusted *types.ValidatorSet) (*types.ValidatorSet, int64, error) {
	if len(ts) > MaxTransitions {
		return nil, 0, fail("%d validator transitions, more than %d", len(ts), MaxTransitions)
	}
	vals, last := trusted, int64(0)
	for i, t := range ts {
		sh, err := parseSignedHeader(chainID, t.Header)
		if err != nil {
			return nil, 0, fail("validator transition %d: %v", i, err)
		}
		if i == 0 && !bytes.Equal(sh.ValidatorsHash, trusted.Hash()) {
			return nil, 0, notFromTrusted("validator transition 0 (header %d): header's validators hash %X is not the trusted set's %X",
				sh.Height, sh.ValidatorsHash, trusted.Hash())
		}
		if sh.Height <= last {
			return nil, 0, fail("validator transition %d: header %d is not after the previous transition's %d", i, sh.Height, last)
		}
		if err := verifySignedBy(chainID, sh, vals); err != nil {
			return nil, 0, fail("validator transition %d (header %d): %v", i, sh.Height, err)
		}
		next, err := ParseValidators(t.Next)
		if err != nil {
			return nil, 0, fail("validator transition %d: next %v", i, err)
		}
		if !bytes.Equal(sh.NextValidatorsHash, next.Hash()) {
			return nil, 0, fail("validator transition %d: header %d names next validator set %X, the transition gives %X",
				i, sh.Height, sh.NextValidatorsHash, next.Hash())
		}
		if bytes.Equal(sh.NextValidatorsHash, sh.ValidatorsHash) {
			return nil, 0, fail("validator transition %d: header %d does not change the validator set", i, sh.Height)
		}
		vals, last = next, sh.Height
	}
	return vals, last, nil
}

// parseSignedHeader decodes a signed header in canonical form and checks it
// is well formed and of chain chainID.
func parseSignedHeader(chainID string, raw []byte) (*types.SignedHeader, error) {
	var sh types.SignedHeader
	if err := strictCmt(raw, &sh); err != nil {
		return nil, fmt.Errorf("signed header: %w", err)
	}
	if err := sh.ValidateBasic(chainID); err != nil {
		return nil, fmt.Errorf("signed header: %w", err)
	}
	return &sh, nil
}

// verifySignedBy checks that more than two thirds of the voting power of
// vals signed sh, and that sh names vals as its validators. Every signature
// in the commit is checked, not only enough of them, so that no byte of a
// proof file goes unchecked.
func verifySignedBy(chainID string, sh *types.SignedHeader, vals *types.ValidatorSet) error {
	if !bytes.Equal(sh.ValidatorsHash, vals.Hash()) {
		return fmt.Errorf("header's validators hash %X is not that of the set that must sign it, %X", sh.ValidatorsHash, vals.Hash())
	}
	if err := vals.VerifyCommitLightAllSignatures(chainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return fmt.Errorf("commit signatures: %w", err)
	}
	// Light verification matches signatures to validators by position; the
	// addresses in the commit are not signed, so check them too.
	for i, sig := range sh.Commit.Signatures {
		if sig.BlockIDFlag != types.BlockIDFlagAbsent && !bytes.Equal(sig.ValidatorAddress, vals.Validators[i].Address) {
			return fmt.Errorf("commit signature %d names validator %X, not %X", i, sig.ValidatorAddress, vals.Validators[i].Address)
		}
	}
	return nil
}

// reachedBy explains, in a failure about the checkpoint's signers, which set
// the verifier compared against.
func reachedBy(ts []Transition) string {
	if len(ts) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the set reached from the trusted set through %d validator transitions)", len(ts))
}
