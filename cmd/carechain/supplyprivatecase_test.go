package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/supply"
)

// TestPrivateCaseAcrossNodes: cases of a private product on real nodes
// made by init (foundSupplyChain), with the usual commands. Acme packs
// private units into a case (supply pack), a unit in it is not shipped
// alone, and Acme ships the case to Distri (supply ship --sscc); Distri's
// node finds the case's shipment sealed to it and receives it (supply
// receive --sscc), unpacks it and ships two of its units to the pharmacy,
// whose node verifies one as genuine from Distri. Rival's node answers
// nothing of it, and no node's data directory or log holds a serial or
// the SSCC.
func TestPrivateCaseAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	skipUnderRace(t)
	acme, dist, pharm, rival, _ := foundSupplyChain(t)
	started := time.Now()
	do := func(m *member, args ...string) string {
		t.Helper()
		return mustRun(t, m.env, supplyArgs(m, args...)...)
	}
	refused := func(m *member, want string, args ...string) {
		t.Helper()
		out, err := run(t, m.env, supplyArgs(m, args...)...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(supplyArgs(m, args...), " "), err, want, out)
		}
	}
	sn := func(n string) string { return "PC9Q" + n } // distinctive, to scan for
	const sscc = "106141412345678908"
	list := filepath.Join(t.TempDir(), "serials.txt")
	writeFile(t, list, sn("0001")+"\n"+sn("0002")+"\n"+sn("0003")+"\n")

	do(acme, "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug") // private by default
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31", "--serials", list)
	if out := do(acme, "pack", "--gtin", supplyGTIN, "--sscc", sscc, "--serials", list); !strings.Contains(out, "packed: 3 units") {
		t.Fatalf("pack: %s", out)
	}
	refused(acme, "the unit is packed in a case; unpack it first", "ship", "--gtin", supplyGTIN, "--to", "dist", "--serial", sn("0001"))
	do(acme, "ship", "--gtin", supplyGTIN, "--to", "dist", "--sscc", sscc)

	caughtUp(t, dist, acme)
	do(dist, "receive", "--gtin", supplyGTIN, "--sscc", sscc)
	do(dist, "unpack", "--gtin", supplyGTIN, "--sscc", sscc)
	do(dist, "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", sn("0001"), "--serial", sn("0002"))

	caughtUp(t, pharm, dist)
	out := do(pharm, "verify", "--gtin", supplyGTIN, "--serial", sn("0001"), "--seller", "dist")
	for _, want := range []string{"GENUINE", "status:    in-transit", "custodian: dist"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the pharmacy's verify of a unit of the case lacks %q:\n%s", want, out)
		}
	}
	refused(pharm, "not shipped to you by dist", "verify", "--gtin", supplyGTIN, "--serial", sn("0003"), "--seller", "dist")
	doc := filepath.Join(t.TempDir(), "events.json")
	do(dist, "export", "--out", doc)
	if evs, err := supply.ParseEPCIS(mustReadFile(t, doc)); err != nil || actions(evs) != "receive unpack ship" {
		t.Fatalf("dist's export: %v %+v", err, evs)
	}
	t.Logf("the private case across the nodes took %v", time.Since(started).Round(time.Millisecond))

	caughtUp(t, rival, pharm)
	seen := rivalNodeAnswers(t, rival)
	secrets := []string{sn("0001"), sn("0002"), sn("0003"), sscc}
	for _, s := range secrets {
		if strings.Contains(seen, s) {
			t.Errorf("%s is in an answer of rival's node to rival", s)
		}
	}
	for _, m := range []*member{rival, acme, dist, pharm} {
		m.proc.interrupt(t)
		noPlaintext(t, m.home, m.proc.output(), inPlainOrBase64(secrets)...)
	}
	// One pending shipment: dist's to the pharmacy.
	rivalSupplyState(t, rival.home, append([]string{"dist", "pharm"}, secrets...))
}
