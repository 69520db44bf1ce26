package fhirrest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestDispenseOfPrivateUnitsThroughFHIR: units of a product registered as
// private (held by custody keys, not organizations) are dispensed by a
// plain FHIR MedicationDispense exactly as other units are: the node finds
// the pharmacy's custody key, co-signs the dispense with the
// pharmacist's key it holds, and the patient's read says the units were
// verified genuine. A unit the pharmacy does not hold, an unknown serial
// and a recalled lot are refused with the reason, writing nothing.
func TestDispenseOfPrivateUnitsThroughFHIR(t *testing.T) {
	e := setupOrgs(t, []envOrg{{"hosp-a", carechain.OrgHospital}, {"acme", carechain.OrgManufacturer}, {"pharm", carechain.OrgPharmacy}}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	as := func(id string) records.Signer { return records.Signer{ID: id, Key: e.keys[id]} }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("register", e.svc.SupplyRegister(ctx, as("acme/admin"), supply.Product{GTIN: supplyGTIN, Name: "Amoxicillin 500 mg", Kind: supply.KindDrug, Private: true}))
	must("commission L1", e.svc.SupplyCommission(ctx, as("acme/admin"), supplyGTIN, "L1", "2030-12-31", []string{"PRV-1", "PRV-2", "PRV-3", "PRV-4"}))
	must("commission L2", e.svc.SupplyCommission(ctx, as("acme/admin"), supplyGTIN, "L2", "2030-12-31", []string{"PRV-R1"}))
	must("ship", e.svc.SupplyMove(ctx, as("acme/admin"), tx.MoveShip, supplyGTIN, "pharm", []string{"PRV-1", "PRV-2", "PRV-3", "PRV-R1"}))
	must("receive", e.svc.SupplyMove(ctx, as("pharm/admin"), tx.MoveReceive, supplyGTIN, "", []string{"PRV-1", "PRV-2", "PRV-3", "PRV-R1"}))
	must("recall", e.svc.SupplyRecall(ctx, as("acme/admin"), supplyGTIN, "L2", "sterility failure"))
	_, err := e.svc.Grant(ctx, records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}, consent.Grant{Grantee: consent.Grantee{Org: "pharm"},
		Categories: []string{consent.AnyCategory}, Actions: []consent.Action{consent.ActionRead, consent.ActionWrite},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60})
	must("grant", err)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)

	before := e.recordCount()
	for _, c := range []struct {
		serials []string
		mention string
	}{
		{[]string{"PRV-1", "FAKE-9"}, "unit #2: this serial was never commissioned by acme"},
		{[]string{"PRV-4"}, "unit #1: the unit is not held by pharm: its serial may be copied"},
		{[]string{"PRV-R1"}, "unit #1: lot L2 is recalled (sterility failure)"},
	} {
		e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf(c.serials...)).outcome(t, 422, c.mention)
	}
	if e.recordCount() != before || e.unit("PRV-1").Status != supply.StatusActive {
		t.Fatal("a refused dispense writes nothing and moves no unit")
	}
	r := e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("PRV-1", "PRV-2"))
	if r.status != 201 {
		t.Fatalf("dispense of private units: %d %s", r.status, r.rawBody)
	}
	u1, u3 := e.unit("PRV-1"), e.unit("PRV-3")
	if u1.Status != supply.StatusDispensed || e.unit("PRV-2").Status != supply.StatusDispensed || u3.Status != supply.StatusActive || u1.Custodian != "" || len(u1.Custody) == 0 {
		t.Fatalf("the units handed over, and only they, are dispensed, still named by no organization: %+v", u1)
	}
	id := r.body["id"].(string)
	read := e.do("GET", "/fhir/MedicationDispense/"+id, e.patientToken(), nil)
	if v := verified(t, read.rawBody); read.status != 200 || v["verified"] != true ||
		!strings.Contains(fmt.Sprint(v["summary"]), "Verified genuine: the 2 serialized unit(s) of Amoxicillin 500 mg") {
		t.Fatalf("the patient's read: %d %s", read.status, read.rawBody)
	}
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("PRV-3", "PRV-1")).outcome(t, 422, "pharm dispensed some of these units before, not all of them together")
	var transfers int
	for _, raw := range e.ledgerTxs() {
		if strings.Contains(string(raw), string(tx.TypeSupplyTransfer)) {
			transfers++
		}
	}
	if transfers != 5 { // a ship and a receive for each commissioning's custody key, one dispense
		t.Fatalf("%d supply.transfer transactions, want 5", transfers)
	}
	assertNoFileHolds(t, filepath.Dir(t.TempDir()), "PRV-")
}
