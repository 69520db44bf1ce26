package fhirrest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChainsAndReferenceForms: patient and subject chain to a Patient
// parameter (the patients found through the index, then searched one by
// one); a reference may be an absolute URL of this server or carry its
// type as a modifier.
func TestChainsAndReferenceForms(t *testing.T) {
	e := setupIndexed(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.registerPatientWithKey(ctx, "patient/q")
	tok := e.token("hosp-a/dr-a")
	obsOf := map[string][]string{}
	for i, id := range []string{"p", "q"} {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Okafor"}],"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-%d"}]}`, id, i+1)
		if r := e.do("PUT", "/fhir/Patient/"+id, tok, []byte(body)); r.status != 201 {
			t.Fatalf("put Patient/%s: %d %s", id, r.status, r.rawBody)
		}
		obs := strings.Replace(string(obsWithCode("2345-7", 90+i)), "Patient/p", "Patient/"+id, 1)
		r := e.do("POST", "/fhir/Observation", tok, []byte(obs))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.rawBody)
		}
		obsOf[id] = append(obsOf[id], r.body["id"].(string))
	}
	both := slices.Sorted(slices.Values(append(slices.Clone(obsOf["p"]), obsOf["q"]...)))
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"patient.identifier=MRN-1", obsOf["p"]},
		{"subject:Patient.identifier=urn:hosp-a:mrn|MRN-2", obsOf["q"]},
		{"patient.family=okafor&code=http://loinc.org|2345-7", both},
		{"patient.identifier=MRN-9", nil},
		{"subject:Patient=p", obsOf["p"]},
		{"patient=" + e.srv.URL + "/fhir/Patient/q", obsOf["q"]},
	} {
		r := e.do("GET", "/fhir/Observation?"+c.query, tok, nil)
		var got []string
		entries, _ := r.body["entry"].([]any)
		for _, en := range entries {
			got = append(got, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		if slices.Sort(got); r.status != 200 || !slices.Equal(got, c.want) {
			t.Errorf("%s: %d %v, want %v: %s", c.query, r.status, got, c.want, r.rawBody)
		}
	}
	for _, q := range []string{"patient.nope=1", "performer.identifier=x", "patient.identifier=MRN-1&patient=Patient/p", "patient.name.family=x"} {
		if r := e.do("GET", "/fhir/Observation?"+q, tok, nil); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %s", q, r.status, r.rawBody)
		}
	}
}
