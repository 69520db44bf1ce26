package proof_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
)

// The test vectors in testdata come from a real single-node chain; node's
// TestWriteProofVectors writes them:
//
//	go test ./node -run 'TestWriteProofVectors|TestWriteTransitionVectors' -update
//
// Nothing here runs a node: every test checks the files offline.
const (
	vectorValidators  = "validators.json"        // the trusted validator set
	vectorRecord      = "record.proof.json"      // inclusion bundle for a record version
	vectorConsistency = "consistency.proof.json" // an earlier log is a prefix of the bundle's
	vectorNote        = "checkpoint.note"        // the bundle's checkpoint as a signed note
	vectorNoteKey     = "checkpoint.vkey"        // the note verifier key of the node that signed it

	// From another chain, on which governance admitted a second validator:
	vectorTransitionValidators = "transition.validators.json" // the set saved before the change
	vectorTransition           = "transition.proof.json"      // an identity proof made after it, with the transition
)

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func trustedSet(t *testing.T) *types.ValidatorSet {
	t.Helper()
	vals, err := proof.ParseValidators(readVector(t, vectorValidators))
	if err != nil {
		t.Fatalf("%s: %v", vectorValidators, err)
	}
	return vals
}

// loadBundle decodes the record bundle afresh, so each caller may change it.
func loadBundle(t *testing.T) *proof.Bundle { return loadBundleFile(t, vectorRecord) }

// loadTransition decodes the bundle made after a validator change afresh.
func loadTransition(t *testing.T) *proof.Bundle { return loadBundleFile(t, vectorTransition) }

func loadBundleFile(t *testing.T, name string) *proof.Bundle {
	t.Helper()
	var b proof.Bundle
	if err := proof.Decode(readVector(t, name), &b); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &b
}

// loadConsistency decodes the consistency proof afresh.
func loadConsistency(t *testing.T) *proof.Consistency {
	t.Helper()
	var c proof.Consistency
	if err := proof.Decode(readVector(t, vectorConsistency), &c); err != nil {
		t.Fatalf("%s: %v", vectorConsistency, err)
	}
	return &c
}

// otherSet is a validator set of one fresh key: a chain the vectors are not from.
func otherSet(t *testing.T) *types.ValidatorSet {
	t.Helper()
	v := types.NewValidator(ed25519.GenPrivKey().PubKey(), 10)
	return &types.ValidatorSet{Validators: []*types.Validator{v}}
}

// encodeCmt encodes v as CometBFT does, the form proof files carry.
func encodeCmt(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cmtjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editHeader changes a checkpoint's signed header and re-encodes it.
func editHeader(t *testing.T, cp *proof.Checkpoint, f func(sh *types.SignedHeader)) {
	t.Helper()
	var sh types.SignedHeader
	if err := cmtjson.Unmarshal(cp.Header, &sh); err != nil {
		t.Fatal(err)
	}
	f(&sh)
	cp.Header = encodeCmt(t, sh)
}

// editValidators changes a checkpoint's validator set and re-encodes it.
func editValidators(t *testing.T, cp *proof.Checkpoint, f func(vals *types.ValidatorSet)) {
	t.Helper()
	var vals types.ValidatorSet
	if err := cmtjson.Unmarshal(cp.Validators, &vals); err != nil {
		t.Fatal(err)
	}
	f(&vals)
	cp.Validators = encodeCmt(t, &vals)
}

// flip returns a copy of b with one bit of byte i changed.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// wantFailure checks that err is a verification failure (wrapping want) whose
// message names what failed.
func wantFailure(t *testing.T, err, want error, says string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verified; want a failure saying %q", says)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %q", err, want)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("error %q does not say %q", err, says)
	}
}
