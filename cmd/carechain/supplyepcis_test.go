package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// TestSupplyEPCISThroughCLI exports, validates, imports, captures and
// queries GS1 EPCIS 2.0 documents on a real init-made consortium. acme
// commissions and ships through the CLI, dist receives and ships, pharm
// receives and dispenses; each organization's export holds its own events
// (with their serials) and is valid for epcis2.js, which refuses it once a
// required field is removed. An import submits a document's events as
// supply transactions; a capture over HTTP does too, and a malformed one
// is refused naming the event, nothing written. Queries filter by bizStep,
// EPC and time, and a competitor's query returns none of the partners'
// events.
func TestSupplyEPCISThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "epcis-test")
	started := time.Now()
	sn := func(n string) string { return "EPX7Q00" + n }
	dir := t.TempDir()
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug", "--private=false")...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31",
		"--serial", sn("1"), "--serial", sn("2"), "--serial", sn("3"))...)
	mustRun(t, env, sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "dist", "--serial", sn("1"), "--serial", sn("2"))...)
	mustRun(t, env, sup("dist/admin", "receive", "--gtin", supplyGTIN, "--serial", sn("1"), "--serial", sn("2"))...)
	mustRun(t, env, sup("dist/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", sn("1"))...)
	mustRun(t, env, sup("pharm/admin", "receive", "--gtin", supplyGTIN, "--serial", sn("1"))...)
	mustRun(t, env, sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", sn("1"))...)

	// Each organization exports its own events; epcis2.js validates them.
	export := func(as string, extra ...string) (string, []supply.Event) {
		t.Helper()
		return exportEPCIS(t, env, sup, filepath.Join(dir, strings.ReplaceAll(as, "/", "-")+fmt.Sprint(len(extra))+".json"), as, extra...)
	}
	acmeDoc, acme := export("acme/admin")
	if got := actions(acme); got != "commission ship" || strings.Join(acme[0].Serials, " ") != sn("1")+" "+sn("2")+" "+sn("3") ||
		acme[0].Lot != "L1" || acme[0].Expiry != "2030-12-31" || acme[1].To != "dist" || acme[1].Org != "acme" {
		t.Fatalf("acme's export: %s %+v", got, acme)
	}
	validateEPCIS(t, acmeDoc, true, `"events":2`)
	pharmDoc, pharm := export("pharm/admin")
	if got := actions(pharm); got != "receive dispense" || pharm[1].Serials[0] != sn("1") {
		t.Fatalf("pharm's export: %s %+v", got, pharm)
	}
	validateEPCIS(t, pharmDoc, true, `"events":2`)
	if _, dist := export("dist/admin", "--gtin", supplyGTIN, "--since", "2020-01-01"); actions(dist) != "receive ship" {
		t.Fatalf("dist's export: %+v", dist)
	}
	if _, none := export("dist/admin", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(none) != 0 {
		t.Fatalf("dist's export since an hour from now: %+v", none)
	}
	broken := filepath.Join(dir, "broken.json")
	b, _ := os.ReadFile(acmeDoc)
	os.WriteFile(broken, []byte(strings.Replace(string(b), `"eventTime"`, `"eventTimeX"`, 1)), 0o600)
	validateEPCIS(t, broken, false, "eventTime")

	// Import: acme commissions and ships by an EPCIS document.
	in := supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActCommission, Time: time.Now(), GTIN: supplyGTIN, Serials: []string{sn("10"), sn("11")}, Lot: "L2", Expiry: "2031-01-31"},
		{Action: supply.ActShip, Time: time.Now(), Org: "acme", GTIN: supplyGTIN, Serials: []string{sn("10")}, To: "pharm"},
	}, time.Now())
	importFile := filepath.Join(dir, "import.json")
	writeJSONFile(t, importFile, in)
	if out := mustRun(t, env, sup("acme/admin", "import", importFile)...); !strings.Contains(out, "imported 2 EPCIS events") || strings.Contains(out, "warning") {
		t.Fatalf("import: %s", out)
	}
	out := mustRun(t, env, sup("pharm/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("10"), "--seller", "acme")...)
	if !strings.Contains(out, "GENUINE") || !strings.Contains(out, "lot:       L2, expires 2031-01-31") {
		t.Fatalf("verify of an imported unit: %s", out)
	}
	bad := strings.Replace(mustJSON(t, in), "commissioning", "packing", 1)
	os.WriteFile(importFile, []byte(bad), 0o600)
	if out, err := run(t, env, sup("acme/admin", "import", importFile)...); err == nil || !strings.Contains(out, `event #0: invalid: bizStep "packing" is not supported`) {
		t.Fatalf("import of an unknown bizStep: %v\n%s", err, out)
	}

	// Flags and recalls are exported too.
	mustRun(t, env, sup("dist/admin", "flag", "--gtin", supplyGTIN, "--serial", sn("2"), "--reason", "seal broken")...)
	mustRun(t, env, sup("acme/admin", "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility failure")...)
	distDoc, dist := export("dist/admin")
	if actions(dist) != "receive ship flag" || dist[2].Reason != "seal broken" || dist[2].Serials[0] != sn("2") {
		t.Fatalf("dist's export: %+v", dist)
	}
	validateEPCIS(t, distDoc, true, `"events":3`)
	acmeDoc, acme = export("acme/admin")
	if last := acme[len(acme)-1]; last.Action != supply.ActRecall || last.Lot != "L2" || last.Reason != "sterility failure" {
		t.Fatalf("acme's export: %+v", acme)
	}
	validateEPCIS(t, acmeDoc, true, `"events":5`)

	epcisOverHTTP(t, home, addr, sn)
	t.Logf("EPCIS export, validation, import, capture and queries took %v", time.Since(started).Round(time.Millisecond))
	p.interrupt(t)
	noPlaintext(t, home, "", inPlainOrBase64([]string{sn("1"), sn("2"), sn("3"), sn("10"), sn("20"), sn("30")})...)
}

// epcisOverHTTP captures and queries over the EPCIS endpoints as acme,
// dist and the competitor rival.
func epcisOverHTTP(t *testing.T, home, addr string, sn func(string) string) {
	t.Helper()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	client := func(who string) *nodeapi.Client {
		k, err := ks.Unlock(strings.ReplaceAll(who, "/", "."), []byte(testPassphrase))
		if err != nil {
			t.Fatal(err)
		}
		return nodeapi.NewClient(addr).As(who, k)
	}
	acme, dist, rival := client("acme/admin"), client("dist/admin"), client("rival/admin")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	count := func(cl *nodeapi.Client, q supply.EventQuery) int {
		t.Helper()
		doc, err := cl.SupplyEvents(ctx, q)
		if err != nil || doc.Type != "EPCISQueryDocument" || doc.EPCISBody.QueryResults == nil {
			t.Fatalf("query %v: %v %+v", q.Values(), err, doc)
		}
		return len(doc.EPCISBody.QueryResults.ResultsBody.EventList)
	}
	before := count(acme, supply.EventQuery{})

	// A capture with a malformed second event is refused whole.
	good := supply.Event{Action: supply.ActCommission, Time: time.Now(), GTIN: supplyGTIN, Serials: []string{sn("20")}, Lot: "L3", Expiry: "2031-01-31"}
	ship := supply.Event{Action: supply.ActShip, Time: time.Now(), GTIN: supplyGTIN, Serials: []string{sn("20")}, To: "dist"}
	malformed := supply.NewEPCISDocument([]supply.Event{good, ship}, time.Now())
	malformed.EPCISBody.EventList[1].EPCList[0] = supply.DigitalLinkPrefix + supplyGTIN + "/21/" + sn("20") + "/x"
	doc := mustJSON(t, malformed)
	_, err = acme.SupplyCapture(ctx, []byte(doc))
	var ce *nodeapi.CaptureError
	if !errors.As(err, &ce) || ce.Status != 400 || ce.Event == nil || *ce.Event != 1 || ce.Type != "epcisException:ValidationException" ||
		!strings.Contains(ce.Detail, "event #1: ") || !strings.Contains(ce.Detail, "epcList #0") {
		t.Fatalf("capture of a malformed document: %v\n%s", err, doc)
	}
	if n := count(acme, supply.EventQuery{}); n != before {
		t.Fatalf("a refused capture wrote %d events", n-before)
	}
	if v, err := acme.SupplyVerify(ctx, supply.Scan{GTIN: supplyGTIN, Serial: sn("20")}); err != nil || v.Commissioned {
		t.Fatalf("a refused capture commissioned its unit: %+v %v", v, err)
	}

	// A good capture commits and journals its events.
	doc = mustJSON(t, supply.NewEPCISDocument([]supply.Event{good, ship}, time.Now()))
	res, err := acme.SupplyCapture(ctx, []byte(doc))
	if err != nil || res.EventCount != 2 || len(res.Heights) != 2 || res.CaptureID == "" {
		t.Fatalf("capture: %+v %v", res, err)
	}
	if v, err := dist.SupplyVerify(ctx, supply.Scan{GTIN: supplyGTIN, Serial: sn("20"), Seller: "acme"}); err != nil || v.Status != supply.StatusInTransit {
		t.Fatalf("the captured unit: %+v %v", v, err)
	}
	for _, tc := range []struct {
		q    supply.EventQuery
		want int
	}{
		{supply.EventQuery{}, before + 2},
		{supply.EventQuery{BizSteps: []string{"shipping"}}, 3},
		{supply.EventQuery{BizSteps: []string{"commissioning"}, EPCs: []string{supply.UnitURI(supplyGTIN, sn("20"))}}, 1},
		{supply.EventQuery{EPCs: []string{supply.UnitURI(supplyGTIN, sn("1"))}}, 2},
		{supply.EventQuery{GE: time.Now().Add(time.Hour)}, 0},
		{supply.EventQuery{LT: time.Now().Add(time.Hour)}, before + 2},
	} {
		if n := count(acme, tc.q); n != tc.want {
			t.Errorf("acme's query %v: %d events, want %d", tc.q.Values(), n, tc.want)
		}
	}
	// The ledger refuses the second event: the first stays committed.
	refused := supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActCommission, Time: time.Now(), GTIN: supplyGTIN, Serials: []string{sn("30")}, Lot: "L4", Expiry: "2031-01-31"},
		{Action: supply.ActCommission, Time: time.Now(), GTIN: supplyGTIN, Serials: []string{sn("1")}, Lot: "L4", Expiry: "2031-01-31"},
	}, time.Now())
	if res, err := acme.SupplyCapture(ctx, []byte(mustJSON(t, refused))); res != nil || !errors.As(err, &ce) || ce.Status != 422 ||
		ce.Event == nil || *ce.Event != 1 || len(ce.Heights) != 1 || !strings.Contains(ce.Detail, "already commissioned") {
		t.Fatalf("capture refused by the ledger at its second event: %+v %v", res, err)
	}
	if n := count(acme, supply.EventQuery{BizSteps: []string{"commissioning"}, EPCs: []string{supply.UnitURI(supplyGTIN, sn("30"))}}); n != 1 {
		t.Fatalf("the first event of a capture the ledger stopped: %d events", n)
	}
	// The journal takes only commissioned units.
	if err := acme.SupplyJournal(ctx, supply.Event{Action: supply.ActDispense, GTIN: supplyGTIN, Serials: []string{sn("99")}}); err == nil ||
		!strings.Contains(err.Error(), "no unit of "+supplyGTIN+" with this serial was commissioned") {
		t.Fatalf("journal of a never commissioned unit: %v", err)
	}

	// The competitor sees none of the partners' events, nor their serials.
	if n := count(rival, supply.EventQuery{}); n != 0 {
		t.Fatalf("rival's query returned %d events", n)
	}
	raw, err := rival.Raw(ctx, "/v1/supply/epcis/events?MATCH_epc="+supply.UnitURI(supplyGTIN, sn("1")))
	if err != nil || strings.Contains(string(raw), sn("1")) || strings.Contains(string(raw), "eventTime") {
		t.Fatalf("rival's query by EPC: %v %s", err, raw)
	}
	if _, err := rival.SupplyCapture(ctx, []byte(doc)); err == nil {
		t.Fatal("rival captured acme's events")
	}
}

// exportEPCIS runs "supply export" as as into file and reads the events
// back.
func exportEPCIS(t *testing.T, env []string, sup func(string, ...string) []string, file, as string, extra ...string) (string, []supply.Event) {
	t.Helper()
	mustRun(t, env, append(sup(as, "export", "--out", file), extra...)...)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := supply.ParseEPCIS(b)
	if err != nil {
		t.Fatalf("export of %s does not read back: %v\n%s", as, err, b)
	}
	return file, evs
}

func actions(evs []supply.Event) string {
	var a []string
	for _, e := range evs {
		a = append(a, e.Action)
	}
	return strings.Join(a, " ")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := os.WriteFile(path, []byte(mustJSON(t, v)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// epcisClientDir holds the npm validator of exported EPCIS documents.
var epcisClientDir = filepath.Join("..", "..", "clients", "epcis")

// validateEPCIS runs clients/epcis/validate.mjs (epcis2.js's document
// validator: the EPCIS 2.0 JSON schema, event fields, extensions) on file,
// installing its locked dependencies first if they are missing. Without
// node or npm it says so and checks nothing, except in CI.
func validateEPCIS(t *testing.T, file string, want bool, wantOut string) {
	t.Helper()
	c := npmClient{dir: epcisClientDir, marker: filepath.Join("epcis2.js", "package.json"), script: "validate.mjs",
		purpose: "the EPCIS validator (clients/epcis)"}
	out, ran, err := c.run(t, file)
	if !ran {
		return
	}
	if (err == nil) != want || !strings.Contains(string(out), wantOut) || !strings.Contains(string(out), fmt.Sprintf(`"valid":%v`, want)) {
		t.Fatalf("epcis2.js: want valid=%v and %s, got %v:\n%s", want, wantOut, err, out)
	}
	t.Logf("epcis2.js on %s: %s", filepath.Base(file), strings.TrimSpace(string(out)))
}
