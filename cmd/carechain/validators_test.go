package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// TestProofsAcrossValidatorChangeThroughCLI: governance admits a validator;
// "validators --history" shows the change; a proof made after it verifies
// against the set saved before (through the transition it carries), and one
// fetched with --trusted-height after the change verifies only against the
// new set.
func TestProofsAcrossValidatorChangeThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	const chainID = "vals-test"
	dir := t.TempDir()
	home := filepath.Join(dir, "node")
	addr := freeAddr(t)
	mustRun(t, passEnv(testPassphrase), "init", "--home", home, "--chain-id", chainID, "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ks.Unlock("hosp.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, passEnv(testPassphrase), "start", "--home", home) // the records API decides who sees proofs
	waitHealthy(t, p, addr, time.Minute)
	before := filepath.Join(dir, "before.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", before)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := nodeapi.NewClient(addr)
	submit := func(nonce uint64, typ tx.Type, body tx.Body) int64 {
		raw, err := tx.Sign(admin, chainID, "hosp/admin", nonce, typ, body)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.Submit(ctx, raw)
		if err != nil || !res.Accepted() {
			t.Fatalf("%s: %+v %v", typ, res, err)
		}
		return res.Height
	}
	// Power 1 beside the founder's 10: the chain commits without it online.
	changed := submit(1, tx.TypeGovPropose, &tx.GovPropose{Join: pharmacyApplication(t, chainID, 1), Expires: time.Now().Add(time.Hour).Unix()}) + 2
	_, drKey, _ := ed25519.GenerateKey(nil)
	registered := submit(2, tx.TypeRegister, &tx.Register{ID: "hosp/dr-x", Kind: carechain.KindPractitioner,
		Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: drKey.Public().(ed25519.PublicKey)})

	var history string
	p.waitFor(t, time.Minute, "the new set in force", func() error {
		history = mustRun(t, nil, "validators", "--history", "--node", addr)
		if !strings.Contains(history, fmt.Sprintf("height %d: 2 validators, total power 11", changed)) {
			return fmt.Errorf("history:\n%s", history)
		}
		return nil
	})
	if !strings.Contains(history, "height 1: 1 validator, total power 10") || !strings.Contains(history, "joined") ||
		!strings.Contains(history, fmt.Sprintf("announced in header %d", changed-1)) {
		t.Fatalf("validators --history:\n%s", history)
	}
	t.Logf("validators --history:\n%s", history)

	key := fmt.Sprintf("hosp/dr-x@%d", registered)
	file := filepath.Join(dir, "dr-x.proof.json")
	p.waitFor(t, time.Minute, "a checkpoint signed by the new set", func() error {
		out, err := run(t, nil, "proof", "identity", key, "--node", addr, "-o", file)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		out, err = run(t, nil, "verify-proof", file, "--validators", before)
		if err != nil || !strings.Contains(out, "through 1 validator-set changes") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// A consistency proof from before the change to after it carries the
	// transition in its second checkpoint (header changed, the newest, is
	// signed by the new set).
	cfile := filepath.Join(dir, "c.json")
	mustRun(t, nil, "proof", "consistency", "--from", "1", "--to", fmt.Sprint(changed-1), "--node", addr, "-o", cfile)
	if out := mustRun(t, nil, "verify-proof", cfile, "--validators", before); !strings.Contains(out, "through 1 validator-set changes") {
		t.Fatalf("consistency across the change: %s", out)
	}

	// Fetched for a verifier who trusts the set in force from the change.
	after := filepath.Join(dir, "after.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", after)
	mustRun(t, nil, "proof", "identity", key, "--node", addr, "--trusted-height", fmt.Sprint(changed), "-o", file)
	if out := mustRun(t, nil, "verify-proof", file, "--validators", after); strings.Contains(out, "through") {
		t.Fatalf("proof since the change carries transitions: %s", out)
	}
	if out, err := run(t, nil, "verify-proof", file, "--validators", before); err == nil || !strings.Contains(out, "not the trusted set") ||
		!strings.Contains(out, "--trusted-height H") {
		t.Fatalf("proof since the change against the set before it: err=%v %s", err, out)
	}
	p.interrupt(t)
}

// pharmacyApplication is the signed application of "pharm" to join chainID
// with a node that validates with power.
func pharmacyApplication(t *testing.T, chainID string, power int64) *tx.OrgApplication {
	t.Helper()
	enc, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var keys [3]ed25519.PrivateKey // admin, node, validator
	for i := range keys {
		_, keys[i], _ = ed25519.GenerateKey(nil)
	}
	app := &tx.OrgApplication{
		Org:   carechain.Organization{ID: "pharm", Name: "Pharmacy", Type: carechain.OrgPharmacy, EncryptionKey: enc.Public().Bytes()},
		Admin: tx.JoinPrincipal{ID: "pharm/admin", PublicKey: keys[0].Public().(ed25519.PublicKey)},
		Node: &tx.JoinNode{
			JoinPrincipal: tx.JoinPrincipal{ID: "pharm/node", PublicKey: keys[1].Public().(ed25519.PublicKey)},
			NodeID:        strings.Repeat("ab", 20),
			Validator:     &tx.JoinValidator{PublicKey: keys[2].Public().(ed25519.PublicKey), Power: power},
		},
	}
	if err := tx.SignApplication(chainID, app, keys[0], keys[2]); err != nil {
		t.Fatal(err)
	}
	return app
}
