package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// TestSupplyBundleChecksOffline drives the verification bundle through the
// documented CLI on an init-made consortium: the pharmacy's node writes a
// bundle with each answer ("supply verify --bundle"), and "supply
// check-bundle" checks it with no node against the validator set: a
// genuine unit checks GENUINE; an unknown serial's bundle proves the unit
// absent from the ledger's map; a recalled lot's bundle shows the recall.
// Changing any byte of the genuine and the recalled bundles (and any byte
// but the commitment of the unknown serial's) makes the check fail. The
// stopped node's home then verifies (carechain verify), supply map roots
// included.
func TestSupplyBundleChecksOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "bundle-test")
	dir := t.TempDir()
	vals := filepath.Join(dir, "validators.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", vals)
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug", "--private=false")...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "301231", "--serial", "BX1", "--serial", "BX2")...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L2", "--expiry", "301231", "--serial", "BX3")...)
	mustRun(t, env, sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", "BX1", "--serial", "BX3")...)
	mustRun(t, env, sup("pharm/admin", "receive", "--gtin", supplyGTIN, "--serial", "BX1", "--serial", "BX3")...)

	bundle := func(name, serial string, genuine bool) string {
		t.Helper()
		file := filepath.Join(dir, name+".json")
		out, err := run(t, env, sup("pharm/admin", "verify", "--gtin", supplyGTIN, "--serial", serial, "--seller", "pharm", "--bundle", file)...)
		if (err == nil) != genuine || !strings.Contains(out, "wrote the proof of this answer") {
			t.Fatalf("verify %s --bundle: err=%v\n%s", serial, err, out)
		}
		return file
	}
	check := func(file string, want ...string) {
		t.Helper()
		args := []string{"supply", "check-bundle", file, "--validators", vals, "--gtin", supplyGTIN, "--seller", "pharm"}
		out, err := run(t, nil, args...)
		genuine := want[0] == "GENUINE"
		if (err == nil) != genuine {
			t.Fatalf("check-bundle %s: err=%v\n%s", file, err, out)
		}
		for _, w := range append(want, "checked offline: the checkpoint at height") {
			if !strings.Contains(out, w) {
				t.Fatalf("check-bundle %s lacks %q:\n%s", file, w, out)
			}
		}
	}
	good := bundle("genuine", "BX1", true)
	check(good, "GENUINE", "status:    active", "custodian: pharm")
	unknown := bundle("unknown", "BX9", false)
	check(unknown, "DO NOT ACCEPT", "never commissioned by acme")
	if b := decodeSupplyBundle(t, unknown); b.Unit == nil || b.Unit.Value != nil || b.Lot != nil || len(b.Commitment) != supply.CommitmentSize {
		t.Fatalf("the unknown serial's bundle does not prove the unit absent: %+v", b)
	}
	mustRun(t, env, sup("acme/admin", "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility failure")...)
	recalled := bundle("recalled", "BX3", false)
	check(recalled, "DO NOT ACCEPT", "lot L2 is recalled (sterility failure)", "status:    recalled")

	// A changed file fails through the CLI, and every changed byte fails the check.
	data, _ := os.ReadFile(good)
	bad := filepath.Join(dir, "tampered.json")
	os.WriteFile(bad, bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o644)
	if out, err := run(t, nil, "supply", "check-bundle", bad, "--validators", vals, "--gtin", supplyGTIN); err == nil || !strings.Contains(out, "does not verify") {
		t.Fatalf("a tampered bundle: err=%v\n%s", err, out)
	}
	vb, _ := os.ReadFile(vals)
	trusted, err := proof.ParseValidators(vb)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{good, unknown, recalled} {
		tamperEveryByte(t, file, trusted)
	}
	// carechain verify recomputes every committed supply map root.
	p.interrupt(t)
	if out := mustRun(t, nil, "verify", "--home", home); !strings.Contains(out, "verified") {
		t.Fatalf("verify of the home: %s", out)
	}
}

func decodeSupplyBundle(t *testing.T, file string) *proof.SupplyBundle {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var b proof.SupplyBundle
	if err := proof.Decode(data, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

// tamperEveryByte changes each byte of a bundle file in turn and requires
// the offline check to fail. A non-membership proof also holds for other
// commitments on the same path of the map (they are absent too), so the
// commitment of a bundle without a unit is left out: that it is the serial's
// needs the product key.
func tamperEveryByte(t *testing.T, file string, vals *types.ValidatorSet) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b := decodeSupplyBundle(t, file)
	skipFrom, skipTo := -1, -1
	if b.Unit != nil && b.Unit.Value == nil {
		c, _ := json.Marshal(b.Commitment)
		skipFrom = bytes.Index(data, c)
		skipTo = skipFrom + len(c)
	}
	scan := supply.Scan{GTIN: supplyGTIN, Seller: "pharm"}
	checked := 0
	for i := range data {
		if i >= skipFrom && i < skipTo {
			continue
		}
		changed := bytes.Clone(data)
		changed[i] ^= 1
		var tb proof.SupplyBundle
		if err := proof.Decode(changed, &tb); err != nil {
			continue
		}
		if _, err := proof.CheckSupply(&tb, scan, "", vals, time.Now()); err == nil {
			t.Fatalf("%s: changing byte %d (in %q) still checks", filepath.Base(file), i, changed[max(0, i-30):min(len(changed), i+30)])
		}
		checked++
	}
	t.Logf("%s: %d bytes, each change fails (%d decoded and failed the check)", filepath.Base(file), len(data), checked)
}
