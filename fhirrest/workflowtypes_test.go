package fhirrest_test

import (
	"testing"

	"github.com/carechain/carechain"
)

// TestWorkflowResourceTypes: the order, specimen, imaging, care and
// coverage types (the desk's) are stored for the patient they name, in the category
// their type or codes give, and found by the parameters the
// CapabilityStatement lists for them.
func TestWorkflowResourceTypes(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	desk := e.registerStaff("hosp-a", "hosp-a/desk", carechain.RoleRegistrationClerk) // billing: the desk's
	for _, c := range []struct {
		typ, body, search, category string
	}{
		{"ServiceRequest", `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p"},
		  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"108252007"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
		  "performer":[{"reference":"Organization/hosp-b"}],"authoredOn":"2027-01-04"}`, "performer=Organization/hosp-b&intent=order&authored=2027-01-04", "lab"},
		{"ServiceRequest", `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/p"},
		  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"363679005"}]}],"code":{"text":"Chest X-ray"}}`, "category=363679005", "imaging"},
		{"Specimen", `{"resourceType":"Specimen","status":"available","subject":{"reference":"Patient/p"},"type":{"text":"Serum"},
		  "accessionIdentifier":{"system":"urn:lab","value":"A-1"},"collection":{"collectedDateTime":"2027-01-04T08:00:00Z"}}`, "accession=urn:lab|A-1&collected=2027-01-04", "lab"},
		{"ImagingStudy", `{"resourceType":"ImagingStudy","status":"available","subject":{"reference":"Patient/p"},"started":"2027-01-04T10:00:00Z",
		  "series":[{"uid":"1.2.3","modality":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"DX"}}]}`, "modality=DX", "imaging"},
		{"CarePlan", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p"},"period":{"start":"2027-01-04"}}`, "intent=plan&date=ge2027-01-01", "general"},
		{"CareTeam", `{"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p"},"participant":[{"member":{"reference":"Practitioner/hosp-a.dr-a"}}]}`, "participant=Practitioner/hosp-a.dr-a", "general"},
		{"Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p"},"payor":[{"reference":"Organization/hosp-b"}]}`, "payor=Organization/hosp-b&status=active", "billing"},
	} {
		tok := tok
		if c.category == "billing" {
			tok = desk
		}
		r := e.do("POST", "/fhir/"+c.typ, tok, []byte(c.body))
		if r.status != 201 {
			t.Errorf("create %s: %d %s", c.typ, r.status, r.rawBody)
			continue
		}
		id := r.body["id"].(string)
		if head, err := e.n.App().Latest().Record(id); err != nil || head.Category != c.category || head.Patient != "patient/p" {
			t.Errorf("%s is stored as %+v (%v), want category %s of patient/p", c.typ, head, err, c.category)
		}
		found := e.do("GET", "/fhir/"+c.typ+"?patient=Patient/p&"+c.search, tok, nil)
		entries, _ := found.body["entry"].([]any)
		if found.status != 200 || len(entries) != 1 || entries[0].(map[string]any)["resource"].(map[string]any)["id"] != id {
			t.Errorf("%s?%s: %d %s", c.typ, c.search, found.status, found.rawBody)
		}
	}
}
