package fhirrest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
)

// mergeParams is $merge's Parameters.
func mergeParams(source, target string, decline bool) []byte {
	extra := ""
	if decline {
		extra = `,{"name":"decline","valueBoolean":true}`
	}
	return []byte(fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"source-patient","valueReference":{"reference":%q}},`+
		`{"name":"target-patient","valueReference":{"reference":%q}}%s]}`, source, target, extra))
}

// links is Patient.link of a Patient, as "type other" strings.
func links(body map[string]any) []string {
	var out []string
	ls, _ := body["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		out = append(out, m["type"].(string)+" "+m["other"].(map[string]any)["reference"].(string))
	}
	return out
}

// TestMergeDuplicatePatient: q is p registered twice. hosp-a's clerk
// proposes through Patient/$merge that q is a duplicate of p; the person
// accepts as p, then approves as q, each signed with that identity's key.
// Only then is q replaced: its Patient says replaced-by p, p's says
// replaces q, p reads q's records, a write for q is refused naming p, and
// a search by q's identifier finds q with its link. Refusals change nothing.
func TestMergeDuplicatePatient(t *testing.T) {
	e := setupIndexed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q := e.registerPatientWithKey(ctx, "patient/q")
	e.cust.Add("patient/p", e.keys["patient/p"])
	e.cust.Add(q.ID, q.Key)
	drA, pTok, qTok := e.token("hosp-a/dr-a"), e.token("patient/p"), e.token("patient/q")
	clerk := e.registerStaff("hosp-a", "hosp-a/clerk", carechain.RoleRegistrationClerk)
	for i, id := range []string{"p", "q"} {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Okafor","given":["Ngozi"]}],"birthDate":"1975-02-03",
			"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-%d"}]}`, id, i+1)
		if r := e.do("PUT", "/fhir/Patient/"+id, clerk, []byte(body)); r.status != 201 {
			t.Fatalf("put Patient/%s: %d %s", id, r.status, r.rawBody)
		}
	}
	qGlucose := strings.Replace(fmt.Sprintf(glucose, 101), "Patient/p", "Patient/q", 1)
	if r := e.do("POST", "/fhir/Observation", drA, []byte(qGlucose)); r.status != 201 {
		t.Fatalf("q's observation: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/q", pTok, nil); r.status == 200 && r.body["total"].(float64) != 0 {
		t.Fatalf("p reads q's records before any merge: %s", r.rawBody)
	}

	for _, c := range []struct {
		name, tok string
		body      []byte
		status    int
		mention   string
	}{
		{"a physician proposes", drA, mergeParams("Patient/q", "Patient/p", false), 422, "needs an admin or registration-clerk"},
		{"same patient", clerk, mergeParams("Patient/q", "Patient/q", false), 422, "not a duplicate of themself"},
		{"unknown patient", clerk, mergeParams("Patient/q", "Patient/nobody", false), 422, "is not a registered patient"},
		{"no target", clerk, []byte(`{"resourceType":"Parameters","parameter":[{"name":"source-patient","valueReference":{"reference":"Patient/q"}}]}`), 400, "target-patient are required"},
		{"nothing proposed", qTok, mergeParams("Patient/q", "Patient/p", false), 422, "no merge of patient/q is proposed"},
	} {
		e.do("POST", "/fhir/Patient/$merge", c.tok, c.body).outcome(t, c.status, c.mention)
	}

	e.do("POST", "/fhir/Patient/$merge", clerk, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 200, "proposed")
	e.do("POST", "/fhir/Patient/$merge", qTok, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 422, "patient/p accepts the merge first")
	e.do("POST", "/fhir/Patient/$merge", clerk, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 409, "already has a merge into patient/p (proposed)")
	r3 := e.registerPatientWithKey(ctx, "patient/r")
	e.cust.Add(r3.ID, r3.Key)
	e.do("POST", "/fhir/Patient/$merge", e.token(r3.ID), mergeParams("Patient/q", "Patient/p", false)).outcome(t, 403, "only the two patients answer their merge")
	e.do("POST", "/fhir/Patient/$merge", clerk, mergeParams("Patient/q", "Patient/p", true)).outcome(t, 400, "only the patient declines a merge")
	e.do("POST", "/fhir/Patient/$merge", pTok, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 200, "accepted")
	if r := e.do("GET", "/fhir/Patient/q", drA, nil); r.status != 200 || len(links(r.body)) != 0 {
		t.Fatalf("q linked before its own signature: %d %s", r.status, r.rawBody)
	}
	e.do("POST", "/fhir/Patient/$merge", qTok, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 200, "done")

	if r := e.do("GET", "/fhir/Patient/q", pTok, nil); r.status != 200 || strings.Join(links(r.body), ",") != "replaced-by Patient/p" {
		t.Fatalf("Patient/q read by p: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Patient/p", drA, nil); r.status != 200 || strings.Join(links(r.body), ",") != "replaces Patient/q" {
		t.Fatalf("Patient/p: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/q", pTok, nil); r.status != 200 || r.body["total"].(float64) != 1 {
		t.Fatalf("p reads q's records: %d %s", r.status, r.rawBody)
	}
	e.do("POST", "/fhir/Observation", drA, []byte(qGlucose)).outcome(t, 409, "patient/q was merged into patient/p, which replaces it")
	e.do("POST", "/fhir/Patient/$merge", clerk, mergeParams("Patient/q", "Patient/p", false)).outcome(t, 409, "a merge is never undone")
	e.do("POST", "/fhir/Patient/$merge", qTok, mergeParams("Patient/q", "Patient/p", true)).outcome(t, 409, "a merge is never undone")
	r := e.do("GET", "/fhir/Patient?identifier=MRN-2", clerk, nil)
	entries, _ := r.body["entry"].([]any)
	if r.status != 200 || len(entries) != 1 {
		t.Fatalf("search by q's MRN: %d %s", r.status, r.rawBody)
	}
	if got := links(entries[0].(map[string]any)["resource"].(map[string]any)); strings.Join(got, ",") != "replaced-by Patient/p" {
		t.Fatalf("q found by its MRN without its link: %v", got)
	}
}

// TestMergeInCapabilityStatement: $merge is listed on Patient, and served.
func TestMergeInCapabilityStatement(t *testing.T) {
	e := setup(t)
	r := e.do("GET", "/fhir/metadata", "", nil)
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type      string `json:"type"`
				Operation []struct{ Name, Definition string }
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(r.rawBody, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v %s", err, r.rawBody)
	}
	listed := false
	for _, res := range cs.Rest[0].Resource {
		for _, op := range res.Operation {
			if op.Name == "merge" {
				listed = res.Type == "Patient" && op.Definition == "http://hl7.org/fhir/OperationDefinition/Patient-merge"
			}
		}
	}
	if !listed {
		t.Fatal("the CapabilityStatement does not list Patient $merge")
	}
	e.do("POST", "/fhir/Patient/$merge", e.token("hosp-a/dr-a"), []byte(`{"resourceType":"Parameters"}`)).outcome(t, 400, "source-patient and target-patient are required")
}
