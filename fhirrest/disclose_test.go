package fhirrest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestUnreadableIsAbsent: a caller who may not read a record learns nothing
// of it. Every interaction that looks a record up answers such a caller
// exactly as it answers for an id that does not exist: the same status and
// the same body (which does not echo the id). The refusal is still in the
// patient's access log, and nothing is written.
func TestUnreadableIsAbsent(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 95)
	if r := e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(96, id)); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	// dr-b, of another hospital, has no grant. The node signs for dr-b, so
	// its writes get past the signing-key check to the record.
	e.cust.Add("hosp-b/dr-b", e.keys["hosp-b/dr-b"])
	other := e.token("hosp-b/dr-b")
	condition := func(id string) []byte {
		return []byte(`{"resourceType":"Condition","id":"` + id + `","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`)
	}
	bundle := func(id string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"PUT","url":"Observation/` + id +
			`"},"resource":` + string(glucoseWithID(97, id)) + `}]}`)
	}
	cases := []struct {
		name, method, path string // path: {id} is the record id, {patient} the patient
		body               func(id string) []byte
		hdr                []string
		logged             bool // the refusal is an access event
	}{
		{"read", "GET", "/fhir/Observation/{id}", nil, nil, true},
		{"read as another type", "GET", "/fhir/Condition/{id}", nil, nil, true},
		{"vread", "GET", "/fhir/Observation/{id}/_history/1", nil, nil, true},
		{"vread of a later version", "GET", "/fhir/Observation/{id}/_history/9", nil, nil, true},
		{"history", "GET", "/fhir/Observation/{id}/_history", nil, nil, true},
		{"update with If-Match", "PUT", "/fhir/Observation/{id}", func(id string) []byte { return glucoseWithID(98, id) }, []string{"If-Match", `W/"2"`}, true},
		{"update with a stale If-Match", "PUT", "/fhir/Observation/{id}", func(id string) []byte { return glucoseWithID(98, id) }, []string{"If-Match", `W/"1"`}, true},
		{"update as another type", "PUT", "/fhir/Condition/{id}", condition, []string{"If-Match", `W/"2"`}, true},
		{"delete", "DELETE", "/fhir/Observation/{id}", nil, nil, true},
		{"conditional create", "POST", "/fhir/Observation", func(string) []byte { return []byte(fmt.Sprintf(glucose, 99)) }, []string{"If-None-Exist", "_id={id}"}, false},
		{"provenance", "GET", "/fhir/Provenance?target=Observation/{id}", nil, nil, true},
		{"$everything", "GET", "/fhir/Patient/{patient}/$everything", nil, nil, true},
		{"patient export", "GET", "/fhir/Patient/{patient}/$export", nil, []string{"Prefer", "respond-async"}, true},
		{"access log", "GET", "/fhir/AuditEvent?patient=Patient/{patient}", nil, nil, false},
	}
	request := func(c int, recordID, patient string) response {
		t.Helper()
		var body []byte
		if cases[c].body != nil {
			body = cases[c].body(recordID)
		}
		fill := strings.NewReplacer("{id}", recordID, "{patient}", patient)
		hdr := append([]string(nil), cases[c].hdr...)
		for i := range hdr {
			hdr[i] = fill.Replace(hdr[i])
		}
		return e.do(cases[c].method, fill.Replace(cases[c].path), other, body, hdr...)
	}
	for i, c := range cases {
		before := e.svc.Pending()
		got := request(i, id, "p")
		logged := e.svc.Pending() > before
		absent := request(i, "rec-absent", "nobody")
		if got.status != absent.status || !bytes.Equal(got.rawBody, absent.rawBody) {
			t.Errorf("%s: unreadable record: %d %.200s\nabsent one: %d %.200s", c.name, got.status, got.rawBody, absent.status, absent.rawBody)
		}
		if strings.Contains(string(got.rawBody), id) {
			t.Errorf("%s: the answer echoes the id: %.200s", c.name, got.rawBody)
		}
		if c.logged && !logged {
			t.Errorf("%s: the refusal is not in the patient's access log", c.name)
		}
	}
	// Update as create and a batch entry cannot create a record whose id is
	// taken: they answer what a read of an absent record answers.
	absent := e.do("GET", "/fhir/Observation/rec-absent", other, nil)
	if r := e.do("PUT", "/fhir/Observation/"+id, other, glucoseWithID(98, id)); r.status != absent.status || !bytes.Equal(r.rawBody, absent.rawBody) {
		t.Errorf("update without If-Match: %d %.200s, want %d %.200s", r.status, r.rawBody, absent.status, absent.rawBody)
	}
	if r := e.do("POST", "/fhir", other, bundle(id)); r.status != 200 || strings.Contains(string(r.rawBody), id) || !strings.Contains(string(r.rawBody), "404") {
		t.Errorf("batch entry: %d %.300s", r.status, r.rawBody)
	}
	if h, _ := e.n.App().Latest().Record(id); h.Latest != 2 || h.Deleted {
		t.Fatalf("refused requests changed the record: %+v", h)
	}
}
