package fhirrest_test

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/supply"
)

// TestDispenseThroughFHIRIsInTheSupplyExport: the units a completed
// MedicationDispense hands over are in the pharmacy's supply journal, so
// its EPCIS export and queries show the dispensing as they do one made
// with "supply dispense"; a refused dispense adds no event, and no other
// organization's export holds it.
func TestDispenseThroughFHIRIsInTheSupplyExport(t *testing.T) {
	e := setupSupply(t)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	dispensing := func() []supply.Event {
		t.Helper()
		evs, err := e.svc.SupplyEvents(e.principal("pharm/admin"), supply.EventQuery{BizSteps: []string{"dispensing"}})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	if n := len(dispensing()); n != 0 {
		t.Fatalf("%d dispensing events before any dispense", n)
	}
	if r := e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-1", "SNQX-2")); r.status != 201 {
		t.Fatalf("dispense of genuine units: %d %s", r.status, r.rawBody)
	}
	evs := dispensing()
	if len(evs) != 1 || evs[0].Action != supply.ActDispense || evs[0].Org != "pharm" || evs[0].GTIN != supplyGTIN ||
		strings.Join(evs[0].Serials, " ") != "SNQX-1 SNQX-2" {
		t.Fatalf("the pharmacy's dispensing events: %+v", evs)
	}
	e.do("POST", "/fhir/MedicationDispense", ph, dispenseOf("SNQX-R1")).outcome(t, 422, "lot L2 is recalled")
	if n := len(dispensing()); n != 1 {
		t.Fatalf("a refused dispense was journaled: %d dispensing events", n)
	}
	if evs, err := e.svc.SupplyEvents(e.principal("acme/admin"), supply.EventQuery{BizSteps: []string{"dispensing"}}); err != nil || len(evs) != 0 {
		t.Fatalf("acme's dispensing events: %+v %v", evs, err)
	}
}
