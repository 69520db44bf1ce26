package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestPrivateSupplyAcrossNodes is issue 22's acceptance for the default,
// private products on real nodes made by init (foundSupplyChain): Acme
// registers a product (private by default), commissions and ships units to
// Distri with the usual commands; Distri lists the shipments in its stock,
// receives one by its id and one by its serials, and ships some to the
// pharmacy, whose node verifies one as genuine from Distri while a copied
// serial offered by Rival, a unit Distri never shipped to it, an unknown
// serial, an expired unit and a recalled lot are refused; the pharmacy
// receives, dispenses by the CLI and to a patient through FHIR (the
// patient's read says genuine), flags and decommissions. Then Rival: its
// node computes no commitment, its data directory holds no serial, and
// no supply state on it names Distri or the pharmacy, so nothing there
// ties a shipment, or the number of units in it, to either.
func TestPrivateSupplyAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	skipUnderRace(t)
	started := time.Now()
	acme, dist, pharm, rival, _ := foundSupplyChain(t)
	t.Logf("four nodes founded and joined in %v", time.Since(started).Round(time.Millisecond))
	flowStarted := time.Now()
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
	sn := func(n string) string { return "PV7X" + n } // distinctive, to scan for
	list := filepath.Join(t.TempDir(), "serials.txt")
	writeFile(t, list, sn("0001")+"\n"+sn("0002")+"\n"+sn("0003")+"\n"+sn("0004")+"\n")
	verify := func(serial, seller string) []string {
		return []string{"verify", "--gtin", supplyGTIN, "--serial", serial, "--seller", seller}
	}

	do(acme, "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug") // private by default
	if out := do(acme, "product", "show", supplyGTIN); !strings.Contains(out, `"private": true`) {
		t.Fatalf("the product is not private: %s", out)
	}
	if out := do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31", "--serials", list); !strings.Contains(out, "commissioned 4 units") {
		t.Fatalf("commission: %s", out)
	}
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L2", "--expiry", "2030-12-31", "--serial", sn("0200"))
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "OLD", "--expiry", "2025-01-31", "--serial", sn("0900"))
	// Units of two commissionings, so two custody keys: two shipments.
	do(acme, "ship", "--gtin", supplyGTIN, "--to", "dist", "--serials", list, "--serial", sn("0200"))

	caughtUp(t, dist, acme)
	refused(dist, "received whole", "receive", "--gtin", supplyGTIN, "--serial", sn("0001"))
	// dist's stock lists the two shipments sealed to it; it receives the
	// one-unit shipment by its id, the other by its scanned serials.
	if out := do(dist, "stock"); !strings.Contains(out, "Shipped to you, not yet received:") || !strings.Contains(out, "acme") {
		t.Fatalf("dist's stock:\n%s", out)
	}
	stock := stockOf(t, do(dist, "stock", "--json"))
	one := ""
	for _, sh := range stock.Private.Incoming {
		if sh.From != "acme" || sh.To != "dist" || sh.GTIN != supplyGTIN {
			t.Fatalf("a shipment in dist's stock: %+v", sh)
		}
		if sh.Units == 1 {
			one = sh.Claim
		}
	}
	if len(stock.Private.Incoming) != 2 || one == "" {
		t.Fatalf("dist's incoming shipments: %+v", stock.Private.Incoming)
	}
	refused(rival, "no pending shipment", "receive", "--gtin", supplyGTIN, "--shipment", one)
	if out := do(dist, "receive", "--gtin", supplyGTIN, "--shipment", one); !strings.Contains(out, "received shipment "+one) {
		t.Fatalf("receive by shipment: %s", out)
	}
	do(dist, "receive", "--gtin", supplyGTIN, "--serials", list)
	if stock := stockOf(t, do(dist, "stock", "--json")); len(stock.Private.Incoming) != 0 || heldUnits(stock.Private.Held) != 5 {
		t.Fatalf("dist's stock after the receives: %+v", stock.Private)
	}
	do(dist, "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", sn("0001"), "--serial", sn("0002"), "--serial", sn("0004"), "--serial", sn("0200"))

	caughtUp(t, pharm, dist)
	out := do(pharm, append(verify(sn("0001"), "dist"), "--lot", "L1", "--expiry", "301231")...)
	for _, want := range []string{"GENUINE", "Amoxicillin 500 mg (GTIN " + supplyGTIN + ") by acme", "status:    in-transit", "custodian: dist"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the pharmacy's verify of a genuine unit lacks %q:\n%s", want, out)
		}
	}
	refused(pharm, "not shipped to you by rival", verify(sn("0002"), "rival")...)
	refused(pharm, "not shipped to you by dist", verify(sn("0003"), "dist")...)
	refused(pharm, "never commissioned by acme", verify(sn("9999"), "dist")...)
	refused(pharm, "the unit expired on 2025-01-31", verify(sn("0900"), "dist")...)
	do(acme, "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility failure")
	caughtUp(t, pharm, acme)
	refused(pharm, "lot L2 is recalled (sterility failure)", verify(sn("0200"), "dist")...)
	refused(pharm, "lot L2 is recalled (sterility failure)", "receive", "--gtin", supplyGTIN, "--serial", sn("0200"))

	do(pharm, "receive", "--gtin", supplyGTIN, "--serial", sn("0001"), "--serial", sn("0002"), "--serial", sn("0004"))
	if out := do(pharm, verify(sn("0001"), "pharm")...); !strings.Contains(out, "GENUINE") || !strings.Contains(out, "custodian: pharm") {
		t.Fatalf("the pharmacy's verify of a unit it holds:\n%s", out)
	}
	refused(dist, "no custody key of dist", "dispense", "--gtin", supplyGTIN, "--serial", sn("0001"))
	do(pharm, "dispense", "--gtin", supplyGTIN, "--serial", sn("0001"))
	refused(pharm, "already dispensed", verify(sn("0001"), "pharm")...)
	// The pharmacist dispenses another unit to a patient through FHIR: the
	// node co-signs with the pharmacist's key; the patient's read says
	// genuine.
	pharmacist, patient := dispenseSetup(t, pharm)
	if got, res, raw := pharm.fhirJSON(pharmacist, "POST", "/fhir/MedicationDispense", unitDispense(sn("0004"))); got != http.StatusCreated {
		t.Fatalf("the FHIR dispense of a private unit: HTTP %d %s", got, raw)
	} else if got, _, raw := pharm.fhirJSON(patient, "GET", "/fhir/MedicationDispense/"+res["id"].(string), ""); got != http.StatusOK ||
		supplyVerified(t, raw)["verified"] != true {
		t.Fatalf("the patient's read of the dispense: HTTP %d %s", got, raw)
	}
	refused(pharm, "already dispensed", verify(sn("0004"), "pharm")...)
	do(pharm, "flag", "--gtin", supplyGTIN, "--serial", sn("0002"), "--reason", "seal broken")
	do(pharm, "decommission", "--gtin", supplyGTIN, "--serial", sn("0002"))
	doc := filepath.Join(t.TempDir(), "events.json")
	do(pharm, "export", "--out", doc)
	if evs, err := supply.ParseEPCIS(mustReadFile(t, doc)); err != nil || actions(evs) != "receive dispense dispense flag decommission" {
		t.Fatalf("the pharmacy's export: %v %+v", err, evs)
	}
	t.Logf("the private supply chain across the nodes took %v", time.Since(flowStarted).Round(time.Millisecond))

	// The competitor: no key, no serial, and no supply state naming the
	// partners.
	caughtUp(t, rival, pharm)
	refused(rival, "rival holds no key of product", verify(sn("0003"), "dist")...)
	seen := rivalNodeAnswers(t, rival)
	serials := []string{sn("0001"), sn("0002"), sn("0003"), sn("0004"), sn("0200"), sn("0900")}
	for _, s := range serials {
		if strings.Contains(seen, s) {
			t.Errorf("serial %s is in an answer of rival's node to rival", s)
		}
	}
	for _, m := range []*member{rival, acme, dist, pharm} {
		m.proc.interrupt(t)
		noPlaintext(t, m.home, m.proc.output(), inPlainOrBase64(serials)...)
	}
	rivalSupplyState(t, rival.home, append([]string{"dist", "pharm"}, serials...))
	rivalTransfers(t, rival.home, append([]string{"dist", "pharm"}, serials...))
}

// rivalTransfers reads every supply.transfer in the blocks of the stopped
// node at home and fails the test if one holds one of secrets, but for the
// dispenses' co-signers, whom the ledger names by design.
func rivalTransfers(t *testing.T, home string, secrets []string) {
	t.Helper()
	var actions []string
	err := node.CommittedTxs(node.Home(home), func(_ int64, raw []byte) error {
		s, err := tx.Decode(raw)
		if err != nil || s.Type != tx.TypeSupplyTransfer {
			return err
		}
		var tr tx.SupplyTransfer
		if err := tx.Unmarshal(s.Body, &tr); err != nil {
			return err
		}
		actions = append(actions, tr.Action)
		if tr.Action == tx.MoveDispense && tr.Dispenser != "pharm/admin" && tr.Dispenser != "pharm/pharm-lee" {
			t.Errorf("the dispense names %q as its dispenser", tr.Dispenser)
		}
		tr.Dispenser = ""
		bare, err := tx.Marshal(&tr)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if strings.Contains(s.Signer+string(bare), sec) {
				t.Errorf("a %s in rival's blocks holds %q", tr.Action, sec)
			}
		}
		return nil
	})
	// acme ships two commissionings' units (2), dist receives both and ships
	// from its two keys (2 + 2); the pharmacy receives one shipment, flags,
	// decommissions and dispenses twice, by the CLI and through FHIR (5); a
	// block may hold the refused receive of the recalled unit too.
	if got := strings.Join(actions, " "); err != nil || strings.Count(got, "ship") != 4 || strings.Count(got, "dispense") != 2 || len(actions) < 11 {
		t.Fatalf("the transfers in rival's blocks: %v %q", err, got)
	}
	t.Logf("rival's blocks hold %d transfers, none naming a partner (but the dispense's co-signer) or a serial", len(actions))
}

// supplyArgs is a supply command as an organization's admin on m's node:
// its words (two for "product …"), then the flags.
func supplyArgs(m *member, args ...string) []string {
	n := 1
	if args[0] == "product" {
		n = 2
	}
	org := strings.SplitN(strings.TrimPrefix(filepath.Base(m.home), "supply-"), "-", 2)[0]
	cmd := append([]string{"supply"}, args[:n]...)
	return append(append(cmd, "--as", org+"/admin", "--home", m.home, "--node", m.addr), args[n:]...)
}

// rivalSupplyState reads every supply entry in the state store of the
// stopped node at home, and fails the test if a key or value holds one of
// secrets; it requires a pending shipment's sealed details among them.
func rivalSupplyState(t *testing.T, home string, secrets []string) {
	t.Helper()
	st, err := store.OpenReadOnly(node.Home(home).StateDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, shipments := 0, 0
	err = st.Scan("supply-", st.LastHeight(), func(k string, v []byte) error {
		entries++
		if strings.HasPrefix(k, "supply-shipment/") {
			shipments++
		}
		for _, s := range secrets {
			if strings.Contains(k, s) || strings.Contains(string(v), s) {
				t.Errorf("rival's state %s holds %q", k, s)
			}
		}
		return nil
	})
	if err != nil || shipments != 1 {
		t.Fatalf("rival's supply state: %v, %d pending shipments, want 1 (the recalled unit's)", err, shipments)
	}
	t.Logf("rival's %d supply state entries name neither partner nor serial", entries)
}

// stockOf reads `supply stock --json`'s output.
func stockOf(t *testing.T, out string) records.SupplyStock {
	t.Helper()
	var st records.SupplyStock
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); err != nil {
		t.Fatalf("supply stock --json: %v\n%s", err, out)
	}
	return st
}

// heldUnits counts the units of hs.
func heldUnits(hs []ledger.SupplyHolding) int {
	n := 0
	for _, h := range hs {
		n += h.Units
	}
	return n
}
