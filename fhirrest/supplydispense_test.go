package fhirrest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

const supplyGTIN = "00312345678906"

// setupSupply is a FHIR API on a node with hospital hosp-a (patient/p,
// hosp-a/dr-a), manufacturer acme and pharmacy pharm; acme registered
// supplyGTIN, commissioned lot L1 (serials SNQX-1..6, SNQX-S1), lot L2
// (SNQX-R1) and the expired lot OLD (SNQX-E1), shipped L1 but SNQX-4 and
// L2 to pharm, which received them and flagged SNQX-S1 as suspect; lot L2
// is recalled. patient/p lets pharm read and write their records.
func setupSupply(t *testing.T) *env {
	t.Helper()
	e := setupOrgs(t, []envOrg{{"hosp-a", carechain.OrgHospital}, {"acme", carechain.OrgManufacturer}, {"pharm", carechain.OrgPharmacy}}, []envReg{
		{"hosp-a/admin", tx.Register{ID: "hosp-a/dr-a", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}}},
	}, nil)
	k := make([]byte, supply.KeySize)
	rand.Read(k)
	wrap, err := records.WrapProductKey(e.n.App().Latest(), k, supplyGTIN, "acme")
	if err != nil {
		t.Fatal(err)
	}
	e.submit("acme/admin", tx.TypeSupplyProduct, &tx.SupplyProduct{GTIN: supplyGTIN, Name: "Amoxicillin 500 mg", Kind: supply.KindDrug, KeyWrap: wrap})
	l1 := []string{"SNQX-1", "SNQX-2", "SNQX-3", "SNQX-4", "SNQX-5", "SNQX-6", "SNQX-S1"}
	e.submit("acme/admin", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: supplyGTIN, Lot: "L1", Expiry: "2030-12-31", Units: e.commitments("acme/admin", l1, "")})
	e.submit("acme/admin", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: supplyGTIN, Lot: "L2", Expiry: "2030-12-31", Units: e.commitments("acme/admin", []string{"SNQX-R1"}, "")})
	e.submit("acme/admin", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: supplyGTIN, Lot: "OLD", Expiry: "2025-01-31", Units: e.commitments("acme/admin", []string{"SNQX-E1"}, "")})
	shipped := []string{"SNQX-1", "SNQX-2", "SNQX-3", "SNQX-5", "SNQX-6", "SNQX-R1", "SNQX-S1"}
	cs, kw, err := e.svc.SupplyCommitments(e.principal("acme/admin"), supplyGTIN, shipped, "pharm")
	if err != nil || kw == nil {
		t.Fatalf("commitments for a first shipment: %v", err)
	}
	e.submit("acme/admin", tx.TypeSupplyMove, &tx.SupplyMove{Action: tx.MoveShip, GTIN: supplyGTIN, Units: cs, To: "pharm", KeyWrap: kw})
	e.submit("pharm/admin", tx.TypeSupplyMove, &tx.SupplyMove{Action: tx.MoveReceive, GTIN: supplyGTIN, Units: e.commitments("pharm/admin", shipped, "")})
	e.submit("acme/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: supplyGTIN, Lot: "L2", Reason: "sterility failure"})
	e.submit("pharm/admin", tx.TypeSupplyFlag, &tx.SupplyFlag{GTIN: supplyGTIN, Unit: e.commitments("pharm/admin", []string{"SNQX-S1"}, "")[0], Reason: "seal broken"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.svc.Grant(ctx, records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}, consent.Grant{Grantee: consent.Grantee{Org: "pharm"},
		Categories: []string{consent.AnyCategory}, Actions: []consent.Action{consent.ActionRead, consent.ActionWrite},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60}); err != nil {
		t.Fatal(err)
	}
	return e
}

// submit signs body as signer and commits it, failing the test unless it
// is accepted.
func (e *env) submit(signer string, typ tx.Type, body tx.Body) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nonce, _ := e.n.App().Latest().NextNonce(signer)
	raw, err := tx.Sign(e.keys[signer], chainID, signer, nonce, typ, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("%s by %s: %+v %v", typ, signer, out, err)
	}
}

func (e *env) principal(id string) *carechain.Principal {
	e.t.Helper()
	p, err := e.n.App().Latest().Principal(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// commitments are the serial commitments of serials, as signer's node
// computes them.
func (e *env) commitments(signer string, serials []string, shareWith string) [][]byte {
	e.t.Helper()
	cs, _, err := e.svc.SupplyCommitments(e.principal(signer), supplyGTIN, serials, shareWith)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// unit is the ledger's unit serial, as pharm's node finds it.
func (e *env) unit(serial string) *supply.Unit {
	e.t.Helper()
	u, _, err := e.n.App().Latest().SupplyUnit(supplyGTIN, e.commitments("pharm/admin", []string{serial}, "")[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// ledgerTxs are the raw transactions of every committed block.
func (e *env) ledgerTxs() [][]byte {
	var out [][]byte
	for h := int64(1); h <= e.n.BlockHeight(); h++ {
		out = append(out, e.n.BlockTxs(h)...)
	}
	return out
}

// supplyTxs counts the committed transactions that name supplyGTIN, and
// fails if one of them also names the patient (the medicine next to the
// patient's pseudonym).
func (e *env) supplyTxs() int {
	e.t.Helper()
	n := 0
	for _, raw := range e.ledgerTxs() {
		if !bytes.Contains(raw, []byte(supplyGTIN)) {
			continue
		}
		n++
		if bytes.Contains(raw, []byte("patient/p")) {
			e.t.Fatalf("a committed transaction names both GTIN %s and patient/p", supplyGTIN)
		}
	}
	return n
}

// stateKeepsGTINApart fails unless the ledger's state holds entries
// naming supplyGTIN and entries naming patient/p, and none naming both (in
// its key and value).
func (e *env) stateKeepsGTINApart() {
	e.t.Helper()
	var gtin, patient int
	err := e.n.App().Latest().Scan("", func(key string, val []byte) error {
		entry := append([]byte(key), val...)
		g, p := bytes.Contains(entry, []byte(supplyGTIN)), bytes.Contains(entry, []byte("patient/p"))
		if g && p {
			e.t.Errorf("state entry %s names both GTIN %s and patient/p", key, supplyGTIN)
		}
		if g {
			gtin++
		}
		if p {
			patient++
		}
		return nil
	})
	if err != nil || gtin == 0 || patient == 0 {
		e.t.Fatalf("state scan: %d entries name the GTIN, %d the patient: %v", gtin, patient, err)
	}
}

// dispenseOf is a completed MedicationDispense of patient/p handing over serials.
func dispenseOf(serials ...string) []byte {
	var exts []string
	for _, sn := range serials {
		exts = append(exts, fmt.Sprintf(`{"url":%q,"valueIdentifier":{"system":"%s%s","value":%q}}`, records.DispensedUnitURL, records.GTINSystem, supplyGTIN, sn))
	}
	return []byte(`{"resourceType":"MedicationDispense","status":"completed","extension":[` + strings.Join(exts, ",") + `],
	  "subject":{"reference":"Patient/p"},"medicationCodeableConcept":{"text":"Amoxicillin 500 mg"},"quantity":{"value":1,"unit":"box"}}`)
}

// verified is the supply-verified extension of a served MedicationDispense:
// its sub-extensions' values by url (nil if it has none).
func verified(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var d struct {
		Extension []struct {
			URL       string           `json:"url"`
			Extension []map[string]any `json:"extension"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Extension {
		if e.URL != fhirrest.SupplyVerifiedURL {
			continue
		}
		out := map[string]any{}
		for _, sub := range e.Extension {
			for k, v := range sub {
				if k != "url" {
					out[sub["url"].(string)] = v
				}
			}
		}
		return out
	}
	return nil
}

// TestDispenseOfSerializedUnitsThroughFHIR: pharm's pharmacist dispenses
// two genuine units it holds in one MedicationDispense: the units become
// dispensed on the ledger by a supply.move of their own, in an earlier
// block than the record, and no committed transaction names both the GTIN
// and the patient. The patient reading the dispense is told, computed at
// the read, that they were verified genuine. A dispense naming an unknown
// serial, a unit of a recalled lot, a unit pharm does not hold (even
// beside a good one), a suspect or an expired unit, units dispensed apart
// beside a new one, units of two products or over 100 is refused with an
// OperationOutcome that says why, and writes nothing: no record, no move.
// A cancelled or entered-in-error dispense moves no unit. A
// supply-verified extension a writer puts in is not served. A node without
// the product's key for the author's organization or the reader cannot
// check: not verified. An update of the dispense to entered-in-error
// moves no unit and is served without the extension. No state entry names
// both the GTIN and the patient, and no node file holds a serial in plain.
func TestDispenseOfSerializedUnitsThroughFHIR(t *testing.T) {
	e := setupSupply(t)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	moves := e.supplyTxs()
	r := e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-1", "SNQX-2"))
	if r.status != 201 {
		t.Fatalf("dispense of genuine units: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	u1, u2, u3 := e.unit("SNQX-1"), e.unit("SNQX-2"), e.unit("SNQX-3")
	if u1.Status != supply.StatusDispensed || u2.Status != supply.StatusDispensed || u3.Status != supply.StatusActive || u1.Custodian != "pharm" {
		t.Fatal("the units handed over, and only they, are dispensed on the ledger by pharm")
	}
	rec, err := e.n.App().Latest().RecordVersion(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if u1.Height != u2.Height || rec.Height <= u1.Height {
		t.Fatalf("the units are dispensed in one move (heights %d, %d) committed before the record (height %d)", u1.Height, u2.Height, rec.Height)
	}
	if !bytes.Contains(bytes.Join(e.ledgerTxs(), nil), []byte("patient/p")) {
		t.Fatal("the scan looks for the patient's pseudonym as the ledger's transactions hold it")
	}
	if got := e.supplyTxs(); got != moves+1 {
		t.Fatalf("one supply move for the dispense, got %d", got-moves)
	}
	read := e.do("GET", "/fhir/MedicationDispense/"+id, e.patientToken(), nil)
	if v := verified(t, read.rawBody); read.status != 200 || v["verified"] != true || v["product"] != "Amoxicillin 500 mg" || v["gtin"] != supplyGTIN ||
		!strings.Contains(fmt.Sprint(v["summary"]), "Verified genuine: the 2 serialized unit(s) of Amoxicillin 500 mg (GTIN 00312345678906, registered by acme) were commissioned by their manufacturer and dispensed by pharm") {
		t.Fatalf("the patient's read: %d %s", read.status, read.rawBody)
	}
	before, moves := e.recordCount(), e.supplyTxs()
	for _, c := range []struct {
		name    string
		serials []string
		mention string
	}{
		{"unknown serial", []string{"SNQX-3", "FAKE-9"}, "unit #2: this serial was never commissioned by acme, the owner of GTIN 00312345678906: not genuine (counterfeit?)"},
		{"recalled lot", []string{"SNQX-R1"}, "unit #1: lot L2 is recalled (sterility failure)"},
		{"dispensed before, beside a new one", []string{"SNQX-3", "SNQX-1"}, "pharm dispensed some of these units before, not all of them together: this is not a retry of the same dispense"},
		{"not held by pharm", []string{"SNQX-3", "SNQX-4"}, "unit #2: the unit is held by acme, not by the seller pharm"},
		{"suspect", []string{"SNQX-S1"}, "unit #1: the unit is suspect: quarantined until its manufacturer confirms or clears it"},
		{"expired", []string{"SNQX-E1"}, "unit #1: the unit expired on 2025-01-31"},
	} {
		r := e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf(c.serials...))
		r.outcome(t, 422, c.mention)
		if !strings.Contains(string(r.rawBody), "DO NOT DISPENSE") {
			t.Errorf("%s: %s", c.name, r.rawBody)
		}
	}
	twoProducts := strings.Replace(string(dispenseOf("SNQX-3", "SNQX-9")), records.GTINSystem+supplyGTIN+`","value":"SNQX-9"`, records.GTINSystem+`09506000134352","value":"SNQX-9"`, 1)
	e.do("POST", "/fhir/MedicationDispense", ph, []byte(twoProducts)).outcome(t, 422, "one product for all units")
	many := make([]string, records.MaxDispensedUnits+1)
	for i := range many {
		many[i] = fmt.Sprintf("SNQX-M%d", i)
	}
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf(many...)).outcome(t, 422, "at most 100")
	if e.recordCount() != before || e.unit("SNQX-3").Status != supply.StatusActive || e.supplyTxs() != moves {
		t.Fatal("a refused dispense writes nothing: no record, no move, and its good units stay in stock")
	}
	// A cancelled or entered-in-error dispense hands nothing over.
	for _, status := range []string{"cancelled", "entered-in-error"} {
		d := strings.Replace(string(dispenseOf("SNQX-3")), `"status":"completed"`, `"status":"`+status+`"`, 1)
		r := e.do("POST", "/fhir/MedicationDispense", ph, []byte(d))
		if r.status != 201 || e.unit("SNQX-3").Status != supply.StatusActive || e.supplyTxs() != moves {
			t.Fatalf("a %s dispense: %d %s", status, r.status, r.rawBody)
		}
		if read := e.do("GET", "/fhir/MedicationDispense/"+r.body["id"].(string), e.patientToken(), nil); verified(t, read.rawBody) != nil {
			t.Fatalf("a %s dispense is served as verified: %s", status, read.rawBody)
		}
	}
	// A supply-verified extension a writer puts in is not served.
	forged := strings.Replace(string(dispenseOf()), `"extension":[]`, `"extension":[{"url":"`+fhirrest.SupplyVerifiedURL+`","valueBoolean":true}]`, 1)
	r = e.do("POST", "/fhir/MedicationDispense", ph, []byte(forged))
	if r.status != 201 {
		t.Fatalf("a dispense with a forged verification: %d %s", r.status, r.rawBody)
	}
	if read := e.do("GET", "/fhir/MedicationDispense/"+r.body["id"].(string), e.patientToken(), nil); read.status != 200 || strings.Contains(string(read.rawBody), fhirrest.SupplyVerifiedURL) {
		t.Fatalf("a forged verification is served: %d %s", read.status, read.rawBody)
	}
	// A node serving neither the author's organization nor a reader holding
	// the product's key cannot look the units up: not verified.
	kr := &records.Keyring{}
	kr.Add("patient/p", e.patientEnc)
	other, err := records.New(e.n, kr, records.Options{Node: "other"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rec, err := other.Read(ctx, "patient/p", id, 0, consent.PurposeTreatment); err != nil || rec.Supply == nil || rec.Supply.Verified() ||
		!strings.HasPrefix(rec.Supply.Verdict(), "Not checked: this node cannot look up the units") {
		t.Fatalf("a read on a node without the product key: %+v %v", rec, err)
	}
	// An update of the completed dispense to entered-in-error moves no unit
	// back, and is no longer served as verified.
	moves = e.supplyTxs()
	d := strings.Replace(string(dispenseOf("SNQX-1", "SNQX-2")), `"status":"completed"`, `"id":"`+id+`","status":"entered-in-error"`, 1)
	if r := e.do("PUT", "/fhir/MedicationDispense/"+id, ph, []byte(d)); r.status != 200 || e.unit("SNQX-1").Status != supply.StatusDispensed || e.supplyTxs() != moves {
		t.Fatalf("an update to entered-in-error: %d %s", r.status, r.rawBody)
	}
	if read := e.do("GET", "/fhir/MedicationDispense/"+id, e.patientToken(), nil); verified(t, read.rawBody) != nil {
		t.Fatalf("an entered-in-error dispense is served as verified: %s", read.rawBody)
	}
	e.supplyTxs()
	e.stateKeepsGTINApart()
	assertNoFileHolds(t, filepath.Dir(t.TempDir()), "SNQX-")
}

// TestDispenseRetryAfterTheMoveWithoutRecord: the node crashed (or the
// record write failed) after the units' supply move committed and before
// the record was written: the units are dispensed by pharm with no record.
// A retry of the same MedicationDispense is written, without a second move,
// and read as verified genuine. A dispense naming units pharm dispensed in
// two different moves is refused. Once a record names the units, the node
// refuses another naming them (409) but takes an update of that record.
// What a restarted node cannot tell: a second MedicationDispense naming
// exactly the units of an earlier one is accepted as such a retry (the
// README's residual risk).
func TestDispenseRetryAfterTheMoveWithoutRecord(t *testing.T) {
	e := setupSupply(t)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signer := records.Signer{ID: "pharm/pharmacist", Key: e.keys["pharm/pharmacist"]}
	if err := e.svc.SupplyMove(ctx, signer, tx.MoveDispense, supplyGTIN, "", []string{"SNQX-5", "SNQX-6"}); err != nil {
		t.Fatal(err) // step 2 done, then the crash: no record
	}
	if err := e.svc.SupplyMove(ctx, signer, tx.MoveDispense, supplyGTIN, "", []string{"SNQX-3"}); err != nil {
		t.Fatal(err)
	}
	before, moves := e.recordCount(), e.supplyTxs()
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-5", "SNQX-3")).outcome(t, 422, "not all of them together")
	r := e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-5", "SNQX-6"))
	if r.status != 201 || e.recordCount() != before+1 || e.supplyTxs() != moves {
		t.Fatalf("the retry: %d %s", r.status, r.rawBody)
	}
	read := e.do("GET", "/fhir/MedicationDispense/"+r.body["id"].(string), e.patientToken(), nil)
	if v := verified(t, read.rawBody); v["verified"] != true {
		t.Fatalf("the retried dispense's read: %s", read.rawBody)
	}
	id := r.body["id"].(string)
	// This node remembers that a record names them: another is refused, an
	// update of that record is not.
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-6", "SNQX-5")).outcome(t, 409, "a MedicationDispense written on this node ("+id+") names them")
	update := strings.Replace(string(dispenseOf("SNQX-5", "SNQX-6")), `"status"`, `"id":"`+id+`","status"`, 1)
	if r := e.do("PUT", "/fhir/MedicationDispense/"+id, ph, []byte(update)); r.status != 200 || e.supplyTxs() != moves {
		t.Fatalf("an update of the dispense: %d %s", r.status, r.rawBody)
	}
	// After a restart (a new records service) the node does not remember:
	// a second record of the same units is accepted (the residual risk).
	restarted, err := records.New(e.n, e.svc.Keys(), records.Options{Node: "restarted"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.Put(ctx, signer, records.PutItem{Patient: "patient/p", Category: "medication", RecordID: records.NewRecordID(), Resource: dispenseOf("SNQX-6", "SNQX-5")}); err != nil {
		t.Fatalf("a second dispense of the same units after a restart: %v", err)
	}
	if e.recordCount() != before+2 || e.supplyTxs() != moves {
		t.Fatal("no retry moves a unit again")
	}
}

// TestDispenseRefusedBeforeOrByTheMove: a pharmacist dispensing to a
// patient whose consent does not let the pharmacy write is refused (403)
// before any unit moves, and so is a dispense past its prescription's
// supply (409); a FHIR transaction's MedicationDispense is
// refused for a recalled unit, nothing written, and written with a
// genuine one, which it dispenses; a dispense the ledger refuses (here a
// manufacturer's officer, whom patient/p lets write, dispensing a unit its
// organization holds: only a pharmacy or hospital dispenses) is refused
// with the ledger's reason (409), and no record is written.
func TestDispenseRefusedBeforeOrByTheMove(t *testing.T) {
	e := setupSupply(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.registerPatient(ctx, "patient/q")
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	moves := e.supplyTxs()
	toQ := strings.Replace(string(dispenseOf("SNQX-3")), "Patient/p", "Patient/q", 1)
	e.do("POST", "/fhir/MedicationDispense", ph, []byte(toQ)).outcome(t, 403, "DO NOT DISPENSE: pharm/pharmacist may not write records of patient/q")
	if e.unit("SNQX-3").Status != supply.StatusActive || e.supplyTxs() != moves {
		t.Fatal("a dispense the pharmacy may not write moves no unit")
	}
	// A transaction's MedicationDispense entries are verified and moved the same way.
	before := e.recordCount()
	bundle := func(serials ...string) []byte {
		return requestBundle(t, "transaction", bundleEntry{method: "POST", url: "MedicationDispense", resource: string(dispenseOf(serials...))})
	}
	e.do("POST", "/fhir", ph, bundle("SNQX-3", "SNQX-R1")).outcome(t, 422, "unit #2: lot L2 is recalled (sterility failure)")
	if e.recordCount() != before || e.unit("SNQX-3").Status != supply.StatusActive || e.supplyTxs() != moves {
		t.Fatal("a refused transaction writes nothing and moves no unit")
	}
	if r := e.do("POST", "/fhir", ph, bundle("SNQX-3")); r.status != 200 || e.recordCount() != before+1 || e.unit("SNQX-3").Status != supply.StatusDispensed {
		t.Fatalf("a transaction's dispense: %d %s", r.status, r.rawBody)
	}
	// A unit packed in a case is refused before the move.
	cases, _, err := e.svc.SupplyCaseCommitments(e.principal("pharm/admin"), supplyGTIN, []string{"106141412345678908"}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.submit("pharm/admin", tx.TypeSupplyAggregate, &tx.SupplyAggregate{Action: tx.AggregatePack, GTIN: supplyGTIN, Case: cases[0], Units: e.commitments("pharm/admin", []string{"SNQX-5"}, "")})
	moves = e.supplyTxs()
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-5")).outcome(t, 422, "unit #1: the unit is packed in a case; unpack it first")
	if e.recordCount() != before+1 || e.unit("SNQX-5").Status != supply.StatusActive || e.supplyTxs() != moves {
		t.Fatal("a dispense of a packed unit writes nothing and moves no unit")
	}
	// A dispense past its prescription's supply is refused before the move.
	rx := e.do("POST", "/fhir/MedicationRequest", e.token("hosp-a/dr-a"), []byte(`{"resourceType":"MedicationRequest","status":"active","intent":"order",
	  "subject":{"reference":"Patient/p"},"medicationCodeableConcept":{"text":"Amoxicillin 500 mg"},"dispenseRequest":{"quantity":{"value":1,"unit":"box"}}}`))
	if rx.status != 201 {
		t.Fatalf("prescription: %d %s", rx.status, rx.rawBody)
	}
	pastRx := strings.Replace(string(dispenseOf("SNQX-2")), `"quantity":{"value":1,`, `"authorizingPrescription":[{"reference":"MedicationRequest/`+rx.body["id"].(string)+`"}],"quantity":{"value":2,`, 1)
	e.do("POST", "/fhir/MedicationDispense", ph, []byte(pastRx)).outcome(t, 409, "allows 1 in all; 0 was dispensed, 2 more is past it; no unit was moved")
	if e.unit("SNQX-2").Status != supply.StatusActive || e.recordCount() != before+2 {
		t.Fatal("a dispense past its prescription moves no unit")
	}
	officer := e.registerStaff("acme", "acme/officer", carechain.RoleSupplyOfficer)
	if _, err := e.svc.Grant(ctx, records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}, consent.Grant{Grantee: consent.Grantee{Principal: "acme/officer"},
		Categories: []string{consent.AnyCategory}, Actions: []consent.Action{consent.ActionRead, consent.ActionWrite},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60}); err != nil {
		t.Fatal(err)
	}
	before = e.recordCount()
	e.do("POST", "/fhir/MedicationDispense", officer, dispenseOf("SNQX-4")).outcome(t, 409, "DO NOT DISPENSE: the ledger refused the dispense of the units: acme/officer may not dispense: acme is a manufacturer")
	if u := e.unit("SNQX-4"); e.recordCount() != before || u.Status != supply.StatusActive || u.Custodian != "acme" {
		t.Fatal("a dispense the ledger refuses writes no record and moves no unit")
	}
	e.supplyTxs() // the refused move, in a block, names no patient either
}

// TestConcurrentDispensesOfOneUnit: four requests dispensing the same unit
// at once through one node: whatever their interleaving (the node's claim
// on the unit, the record it remembers, or the ledger's refusal of a
// second move), exactly one is written and the rest are refused (409).
func TestConcurrentDispensesOfOneUnit(t *testing.T) {
	e := setupSupply(t)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	before := e.recordCount()
	statuses := make(chan int, 4)
	for range 4 {
		go func() {
			r, err := e.send("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-3"))
			if err != nil {
				t.Error(err)
			}
			statuses <- r.status
		}()
	}
	var created, conflicts int
	for range 4 {
		switch <-statuses {
		case 201:
			created++
		case 409:
			conflicts++
		}
	}
	if created != 1 || conflicts != 3 || e.recordCount() != before+1 || e.unit("SNQX-3").Status != supply.StatusDispensed {
		t.Fatalf("%d written, %d refused, %d records", created, conflicts, e.recordCount()-before)
	}
}

// assertNoFileHolds fails if a file under dir contains s.
func assertNoFileHolds(t *testing.T, dir, s string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed by the node while we walked
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the node removed it (a compaction) while we walked
		} else if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds %q in plain", path, s)
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("scanned %d files: %v", n, err)
	}
}
