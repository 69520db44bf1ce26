package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/tlog"
)

// proveEventually proves the entry once it is under a signed checkpoint,
// trying again after each commit.
func proveEventually(t *testing.T, n *Node, kind, key string) *proof.Bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		h, _ := n.App().Height()
		b, err := n.Prove(ctx, kind, key)
		if err == nil {
			return b
		}
		if !errors.Is(err, ErrNoCheckpoint) {
			t.Fatal(err)
		}
		if err := n.WaitHeight(ctx, h+1); err != nil {
			t.Fatalf("%s %s never under a signed checkpoint: %v", kind, key, err)
		}
	}
}

func TestProofRoundTripAndTamper(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Submit(ctx, registerTx(t, 1, "patient/proved", 10))
	if err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	b := proveEventually(t, n, tlog.KindIdentity, fmt.Sprintf("patient/proved@%d", out.Height))
	valsJSON, err := n.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := proof.ParseValidators(valsJSON)
	if err != nil {
		t.Fatal(err)
	}
	file, err := proof.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	verifyFile := func(data []byte) error {
		var got proof.Bundle
		if err := proof.Decode(data, &got); err != nil {
			return err
		}
		return proof.Verify(&got, trusted)
	}
	if err := verifyFile(file); err != nil {
		t.Fatalf("genuine bundle: %v", err)
	}
	// Changing any byte of the file makes verification fail.
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0x01
		if verifyFile(bad) == nil {
			t.Logf("around: %s", bad[max(0, i-400):min(len(bad), i+100)])
			t.Fatalf("flipping byte %d (%q) still verifies", i, file[max(0, i-20):min(len(file), i+20)])
		}
	}
	t.Logf("%d-byte bundle: every one-byte change detected", len(file))

	// Another validator set is not trusted.
	other := startSingle(t)
	ov, _ := other.Validators(ctx)
	otherSet, _ := proof.ParseValidators(ov)
	if err := proof.Verify(b, otherSet); err == nil {
		t.Fatal("bundle verified against another chain's validators")
	}
}

func TestConsistencyAndSplitView(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out1, err := n.Submit(ctx, registerTx(t, 1, "patient/c1", 10))
	if err != nil || !out1.Accepted() {
		t.Fatal(err)
	}
	proveEventually(t, n, tlog.KindIdentity, fmt.Sprintf("patient/c1@%d", out1.Height))
	out2, err := n.Submit(ctx, registerTx(t, 2, "patient/c2", 11))
	if err != nil || !out2.Accepted() {
		t.Fatal(err)
	}
	proveEventually(t, n, tlog.KindIdentity, fmt.Sprintf("patient/c2@%d", out2.Height))
	c, err := n.ProveConsistency(ctx, out1.Height, out2.Height)
	if err != nil {
		t.Fatal(err)
	}
	vj, _ := n.Validators(ctx)
	trusted, _ := proof.ParseValidators(vj)
	if err := proof.VerifyConsistency(c, trusted); err != nil {
		t.Fatalf("consistent checkpoints: %v", err)
	}
	if c.From.Info.LogSize >= c.To.Info.LogSize {
		t.Fatalf("log did not grow: %d -> %d", c.From.Info.LogSize, c.To.Info.LogSize)
	}
	// A forged checkpoint: same size as the first, another root.
	forged := c.From.Info
	forged.LogRoot = bytes.Repeat([]byte{0xab}, 32)
	if err := proof.CheckConsistency(c.From.Info, forged, nil); !errors.Is(err, proof.ErrSplitView) {
		t.Fatalf("split view not reported: %v", err)
	}
	// And a forged checkpoint does not pass as signed.
	bad := c.To
	bad.Info = forged
	if err := proof.VerifyCheckpoint(bad, trusted); err == nil {
		t.Fatal("forged checkpoint verified")
	}
}

func TestSignedCheckpointNote(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Submit(ctx, registerTx(t, 1, "patient/noted", 10))
	if err != nil || !out.Accepted() {
		t.Fatal(err)
	}
	proveEventually(t, n, tlog.KindIdentity, fmt.Sprintf("patient/noted@%d", out.Height))
	text, err := n.SignedCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := n.NoteVerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	got, err := proof.OpenNote(text, vkey)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	cp, err := n.Checkpoint(ctx, got.Height)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogSize != cp.Info.LogSize || !bytes.Equal(got.LogRoot, cp.Info.LogRoot) || got.Origin != "carechain/"+testChain {
		t.Fatalf("note %+v, checkpoint %+v", got, cp.Info)
	}
	// A changed root, or another node's key, fails.
	bad := bytes.Replace(text, []byte("height"), []byte("heighT"), 1)
	if _, err := proof.OpenNote(bad, vkey); err == nil {
		t.Fatal("altered note verified")
	}
	other := startSingle(t)
	okey, _ := other.NoteVerifierKey()
	if _, err := proof.OpenNote(text, okey); err == nil {
		t.Fatal("note verified under another validator's key")
	}
}
