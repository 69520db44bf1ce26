package fhirrest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

// TestDispensingThroughFHIR: a physician prescribes 30 tablets with one
// refill; the hospital pharmacist dispenses part, the rest, then the
// refill; a dispense past the prescription is a 409 saying what is left;
// a quantity with more than three decimals is a 400; a stopped
// prescription allows nothing more.
func TestDispensingThroughFHIR(t *testing.T) {
	e := setup(t)
	dr := e.token("hosp-a/dr-a")
	ph := e.registerStaff("hosp-a", "hosp-a/pharmacist", carechain.RolePharmacist)
	rx := func(status string) []byte {
		return []byte(`{"resourceType":"MedicationRequest","status":"` + status + `","intent":"order","subject":{"reference":"Patient/p"},
		  "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"197361","display":"Amlodipine 5 MG Oral Tablet"}]},
		  "dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":30,"unit":"tablet"}}}`)
	}
	r := e.do("POST", "/fhir/MedicationRequest", dr, rx("active"))
	if r.status != 201 {
		t.Fatalf("prescribe: %d %s", r.status, r.rawBody)
	}
	rxID := r.body["id"].(string)
	dispense := func(quantity string) response {
		t.Helper()
		return e.do("POST", "/fhir/MedicationDispense", ph, []byte(fmt.Sprintf(`{"resourceType":"MedicationDispense","status":"completed",
		  "subject":{"reference":"Patient/p"},"authorizingPrescription":[{"reference":"MedicationRequest/%s"}],
		  "medicationCodeableConcept":{"text":"Amlodipine 5 mg"},"quantity":{"value":%s,"unit":"tablet"}}`, rxID, quantity)))
	}
	for _, q := range []string{"10", "20", "29.5"} {
		if r := dispense(q); r.status != 201 {
			t.Fatalf("dispense %s: %d %s", q, r.status, r.rawBody)
		}
	}
	if r := dispense("1"); r.status != 409 || !strings.Contains(string(r.rawBody), "60 in all; 59.5 was dispensed, 1 more is past it") {
		t.Errorf("a dispense past the prescription: %d %s", r.status, r.rawBody)
	}
	if r := dispense("0.0001"); r.status != 400 {
		t.Errorf("a quantity of four decimals: %d %s", r.status, r.rawBody)
	}
	if r := dispense("0.5"); r.status != 201 {
		t.Errorf("the last half tablet: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/MedicationDispense?patient=Patient/p&prescription=MedicationRequest/"+rxID, ph, nil); r.status != 200 || r.body["total"] != 4.0 {
		t.Errorf("search of the prescription's dispenses: %d %s", r.status, r.rawBody)
	}
	stopped := strings.Replace(string(rx("stopped")), `{"resourceType":"MedicationRequest",`, `{"resourceType":"MedicationRequest","id":"`+rxID+`",`, 1)
	if r := e.do("PUT", "/fhir/MedicationRequest/"+rxID, dr, []byte(stopped)); r.status != 200 {
		t.Fatalf("stop: %d %s", r.status, r.rawBody)
	}
	if r := dispense("0.5"); r.status != 409 {
		t.Errorf("a dispense of a stopped prescription: %d %s", r.status, r.rawBody)
	}
}
