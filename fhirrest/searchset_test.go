package fhirrest_test

import (
	"testing"
)

// TestEmptySearchsetHasNoEntryArray: a search that matches nothing answers
// a Bundle with total 0 and no entry property, since R4's JSON format has
// no empty arrays (an independent validator flags "entry": []).
func TestEmptySearchsetHasNoEntryArray(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	for _, path := range []string{
		"/fhir/Observation?patient=Patient/p&code=http://loinc.org|0000-0", // the patient's records
		"/fhir/Observation/_history?patient=Patient/p",                     // a history
		"/fhir/Practitioner?name=nobody",                                   // a view of the ledger
	} {
		r := e.do("GET", path, tok, nil)
		if r.status != 200 || r.body["resourceType"] != "Bundle" || r.body["total"] != 0.0 {
			t.Fatalf("GET %s: want an empty Bundle, got %d %s", path, r.status, r.rawBody)
		}
		if _, ok := r.body["entry"]; ok {
			t.Errorf("GET %s: an empty Bundle has an entry property: %s", path, r.rawBody)
		}
	}
	if r := e.do("GET", "/fhir/Consent", e.patientToken(), nil); r.status != 200 || r.body["entry"] != nil {
		t.Errorf("GET /fhir/Consent: want a Bundle without entry, got %d %s", r.status, r.rawBody)
	}
}

// TestSearchByIDAlternatives: _id=a,b finds both resources, as comma-separated
// values of every other search parameter are alternatives.
func TestSearchByIDAlternatives(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	a, b := e.createGlucose(tok, 90), e.createGlucose(tok, 95)
	e.createGlucose(tok, 99)
	r := e.do("GET", "/fhir/Observation?patient=Patient/p&_id="+a+","+b, tok, nil)
	if r.status != 200 || r.body["total"] != 2.0 {
		t.Fatalf("_id=%s,%s: want both, got %d %s", a, b, r.status, r.rawBody)
	}
}

// TestViewSearchEntriesHaveFullURL: R4 requires a fullUrl on every entry of a
// searchset, including the searches of ledger views (Practitioner, Consent…).
func TestViewSearchEntriesHaveFullURL(t *testing.T) {
	e := setup(t)
	r := e.do("GET", "/fhir/Practitioner", e.token("hosp-a/dr-a"), nil)
	entries, _ := r.body["entry"].([]any)
	if r.status != 200 || len(entries) == 0 {
		t.Fatalf("GET /fhir/Practitioner: %d %s", r.status, r.rawBody)
	}
	for _, en := range entries {
		en := en.(map[string]any)
		id := en["resource"].(map[string]any)["id"].(string)
		if en["fullUrl"] != e.srv.URL+"/fhir/Practitioner/"+id {
			t.Errorf("entry of Practitioner/%s: fullUrl %v", id, en["fullUrl"])
		}
	}
}
