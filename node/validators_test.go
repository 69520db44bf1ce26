package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// joinValidatorTx is hosp-a's admin proposing that org join with a node
// that validates with the given power; its keys are seedKey(seed) (admin),
// seed+1 (node) and seed+2 (validator). With one member organization, the
// proposer's own approval carries it at once.
func joinValidatorTx(t *testing.T, nonce uint64, org string, seed byte, power int64) []byte {
	t.Helper()
	enc, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	app := &tx.OrgApplication{
		Org:   carechain.Organization{ID: org, Name: "Pharmacy " + org, Type: carechain.OrgPharmacy, EncryptionKey: enc.Public().Bytes()},
		Admin: tx.JoinPrincipal{ID: org + "/admin", PublicKey: seedKey(seed).Public().(ed25519.PublicKey)},
		Node: &tx.JoinNode{
			JoinPrincipal: tx.JoinPrincipal{ID: org + "/node", PublicKey: seedKey(seed + 1).Public().(ed25519.PublicKey)},
			NodeID:        fmt.Sprintf("%040x", seed),
			Validator:     &tx.JoinValidator{PublicKey: seedKey(seed + 2).Public().(ed25519.PublicKey), Power: power},
		},
	}
	if err := tx.SignApplication(testChain, app, seedKey(seed), seedKey(seed+2)); err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Sign(seedKey(1), testChain, "hosp-a/admin", nonce, tx.TypeGovPropose,
		&tx.GovPropose{Join: app, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// admitValidator saves n's validator set, has governance admit pharm-b with
// a validator of power 1 (beside the founder's 10, so the chain commits
// without it online), registers patient/after in the next block, and waits
// until the new set is in force: the blocks that carry the register and its
// app hash get there without waiting for an empty block. It returns the set
// saved before, the height from which the new set is in force and the log
// key of the registration.
func admitValidator(ctx context.Context, t *testing.T, n *Node) (before []byte, changed int64, key string) {
	t.Helper()
	before, err := n.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	join, err := n.Submit(ctx, joinValidatorTx(t, 1, "pharm-b", 40, 1))
	if err != nil || !join.Accepted() {
		t.Fatalf("join: %+v %v", join, err)
	}
	changed = join.Height + 2 // updates from FinalizeBlock of H are in force from H+2
	out, err := n.Submit(ctx, registerTx(t, 2, "patient/after", 10))
	if err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	if err := n.WaitHeight(ctx, changed); err != nil {
		t.Fatal(err)
	}
	return before, changed, fmt.Sprintf("patient/after@%d", out.Height)
}

// TestProofAcrossValidatorChange: a proof made after governance admits a
// validator verifies against the set saved before, through the transition
// the checkpoint carries, and not without it.
func TestProofAcrossValidatorChange(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	beforeJSON, changed, key := admitValidator(ctx, t, n)
	before, err := proof.ParseValidators(beforeJSON)
	if err != nil {
		t.Fatal(err)
	}
	b := proveEventually(t, n, tlog.KindIdentity, key)
	if b.At.Height+1 < changed {
		t.Fatalf("checkpoint header %d is before the change at %d", b.At.Height+1, changed)
	}
	if len(b.At.Transitions) != 1 {
		t.Fatalf("%d transitions, want 1", len(b.At.Transitions))
	}
	if err := proof.Verify(b, before); err != nil {
		t.Fatalf("against the set before the change: %v", err)
	}
	everyByteMatters(t, b, before)
	without := *b
	without.At.Transitions = nil
	if err := proof.Verify(&without, before); err == nil || !strings.Contains(err.Error(), "not the trusted set") {
		t.Fatalf("without transitions against the set before: %v", err)
	}

	// A verifier who trusts the new set asks for the transitions since it.
	after, err := n.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current, err := proof.ParseValidators(after)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := n.ProveTrusting(ctx, changed, tlog.KindIdentity, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh.At.Transitions) != 0 {
		t.Errorf("%d transitions since the change, want none", len(fresh.At.Transitions))
	}
	if err := proof.Verify(fresh, current); err != nil {
		t.Errorf("against the new set: %v", err)
	}
	if err := proof.Verify(fresh, before); err == nil {
		t.Error("a proof without transitions verified against the set before the change")
	}
	checkHistory(t, n, changed)
}

// checkHistory checks the validator history names the founder's set from
// height 1 and the newcomer joining at changed.
func checkHistory(t *testing.T, n *Node, changed int64) {
	t.Helper()
	raw, err := n.ValidatorHistory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var epochs []ValidatorEpoch
	if err := json.Unmarshal(raw, &epochs); err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 2 || epochs[0].Height != 1 || epochs[1].Height != changed || epochs[1].AnnouncedAt != changed-1 {
		t.Fatalf("history %s", raw)
	}
	newcomer := seedKey(42).Public().(ed25519.PublicKey)
	ch := epochs[1].Changes
	if len(ch) != 1 || ch[0].Before != 0 || ch[0].Power != 1 || string(ch[0].PubKey) != string(newcomer) || len(epochs[1].Validators) != 2 {
		t.Fatalf("changes at %d: %s", changed, raw)
	}
}

// everyByteMatters checks that changing any one byte of b's file, its
// validator transitions included, makes it fail against trusted.
func everyByteMatters(t *testing.T, b *proof.Bundle, trusted *types.ValidatorSet) {
	t.Helper()
	file, err := proof.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0x01
		var got proof.Bundle
		if proof.Decode(bad, &got) == nil && proof.Verify(&got, trusted) == nil {
			t.Fatalf("flipping byte %d (%q) still verifies", i, file[max(0, i-20):min(len(file), i+20)])
		}
	}
	t.Logf("%d-byte bundle with %d transitions: every one-byte change detected", len(file), len(b.At.Transitions))
}
