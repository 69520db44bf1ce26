package fhirrest_test

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

// TestAppointmentSupportingInfoSearch: a follow-up Appointment names the
// Encounter it follows in supportingInformation; Appointment?supporting-info=
// finds it (as Encounter/<id> or the id alone) and not the patient's other
// appointments, and the CapabilityStatement lists the parameter.
func TestAppointmentSupportingInfoSearch(t *testing.T) {
	e := setup(t)
	tok := e.registerStaff("hosp-a", "hosp-a/desk", carechain.RoleRegistrationClerk)
	appt := func(extra string) string {
		t.Helper()
		r := e.do("POST", "/fhir/Appointment", tok, []byte(`{"resourceType":"Appointment","status":"proposed",`+extra+
			`"participant":[{"actor":{"reference":"Patient/p"},"status":"needs-action"}]}`))
		if r.status != 201 {
			t.Fatalf("create Appointment: %d %s", r.status, r.rawBody)
		}
		return r.body["id"].(string)
	}
	followUp := appt(`"supportingInformation":[{"reference":"Encounter/enc-1"}],`)
	other := appt(`"supportingInformation":[{"reference":"CarePlan/plan-1"}],`)
	plain := appt("")
	for _, q := range []string{"Encounter/enc-1", "enc-1"} {
		r := e.do("GET", "/fhir/Appointment?patient=Patient/p&supporting-info="+q, tok, nil)
		if r.status != 200 || r.body["total"] != 1.0 || !strings.Contains(string(r.rawBody), followUp) ||
			strings.Contains(string(r.rawBody), other) || strings.Contains(string(r.rawBody), plain) {
			t.Errorf("supporting-info=%s: %d %s", q, r.status, r.rawBody)
		}
	}
	if r := e.do("GET", "/fhir/Appointment?patient=Patient/p&supporting-info=CarePlan/plan-1", tok, nil); r.body["total"] != 1.0 ||
		!strings.Contains(string(r.rawBody), other) {
		t.Errorf("supporting-info=CarePlan/plan-1: %d %s", r.status, r.rawBody)
	}
	listed := false
	for _, c := range e.capabilities() {
		for _, sp := range c.SearchParam {
			listed = listed || c.Type == "Appointment" && sp.Name == "supporting-info" && sp.Type == "reference"
		}
	}
	if !listed {
		t.Errorf("the CapabilityStatement does not list Appointment's supporting-info")
	}
}
