package fhirrest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
)

// patientTagged reports whether a served resource carries the
// patient-reported tag in meta.tag.
func patientTagged(body map[string]any) bool {
	meta, _ := body["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		tag, _ := t.(map[string]any)
		if tag["system"] == fhirrest.TagSystem && tag["code"] == fhirrest.TagPatientReported {
			return true
		}
	}
	return false
}

// performer is the first performer reference of a served Observation, or "".
func performer(body map[string]any) string {
	ps, _ := body["performer"].([]any)
	if len(ps) == 0 {
		return ""
	}
	ref, _ := ps[0].(map[string]any)["reference"].(string)
	return ref
}

// TestPatientReportsAnObservation: a patient logged in by passphrase posts
// an Observation; it is stored in patient-reported whatever its category
// codes and the category header say, and served tagged as patient-authored
// with the patient as performer. A clinician of the patient's registering
// organization reads it once the patient consents (the default role policy
// lets physicians read patient-reported data), and sees the tag too.
func TestPatientReportsAnObservation(t *testing.T) {
	e := setup(t)
	ptok := e.patientToken()
	r := e.do("POST", "/fhir/Observation", ptok, []byte(fmt.Sprintf(glucose, 104)), "X-Carechain-Category", "lab")
	if r.status != 201 {
		t.Fatalf("patient's create: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	if !patientTagged(r.body) || performer(r.body) != "Patient/p" {
		t.Fatalf("created resource not marked patient-authored: %s", r.rawBody)
	}
	head, err := e.n.App().Latest().Record(id)
	if err != nil || head.Category != carechain.CategoryPatientReported || head.Owner != "patient/p" {
		t.Fatalf("stored head %+v, %v: want patient/p's, in %s", head, err, carechain.CategoryPatientReported)
	}
	if r := e.do("GET", "/fhir/Observation/"+id, ptok, nil); r.status != 200 || !patientTagged(r.body) {
		t.Fatalf("patient's read: %d %s", r.status, r.rawBody)
	}

	dr := e.token("hosp-a/dr-a")
	e.do("GET", "/fhir/Observation/"+id, dr, nil).outcome(t, 404, "not found") // no consent yet
	consent := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"Organization/hosp-a"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],
	    "class":[{"system":"urn:carechain:category","code":"` + carechain.CategoryPatientReported + `"}]}}`
	if c := e.do("POST", "/fhir/Consent", ptok, []byte(consent)); c.status != 201 {
		t.Fatalf("consent: %d %s", c.status, c.rawBody)
	}
	r = e.do("GET", "/fhir/Observation/"+id, dr, nil)
	if r.status != 200 || !patientTagged(r.body) || performer(r.body) != "Patient/p" {
		t.Fatalf("clinician's read under consent: %d %s", r.status, r.rawBody)
	}
	prov := e.do("GET", "/fhir/Provenance?target=Observation/"+id, dr, nil)
	entries, _ := prov.body["entry"].([]any)
	if prov.status != 200 || len(entries) != 1 {
		t.Fatalf("provenance: %d %s", prov.status, prov.rawBody)
	}
	agents, _ := entries[0].(map[string]any)["resource"].(map[string]any)["agent"].([]any)
	var author map[string]any
	if len(agents) > 0 {
		author, _ = agents[0].(map[string]any)
	}
	if fmt.Sprint(author["who"]) != "map[reference:Patient/p]" || author["onBehalfOf"] != nil {
		t.Fatalf("provenance of a patient's version: author %v", author)
	}
}

// TestPatientWritesOnlyOwnRecords: a patient's write about another patient
// is 403 and stores nothing; so is a Bundle entry about one. A patient's
// update of a clinician's record is refused by the ledger.
func TestPatientWritesOnlyOwnRecords(t *testing.T) {
	e := setup(t)
	clinical := e.createGlucose(e.token("hosp-a/dr-a"), 90)
	ptok := e.patientToken()
	other := strings.Replace(fmt.Sprintf(glucose, 91), "Patient/p", "Patient/q", 1)
	e.do("POST", "/fhir/Observation", ptok, []byte(other)).outcome(t, 403, "of themselves only")
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":` + other + `}]}`
	if r := e.do("POST", "/fhir", ptok, []byte(bundle)); r.status != 403 {
		t.Fatalf("Bundle about another patient: %d %s", r.status, r.rawBody)
	}
	if r := e.do("PUT", "/fhir/Observation/"+clinical, ptok, glucoseWithID(92, clinical)); r.status != 422 || !strings.Contains(string(r.rawBody), "was not written by patient/p") {
		t.Fatalf("patient's update of a clinician's record: %d %s", r.status, r.rawBody)
	}
	if heads, _ := e.n.App().Latest().PatientRecords("patient/p"); len(heads) != 1 {
		t.Fatalf("refused writes stored %d records", len(heads)-1)
	}
	if h, _ := e.n.App().Latest().Record(clinical); h.Latest != 1 {
		t.Fatalf("the clinician's record is at version %d", h.Latest)
	}
}

// TestClinicianCannotTagPatientReported: a clinician's resource carrying the
// patient-reported tag is stored and served without it, in the category its
// codes say; a clinician's write into patient-reported is refused.
func TestClinicianCannotTagPatientReported(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	tagged := strings.Replace(fmt.Sprintf(glucose, 95), `"status":"final",`,
		`"status":"final","meta":{"tag":[{"system":"`+fhirrest.TagSystem+`","code":"`+fhirrest.TagPatientReported+`"}]},`, 1)
	r := e.do("POST", "/fhir/Observation", tok, []byte(tagged))
	if r.status != 201 || patientTagged(r.body) || performer(r.body) != "" {
		t.Fatalf("clinician's tagged create: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.status != 200 || patientTagged(r.body) {
		t.Fatalf("read back: %d %s", r.status, r.rawBody)
	}
	if h, err := e.n.App().Latest().Record(id); err != nil || h.Category != "lab" || h.PatientAuthored() {
		t.Fatalf("stored head %+v, %v: want a clinician's lab record", h, err)
	}
	r = e.do("POST", "/fhir/Observation", tok, []byte(tagged), "X-Carechain-Category", carechain.CategoryPatientReported)
	if r.status != 422 || !strings.Contains(string(r.rawBody), "written by their patient only") {
		t.Fatalf("clinician's write into %s: %d %s", carechain.CategoryPatientReported, r.status, r.rawBody)
	}
	if heads, _ := e.n.App().Latest().PatientRecords("patient/p"); len(heads) != 1 {
		t.Fatalf("%d records stored, want 1", len(heads))
	}
}
