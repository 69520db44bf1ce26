package node

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/tlog"
)

var updateVectors = flag.Bool("update", false, "rewrite the proof package's test vectors in "+vectorDir)

// vectorDir holds the proof package's test vectors; proof's tests verify
// them offline, with no node.
const vectorDir = "../proof/testdata"

// The vector files. The proof package's tests name the same files.
const (
	vectorValidators  = "validators.json"        // the trusted set, as `carechain validators` writes it
	vectorRecord      = "record.proof.json"      // inclusion bundle for record rec-0, version 1
	vectorConsistency = "consistency.proof.json" // the log before rec-0 is a prefix of the bundle's
	vectorNote        = "checkpoint.note"        // the bundle's checkpoint as a signed note
	vectorNoteKey     = "checkpoint.vkey"        // the note verifier key of the node that signed it

	// From another chain, on which governance admitted a second validator:
	vectorTransitionValidators = "transition.validators.json" // the set saved before the change
	vectorTransition           = "transition.proof.json"      // an identity proof made after it, with the transition
)

// TestWriteProofVectors makes the proof vectors from a fresh single-node
// chain holding two records in two blocks (recordHome writes rec-0, then
// rec-1 in a later block). It only runs with -update:
//
//	go test ./node -run TestWriteProofVectors -update
//
// The vectors are checked with the proof package before they are written.
func TestWriteProofVectors(t *testing.T) {
	if !*updateVectors {
		t.Skip("rewrites " + vectorDir + "; run with -update")
	}
	h, _, _ := recordHome(t, 2)
	n := startHome(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Once rec-1 is under a checkpoint, prove rec-0 against it: inside a
	// larger log its inclusion path is longer. The consistency proof starts
	// just before rec-0's block, so neither log is a power of two in size
	// and the proof has several hashes.
	proveEventually(t, n, tlog.KindRecord, "rec-1/1")
	b := proveEventually(t, n, tlog.KindRecord, "rec-0/1")
	c, err := n.ProveConsistency(ctx, b.Leaf.Height-1, b.At.Height)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := n.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := n.noteSigner()
	if err != nil {
		t.Fatal(err)
	}
	noteText, err := note.Sign(&note.Note{Text: proof.NoteBody(b.At.ChainID, b.At.Height, b.At.Info)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := n.NoteVerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, vals, b, c, noteText, vkey)

	files := map[string][]byte{
		vectorValidators:  append(vals, '\n'),
		vectorRecord:      encodeProof(t, b),
		vectorConsistency: encodeProof(t, c),
		vectorNote:        noteText,
		vectorNoteKey:     []byte(vkey + "\n"),
	}
	if err := os.MkdirAll(vectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(vectorDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d vectors to %s (record at height %d, consistency %d -> %d)",
		len(files), vectorDir, b.Leaf.Height, c.From.Height, c.To.Height)
}

// TestWriteTransitionVectors makes the validator-transition vectors from a
// fresh single-node chain that admits a second validator by governance
// (admitValidator) and then registers a patient. It only runs with -update:
//
//	go test ./node -run TestWriteTransitionVectors -update
func TestWriteTransitionVectors(t *testing.T) {
	if !*updateVectors {
		t.Skip("rewrites " + vectorDir + "; run with -update")
	}
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vals, _, key := admitValidator(ctx, t, n)
	b := proveEventually(t, n, tlog.KindIdentity, key)
	trusted, err := proof.ParseValidators(vals)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(b, trusted); err != nil || len(b.At.Transitions) != 1 {
		t.Fatalf("bundle with %d transitions: %v", len(b.At.Transitions), err)
	}
	for name, data := range map[string][]byte{vectorTransitionValidators: append(vals, '\n'), vectorTransition: encodeProof(t, b)} {
		if err := os.WriteFile(filepath.Join(vectorDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkVectors refuses to write vectors that do not verify.
func checkVectors(t *testing.T, vals []byte, b *proof.Bundle, c *proof.Consistency, noteText []byte, vkey string) {
	t.Helper()
	trusted, err := proof.ParseValidators(vals)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(b, trusted); err != nil {
		t.Fatalf("record bundle: %v", err)
	}
	if err := proof.VerifyConsistency(c, trusted); err != nil {
		t.Fatalf("consistency: %v", err)
	}
	if c.From.Info.LogSize >= c.To.Info.LogSize {
		t.Fatalf("consistency proof does not grow the log: %d -> %d", c.From.Info.LogSize, c.To.Info.LogSize)
	}
	if _, err := proof.OpenNote(noteText, vkey); err != nil {
		t.Fatalf("checkpoint note: %v", err)
	}
}

func encodeProof(t *testing.T, v any) []byte {
	t.Helper()
	b, err := proof.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
