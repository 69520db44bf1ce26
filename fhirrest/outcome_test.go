package fhirrest_test

import (
	"testing"
)

// TestMalformedBodyOutcomeIsValid: a body that is not JSON is refused with an
// OperationOutcome that names no element (an R4 string is never empty, and
// there is no element to name), while an invalid element is named.
func TestMalformedBodyOutcomeIsValid(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	r := e.do("POST", "/fhir/Observation", tok, []byte(`{"resourceType": "Observation",`))
	r.outcome(t, 400, "malformed JSON")
	if issue := r.body["issue"].([]any)[0].(map[string]any); issue["expression"] != nil {
		t.Errorf("malformed JSON: the issue names an element: %s", r.rawBody)
	}
	r = e.do("POST", "/fhir/Observation", tok, []byte(`{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`))
	r.outcome(t, 400, "Observation.status")
	if issue := r.body["issue"].([]any)[0].(map[string]any); len(issue["expression"].([]any)) != 1 {
		t.Errorf("invalid status: want the issue to name Observation.status: %s", r.rawBody)
	}
}
