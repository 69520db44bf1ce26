package fhirrest_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestExportLevelsSinceAndCancel: bulk export at system and Patient-type
// level exports the caller's organization's patients (a patient: itself),
// honours _type and _since, refuses what it cannot do, and a DELETE of the
// status URL ends the job.
func TestExportLevelsSinceAndCancel(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", tok, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	e.createGlucose(tok, 90)
	kickoff := func(tok, path string) (string, response) {
		t.Helper()
		r := e.do("GET", path, tok, nil, "Prefer", "respond-async")
		status := r.header.Get("Content-Location")
		return strings.TrimPrefix(status, e.srv.URL), r
	}
	outputs := func(tok, status string) map[string]float64 {
		t.Helper()
		r := e.do("GET", status, tok, nil)
		if r.status != 200 {
			t.Fatalf("status %s: %d %s", status, r.status, r.rawBody)
		}
		out := map[string]float64{}
		for _, o := range r.body["output"].([]any) {
			m := o.(map[string]any)
			out[m["type"].(string)] = m["count"].(float64)
		}
		return out
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, c := range []struct {
		path string
		want map[string]float64
	}{
		{"/fhir/$export", map[string]float64{"Observation": 1, "Patient": 1}},
		{"/fhir/Patient/$export?_type=Observation", map[string]float64{"Observation": 1}},
		{"/fhir/$export?_outputFormat=application/fhir%2Bndjson&_type=Patient", map[string]float64{"Patient": 1}},
		{"/fhir/$export?_since=" + future, map[string]float64{}},
	} {
		status, r := kickoff(tok, c.path)
		if r.status != 202 || status == "" {
			t.Fatalf("%s: %d %s", c.path, r.status, r.rawBody)
		}
		if got := outputs(tok, status); len(got) != len(c.want) || got["Observation"] != c.want["Observation"] || got["Patient"] != c.want["Patient"] {
			t.Errorf("%s exported %v, want %v", c.path, got, c.want)
		}
	}
	for _, path := range []string{"/fhir/$export?_type=Bogus", "/fhir/$export?_outputFormat=text/csv", "/fhir/$export?foo=1", "/fhir/Patient/$export?_since=yesterday"} {
		if _, r := kickoff(tok, path); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %s", path, r.status, r.rawBody)
		}
	}
	// A patient's system export is their own records.
	_, patientTok, _ := e.login("patient/p", "patient pass")
	status, r := kickoff(patientTok, "/fhir/$export")
	if got := outputs(patientTok, status); r.status != 202 || got["Observation"] != 1 {
		t.Errorf("the patient's export: %d %v", r.status, got)
	}
	// Another caller cannot end it; its owner can, once.
	if r := e.do("DELETE", status, tok, nil); r.status != 404 {
		t.Errorf("another caller's DELETE: %d", r.status)
	}
	if r := e.do("DELETE", status, patientTok, nil); r.status != 202 {
		t.Errorf("DELETE of the status URL: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", status, patientTok, nil); r.status != 404 {
		t.Errorf("status after the DELETE: %d", r.status)
	}
	if r := e.do("DELETE", status, patientTok, nil); r.status != 404 {
		t.Errorf("a second DELETE: %d", r.status)
	}
}
