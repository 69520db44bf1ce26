package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// TestPrivateBundleChecksOffline drives the bundle of a private unit
// through the documented CLI on init-made nodes (foundSupplyChain): acme
// ships private units to dist, its staff member signing the shipment's
// statement; dist's node verifies a unit as genuine from acme and writes a
// bundle of version 2 with the statement ("supply verify --bundle"), and
// refuses it from rival. With every node stopped, "supply check-bundle"
// finds the unit genuine from acme for dist, refuses it sold by rival or
// checked for the pharmacy, and fails after any byte of the file changes.
func TestPrivateBundleChecksOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	skipUnderRace(t)
	acme, dist, pharm, rival, vals := foundSupplyChain(t)
	do := func(m *member, args ...string) string {
		t.Helper()
		return mustRun(t, m.env, supplyArgs(m, args...)...)
	}
	verify := func(serial, seller string) []string {
		return []string{"verify", "--gtin", supplyGTIN, "--serial", serial, "--seller", seller}
	}
	do(acme, "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug") // private by default
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31", "--serial", "PB0001", "--serial", "PB0002")
	do(acme, "ship", "--gtin", supplyGTIN, "--to", "dist", "--serial", "PB0001", "--serial", "PB0002")
	caughtUp(t, dist, acme)

	file := filepath.Join(t.TempDir(), "pb1.json")
	out := do(dist, append(verify("PB0001", "acme"), "--bundle", file)...)
	for _, want := range []string{"GENUINE", "custodian: acme", "wrote the proof of this answer"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dist's verify --bundle lacks %q:\n%s", want, out)
		}
	}
	if out, err := run(t, dist.env, supplyArgs(dist, verify("PB0001", "rival")...)...); err == nil || !strings.Contains(out, "not shipped to you by rival") {
		t.Fatalf("dist's verify of the unit sold by rival: err=%v\n%s", err, out)
	}
	b := decodeSupplyBundle(t, file)
	if st := b.Shipment; b.Version != 2 || st == nil || st.From != "acme" || st.To != "dist" || st.Signer != "acme/admin" || len(st.Units) != 2 {
		t.Fatalf("the private unit's bundle: version %d, shipment %+v", b.Version, b.Shipment)
	}

	for _, m := range []*member{acme, dist, pharm, rival} { // offline: no node to ask
		m.proc.interrupt(t)
	}
	check := func(seller, verifier string) (string, error) {
		args := []string{"supply", "check-bundle", file, "--validators", vals, "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "301231", "--seller", seller}
		if verifier != "" {
			args = append(args, "--for", verifier)
		}
		return run(t, nil, args...)
	}
	out, err := check("acme", "dist")
	for _, want := range []string{"GENUINE", "custodian: acme", "status:    in-transit", "checked offline", "shipped by acme to dist", "as acme/admin signed"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("check-bundle for dist lacks %q: err=%v\n%s", want, err, out)
		}
	}
	for _, tc := range []struct{ seller, verifier, want string }{
		{"rival", "dist", "not shipped to you by rival"},
		{"acme", "pharm", "shipped to dist, not to pharm"},
	} {
		if out, err := check(tc.seller, tc.verifier); err == nil || !strings.Contains(out, "DO NOT ACCEPT") || !strings.Contains(out, tc.want) {
			t.Fatalf("check-bundle sold by %s for %s: err=%v\n%s", tc.seller, tc.verifier, err, out)
		}
	}

	// A changed byte fails through the CLI, and every changed byte fails the check.
	data := mustReadFile(t, file)
	i := bytes.Index(data, []byte(`"from": "acme"`))
	if i < 0 {
		t.Fatalf("no sender in the bundle:\n%s", data)
	}
	changed := bytes.Clone(data)
	changed[i+len(`"from": "a`)] ^= 1
	if err := os.WriteFile(file, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := check("acme", "dist"); err == nil || !strings.Contains(out, "does not verify") {
		t.Fatalf("a bundle with a changed sender: err=%v\n%s", err, out)
	}
	trusted, err := proof.ParseValidators(mustReadFile(t, vals))
	if err != nil {
		t.Fatal(err)
	}
	tamperPrivate(t, data, trusted)
}

// tamperPrivate changes each byte of a private unit's bundle in turn and
// requires the offline check of the unit, sold by acme to dist, to fail.
func tamperPrivate(t *testing.T, data []byte, vals *types.ValidatorSet) {
	t.Helper()
	started := time.Now()
	scan := supply.Scan{GTIN: supplyGTIN, Seller: "acme"}
	checked := 0
	for i := range data {
		changed := bytes.Clone(data)
		changed[i] ^= 1
		var tb proof.SupplyBundle
		if err := proof.Decode(changed, &tb); err != nil {
			continue
		}
		if _, err := proof.CheckSupply(&tb, scan, "dist", vals, time.Now()); err == nil {
			t.Fatalf("changing byte %d (in %q) still checks", i, changed[max(0, i-30):min(len(changed), i+30)])
		}
		checked++
	}
	t.Logf("%d bytes, each change fails (%d decoded and failed the check) in %v", len(data), checked, time.Since(started).Round(time.Millisecond))
}
