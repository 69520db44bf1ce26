package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/supply"
)

// Two SSCCs with valid GS1 check digits.
const (
	caseSSCC  = "106141412345678908"
	case2SSCC = "003123450000000011"
)

// TestSupplyCasesThroughCLI packs units into a case and moves the case on
// an init-made consortium through the documented CLI: acme packs three
// units (a unit packed twice, a unit acme does not hold and a bad SSCC
// are refused), ships the case to dist, which receives it; a packed unit
// is neither shipped nor dispensed on its own ("unpack it first"), and a
// receive by another organization than the case's receiver is refused.
// dist's verify of a unit shows its new custodian and its case's SSCC, and
// its verification bundle checks offline with that custodian. dist ships
// the case on to pharm, which unpacks one unit and dispenses it, then
// unpacks the rest. Each organization's EPCIS export holds its
// AggregationEvents and case ObjectEvents and is valid for epcis2.js; an
// import (an SSCC URN as parentID) and an HTTP capture of such events pack
// and ship cases as the CLI does. No serial and no SSCC is in the node's
// log or, in plain or base64, in a file of its home.
func TestSupplyCasesThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "case-test")
	started := time.Now()
	dir := t.TempDir()
	sn := func(n string) string { return "CSQ9Z7W0" + n }
	refused := func(want string, args []string) {
		t.Helper()
		out, err := run(t, env, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug", "--private=false")...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31",
		"--serial", sn("1"), "--serial", sn("2"), "--serial", sn("3"), "--serial", sn("4"))...)
	list := filepath.Join(dir, "case.txt")
	os.WriteFile(list, []byte(sn("1")+"\n"+sn("2")+"\n"+sn("3")+"\n"), 0o600)
	if out := mustRun(t, env, sup("acme/admin", "pack", "--gtin", supplyGTIN, "--sscc", caseSSCC, "--serials", list)...); !strings.Contains(out, "packed: 3 units of "+supplyGTIN+", case SSCC "+caseSSCC) {
		t.Fatalf("pack: %s", out)
	}
	refused("already packed in a case", sup("acme/admin", "pack", "--gtin", supplyGTIN, "--sscc", case2SSCC, "--serial", sn("1")))
	refused("GS1 check digit", sup("acme/admin", "pack", "--gtin", supplyGTIN, "--sscc", "106141412345678907", "--serial", sn("4")))
	refused("unit is packed in a case; unpack it first", sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "dist", "--serial", sn("2")))

	out := mustRun(t, env, sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "dist", "--sscc", caseSSCC)...)
	if !strings.Contains(out, "shipped: 1 cases (SSCC "+caseSSCC+") with the units of "+supplyGTIN+" to dist") {
		t.Fatalf("ship of the case: %s", out)
	}
	mustRun(t, env, sup("dist/admin", "receive", "--gtin", supplyGTIN, "--sscc", caseSSCC)...)
	refused("held by acme", sup("dist/admin", "pack", "--gtin", supplyGTIN, "--sscc", case2SSCC, "--serial", sn("4")))
	out = mustRun(t, env, sup("dist/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("2"), "--seller", "dist")...)
	for _, want := range []string{"GENUINE", "custodian: dist", "packed in: case SSCC " + caseSSCC} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify of a packed unit lacks %q:\n%s", want, out)
		}
	}
	vals, bundle := filepath.Join(dir, "validators.json"), filepath.Join(dir, "sn2.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", vals)
	mustRun(t, env, sup("dist/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("2"), "--seller", "dist", "--bundle", bundle)...)
	out = mustRun(t, nil, "supply", "check-bundle", bundle, "--validators", vals, "--gtin", supplyGTIN, "--seller", "dist")
	if !strings.Contains(out, "GENUINE") || !strings.Contains(out, "custodian: dist") || !strings.Contains(out, "packed in:") {
		t.Fatalf("check-bundle of a packed unit: %s", out)
	}

	mustRun(t, env, sup("dist/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--sscc", caseSSCC)...)
	refused("shipped to pharm", sup("acme/admin", "receive", "--gtin", supplyGTIN, "--sscc", caseSSCC))
	mustRun(t, env, sup("pharm/admin", "receive", "--gtin", supplyGTIN, "--sscc", caseSSCC)...)
	refused("unit is packed in a case; unpack it first", sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", sn("1")))
	mustRun(t, env, sup("pharm/admin", "unpack", "--gtin", supplyGTIN, "--sscc", caseSSCC, "--serial", sn("1"))...)
	mustRun(t, env, sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", sn("1"))...)
	if out := mustRun(t, env, sup("pharm/admin", "unpack", "--gtin", supplyGTIN, "--sscc", caseSSCC)...); !strings.Contains(out, "unpacked: every unit") {
		t.Fatalf("unpack of the rest: %s", out)
	}
	if out := mustRun(t, env, sup("pharm/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("3"), "--seller", "pharm")...); strings.Contains(out, "packed in") || !strings.Contains(out, "custodian: pharm") {
		t.Fatalf("verify of an unpacked unit: %s", out)
	}
	t.Logf("packing, case moves and unpacking through the CLI took %v", time.Since(started).Round(time.Millisecond))

	casesInEPCIS(t, env, dir, sup, sn)
	casesCapturedOverHTTP(t, home, addr, sn)
	p.interrupt(t)
	secrets := []string{sn("1"), sn("2"), sn("3"), sn("4"), caseSSCC, case2SSCC}
	for _, s := range secrets {
		if strings.Contains(p.output(), s) {
			t.Errorf("%s is in the node's log", s)
		}
	}
	noPlaintext(t, home, "", inPlainOrBase64(secrets)...)
}

// casesInEPCIS exports acme's, dist's and pharm's events, checks their
// aggregation events, validates them with epcis2.js, and imports a pack
// and a ship of a second case.
func casesInEPCIS(t *testing.T, env []string, dir string, sup func(string, ...string) []string, sn func(string) string) {
	t.Helper()
	export := func(as string) (string, []supply.Event) {
		t.Helper()
		return exportEPCIS(t, env, sup, filepath.Join(dir, strings.ReplaceAll(as, "/", "-")+".json"), as)
	}
	acmeDoc, acme := export("acme/admin")
	if got := actions(acme); got != "commission pack ship" || acme[1].SSCCs[0] != caseSSCC || len(acme[1].Serials) != 3 ||
		acme[2].SSCCs[0] != caseSSCC || acme[2].To != "dist" || len(acme[2].Serials) != 0 {
		t.Fatalf("acme's export: %s %+v", got, acme)
	}
	b, _ := os.ReadFile(acmeDoc)
	for _, want := range []string{`"type": "AggregationEvent"`, `"parentID": "https://id.gs1.org/00/` + caseSSCC + `"`, `"bizStep": "packing"`, `"childEPCs"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("acme's export lacks %s:\n%s", want, b)
		}
	}
	validateEPCIS(t, acmeDoc, true, `"events":3`)
	broken := filepath.Join(dir, "broken.json")
	agg := strings.Index(string(b), `"type": "AggregationEvent"`)
	os.WriteFile(broken, []byte(string(b[:agg])+strings.Replace(string(b[agg:]), `"action": "ADD"`, `"action": "PACK"`, 1)), 0o600)
	validateEPCIS(t, broken, false, "eventList/1/action")
	pharmDoc, pharm := export("pharm/admin")
	if got := actions(pharm); got != "receive unpack dispense unpack" || pharm[3].SSCCs[0] != caseSSCC || len(pharm[3].Serials) != 0 {
		t.Fatalf("pharm's export: %s %+v", got, pharm)
	}
	validateEPCIS(t, pharmDoc, true, `"events":4`)

	// An import packs a second case (its parentID an SSCC URN) and ships it.
	in := supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActPack, Time: time.Now(), GTIN: supplyGTIN, SSCCs: []string{case2SSCC}, Serials: []string{sn("4")}},
		{Action: supply.ActShip, Time: time.Now(), Org: "acme", GTIN: supplyGTIN, SSCCs: []string{case2SSCC}, To: "pharm"},
	}, time.Now())
	in.EPCISBody.EventList[0].ParentID = "urn:epc:id:sscc:0312345.0000000001"
	importFile := filepath.Join(dir, "import.json")
	writeJSONFile(t, importFile, in)
	if out := mustRun(t, env, sup("acme/admin", "import", importFile)...); !strings.Contains(out, "imported 2 EPCIS events") || strings.Contains(out, "warning") {
		t.Fatalf("import: %s", out)
	}
	out, _ := run(t, env, sup("acme/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("4"))...) // in transit: not for sale
	if !strings.Contains(out, "status:    in-transit") || !strings.Contains(out, "packed in: case SSCC "+case2SSCC) {
		t.Fatalf("verify of a unit packed and shipped by import: %s", out)
	}
}

// casesCapturedOverHTTP receives and unpacks the imported case by an
// EPCIS capture, as pharm; the journal refuses a case never packed, and
// rival computes no case's commitment.
func casesCapturedOverHTTP(t *testing.T, home, addr string, sn func(string) string) {
	t.Helper()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Unlock("pharm.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	pharm := nodeapi.NewClient(addr).As("pharm/admin", k)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The journal takes no case the ledger does not hold; the competitor
	// computes no case's commitment.
	if err := pharm.SupplyJournal(ctx, supply.Event{Action: supply.ActReceive, GTIN: supplyGTIN, SSCCs: []string{"000000000000000000"}}); err == nil ||
		!strings.Contains(err.Error(), "no case of "+supplyGTIN+" with this SSCC is packed") {
		t.Fatalf("journal of a case never packed: %v", err)
	}
	rival := rivalClient(t, home, addr, testPassphrase)
	if _, err := rival.SupplyCommitments(ctx, nodeapi.CommitmentsRequest{GTIN: supplyGTIN, SSCCs: []string{caseSSCC}}); err == nil || !strings.Contains(err.Error(), "holds no key") {
		t.Fatalf("rival computed a case's commitment: %v", err)
	}
	doc := supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActReceive, Time: time.Now(), GTIN: supplyGTIN, SSCCs: []string{case2SSCC}},
		{Action: supply.ActUnpack, Time: time.Now(), GTIN: supplyGTIN, SSCCs: []string{case2SSCC}},
	}, time.Now())
	if res, err := pharm.SupplyCapture(ctx, []byte(mustJSON(t, doc))); err != nil || res.EventCount != 2 {
		t.Fatalf("capture of a case's receive and unpack: %+v %v", res, err)
	}
	v, err := pharm.SupplyVerify(ctx, supply.Scan{GTIN: supplyGTIN, Serial: sn("4"), Seller: "pharm"})
	if err != nil || !v.Genuine || v.Custodian != "pharm" || v.Packed {
		t.Fatalf("the unit of the captured case: %+v %v", v, err)
	}
}
