package fhirrest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

func TestFHIRInteractions(t *testing.T) {
	e := setup(t)
	meta := e.do("GET", "/fhir/metadata", "", nil)
	if meta.status != 200 || meta.body["fhirVersion"] != "4.0.1" || meta.body["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %s", meta.status, meta.rawBody)
	}
	e.do("GET", "/fhir/Observation?patient=Patient/p", "", nil).outcome(t, 401, "bearer token")

	tok := e.token("hosp-a/dr-a")
	created := e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 95)))
	if created.status != 201 || created.header.Get("ETag") != `W/"1"` || !strings.Contains(created.header.Get("Location"), "/_history/1") {
		t.Fatalf("create: %d %v %s", created.status, created.header, created.rawBody)
	}
	id := created.body["id"].(string)
	if m := created.body["meta"].(map[string]any); m["versionId"] != "1" {
		t.Fatalf("meta %v", m)
	}
	read := e.do("GET", "/fhir/Observation/"+id, tok, nil)
	if read.status != 200 || read.body["valueQuantity"].(map[string]any)["value"] != 95.0 || read.header.Get("Last-Modified") == "" {
		t.Fatalf("read: %d %s", read.status, read.rawBody)
	}
	upd := glucoseWithID(101, id)
	if r := e.do("PUT", "/fhir/Observation/"+id, tok, upd, "If-Match", `W/"1"`); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	e.do("PUT", "/fhir/Observation/"+id, tok, upd, "If-Match", `W/"1"`).outcome(t, 412, "version 2")
	if r := e.do("GET", "/fhir/Observation/"+id+"/_history/1", tok, nil); r.status != 200 || r.body["valueQuantity"].(map[string]any)["value"] != 95.0 {
		t.Fatalf("vread: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation/"+id+"/_history", tok, nil); r.status != 200 || r.body["total"] != 2.0 || r.body["type"] != "history" {
		t.Fatalf("history: %d %s", r.status, r.rawBody)
	}
	for _, c := range []struct {
		query string
		total float64
	}{
		{"patient=Patient/p", 1}, {"subject=Patient/p&code=http://loinc.org|2345-7", 1}, {"patient=Patient/p&code=9999-9", 0},
		{"patient=Patient/p&category=laboratory", 1}, {"patient=Patient/p&_id=" + id, 1},
	} {
		if r := e.do("GET", "/fhir/Observation?"+c.query, tok, nil); r.status != 200 || r.body["total"] != c.total || r.body["type"] != "searchset" {
			t.Fatalf("search %s: %d %s", c.query, r.status, r.rawBody)
		}
	}
	e.do("GET", "/fhir/Observation", tok, nil).outcome(t, 400, "patient=")

	// Errors: invalid resource, unknown, unsupported, too large.
	invalid := []byte(`{"resourceType":"Observation","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`)
	e.do("POST", "/fhir/Observation", tok, invalid).outcome(t, 400, "Observation.status")
	e.do("GET", "/fhir/Observation/nope", tok, nil).outcome(t, 404, "not found")
	e.do("GET", "/fhir/Basic?patient=Patient/p", tok, nil).outcome(t, 404, "not supported")
	e.do("POST", "/fhir/Observation", tok, bytes.Repeat([]byte("x"), fhirrest.MaxBody+1)).outcome(t, 413, "over")
	e.do("POST", "/fhir/Observation", tok, []byte(`{"resourceType":"Condition"}`)).outcome(t, 400, "does not match")
	if h, _ := e.n.App().Latest().Record(id); h.Latest != 2 {
		t.Fatalf("a failed request changed the record: %+v", h)
	}

	// A request without a token is refused, and the patient's log says so.
	before := e.svc.Pending()
	e.do("GET", "/fhir/Observation/"+id, "", nil).outcome(t, 401, "bearer token")
	if e.svc.Pending() != before+1 {
		t.Fatalf("the refused request left no access event (%d -> %d)", before, e.svc.Pending())
	}
	// Another hospital's physician has no consent: to them the record is
	// absent (the reason is in the patient's access log).
	other := e.token("hosp-b/dr-b")
	e.do("GET", "/fhir/Observation/"+id, other, nil).outcome(t, 404, "not found")
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", other, nil); r.status != 200 || r.body["total"] != 0.0 {
		t.Fatalf("search without consent: %d %s", r.status, r.rawBody)
	}
	// Writes need a key this node keeps.
	e.do("POST", "/fhir/Observation", other, []byte(fmt.Sprintf(glucose, 90))).outcome(t, 403, "signing key")

	// The patient logs in with a passphrase and reads their own record.
	if status, _, _ := e.login("patient/p", "wrong"); status != 401 {
		t.Fatalf("wrong passphrase: %d", status)
	}
	status, ptok, ref := e.login("patient/p", "patient pass")
	if status != 200 || ref != "Patient/p" {
		t.Fatalf("login: %d %q", status, ref)
	}
	if r := e.do("GET", "/fhir/Observation", ptok, nil); r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("patient's own search: %d %s", r.status, r.rawBody)
	}
}

func TestTokenEndpointRejectsBadAssertions(t *testing.T) {
	e := setup(t)
	aud := e.srv.URL + "/auth/token"
	good := e.assertion("hosp-a/dr-a", e.keys["hosp-a/dr-a"], aud)
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	}
	if code, _ := e.tokenFor(form(good)); code != 200 {
		t.Fatalf("good assertion: %d", code)
	}
	cases := map[string]url.Values{
		"replayed jti":      form(good),
		"wrong key":         form(e.assertion("hosp-a/dr-a", newKey(), aud)),
		"wrong audience":    form(e.assertion("hosp-a/dr-a", e.keys["hosp-a/dr-a"], "https://elsewhere/token")),
		"unknown principal": form(e.assertion("hosp-a/ghost", newKey(), aud)),
		"not a JWT":         form("abc.def.ghi"),
		"wrong grant type":  {"grant_type": {"password"}},
	}
	for name, f := range cases {
		if code, tok := e.tokenFor(f); code == 200 || tok != "" {
			t.Errorf("%s: got a token (HTTP %d)", name, code)
		}
	}
}

func TestBundlesEverythingAndConditionalCreate(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	count := func() int {
		hs, err := e.n.App().Latest().PatientRecords("patient/p")
		if err != nil {
			t.Fatal(err)
		}
		return len(hs)
	}
	entry := func(method, url, resource string) string {
		return fmt.Sprintf(`{"request":{"method":%q,"url":%q},"resource":%s}`, method, url, resource)
	}
	bundleOf := func(typ string, entries ...string) []byte {
		return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[%s]}`, typ, strings.Join(entries, ",")))
	}
	good1, good2 := fmt.Sprintf(glucose, 80), fmt.Sprintf(glucose, 85)
	bad := `{"resourceType":"Observation","code":{"text":"no status"},"subject":{"reference":"Patient/p"}}`

	// A transaction with one bad entry commits nothing.
	e.do("POST", "/fhir", tok, bundleOf("transaction", entry("POST", "Observation", good1), entry("POST", "Observation", bad))).outcome(t, 400, "entry 1")
	if n := count(); n != 0 {
		t.Fatalf("failed transaction left %d records", n)
	}
	r := e.do("POST", "/fhir", tok, bundleOf("transaction", entry("POST", "Observation", good1), entry("POST", "Observation", good2)))
	if r.status != 200 || r.body["type"] != "transaction-response" || len(r.body["entry"].([]any)) != 2 || count() != 2 {
		t.Fatalf("transaction: %d %s (records %d)", r.status, r.rawBody, count())
	}
	// Both entries landed in one block: one ledger transaction.
	heads, _ := e.n.App().Latest().PatientRecords("patient/p")
	v0, _ := e.n.App().Latest().RecordVersion(heads[0].RecordID, 1)
	v1, _ := e.n.App().Latest().RecordVersion(heads[1].RecordID, 1)
	if v0.Height != v1.Height {
		t.Fatalf("transaction entries at heights %d and %d", v0.Height, v1.Height)
	}
	// A batch commits what it can and reports each entry.
	r = e.do("POST", "/fhir/", tok, bundleOf("batch", entry("POST", "Observation", good1), entry("POST", "Observation", bad)))
	entries, _ := r.body["entry"].([]any)
	if r.status != 200 || r.body["type"] != "batch-response" || len(entries) != 2 || count() != 3 {
		t.Fatalf("batch: %d %s", r.status, r.rawBody)
	}
	if st := entries[1].(map[string]any)["response"].(map[string]any)["status"]; st != "400 Bad Request" {
		t.Fatalf("bad batch entry status %v", st)
	}

	// $everything returns what the caller may read.
	if r := e.do("GET", "/fhir/Patient/p/$everything", tok, nil); r.status != 200 || r.body["total"] != 3.0 {
		t.Fatalf("$everything: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Patient/p/$everything", e.token("hosp-b/dr-b"), nil).outcome(t, 404, "not found") // nothing readable

	// Conditional create: the second POST finds the first.
	hr := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p"},"valueQuantity":{"value":61,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`
	cond := "patient=Patient/p&code=http://loinc.org|8867-4"
	first := e.do("POST", "/fhir/Observation", tok, []byte(hr), "If-None-Exist", cond)
	second := e.do("POST", "/fhir/Observation", tok, []byte(hr), "If-None-Exist", cond)
	if first.status != 201 || second.status != 200 || first.body["id"] != second.body["id"] || count() != 4 {
		t.Fatalf("conditional create: %d then %d, ids %v %v, %d records", first.status, second.status, first.body["id"], second.body["id"], count())
	}
}

func TestViews(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	created := e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 90)))
	if created.status != 201 {
		t.Fatalf("create: %s", created.rawBody)
	}
	id := created.body["id"].(string)
	if r := e.do("GET", "/fhir/Practitioner/hosp-a.dr-a", tok, nil); r.status != 200 || r.body["id"] != "hosp-a.dr-a" {
		t.Fatalf("practitioner: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/PractitionerRole?organization=hosp-b", tok, nil); r.status != 200 || r.body["total"] != 2.0 {
		t.Fatalf("roles of hosp-b: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Organization/hosp-b", tok, nil); r.status != 200 || r.body["name"] != "hosp-b" {
		t.Fatalf("organization: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Practitioner/patient.p", tok, nil).outcome(t, 404, "not found")
	if r := e.do("GET", "/fhir/Provenance?target=Observation/"+id, tok, nil); r.status != 200 || !strings.Contains(string(r.rawBody), "Practitioner/hosp-a.dr-a") {
		t.Fatalf("provenance: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Provenance?target=Observation/"+id, e.token("hosp-b/dr-b"), nil).outcome(t, 404, "not found")
	// The patient sees their access log as AuditEvents; others may not.
	ptok := e.patientToken()
	e.do("GET", "/fhir/AuditEvent?patient=Patient/p", tok, nil).outcome(t, 403, "only the patient")
	if r := e.do("GET", "/fhir/Consent", ptok, nil); r.status != 200 || r.body["total"] != 0.0 {
		t.Fatalf("consents: %d %s", r.status, r.rawBody)
	}
}

func TestSearchParameters(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	obs := func(code string, value int, date string) {
		body := fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},
			"subject":{"reference":"Patient/p"},"effectiveDateTime":%q,"valueQuantity":{"value":%d}}`, code, date, value)
		if r := e.do("POST", "/fhir/Observation", tok, []byte(body)); r.status != 201 {
			t.Fatalf("create: %s", r.rawBody)
		}
	}
	obs("8867-4", 60, "2026-01-10T08:00:00Z")
	obs("8867-4", 70, "2026-03-10T08:00:00Z")
	obs("2345-7", 90, "2026-02-10T08:00:00+02:00")
	patient := `{"resourceType":"Patient","id":"p","name":[{"family":"Okonkwo","given":["Ada"]}],"gender":"female","birthDate":"1980-05-17",
		"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-1"}]}`
	if r := e.do("PUT", "/fhir/Patient/p", tok, []byte(patient)); r.status != 201 {
		t.Fatalf("put patient: %d %s", r.status, r.rawBody)
	}
	cases := []struct {
		path  string
		total float64
	}{
		{"/fhir/Observation?patient=Patient/p&date=ge2026-02-01", 2},
		{"/fhir/Observation?patient=Patient/p&date=lt2026-02-01", 1},
		{"/fhir/Observation?patient=Patient/p&date=eq2026-02", 1},
		{"/fhir/Observation?patient=Patient/p&code=8867-4,2345-7", 3},
		{"/fhir/Observation?patient=Patient/p&code=8867-4&date=gt2026-02-01", 1},
		{"/fhir/Observation?patient=Patient/p&_lastUpdated=ge2020-01-01", 3},
		{"/fhir/Patient?_id=p&family=okon", 1},
		{"/fhir/Patient?_id=p&given=Ad&gender=female&birthdate=1980-05-17", 1},
		{"/fhir/Patient?_id=p&identifier=urn:hosp-a:mrn|MRN-1", 1},
		{"/fhir/Patient?_id=p&identifier=urn:other|MRN-1", 0},
		{"/fhir/Patient?_id=p&name=smith", 0},
	}
	for _, c := range cases {
		if r := e.do("GET", c.path, tok, nil); r.status != 200 || r.body["total"] != c.total {
			t.Errorf("%s: %d, total %v, want %v", c.path, r.status, r.body["total"], c.total)
		}
	}
	// Paging and sorting.
	r := e.do("GET", "/fhir/Observation?patient=Patient/p&_sort=-date&_count=2", tok, nil)
	entries := r.body["entry"].([]any)
	first := entries[0].(map[string]any)["resource"].(map[string]any)["effectiveDateTime"]
	var next string
	for _, l := range r.body["link"].([]any) {
		if l.(map[string]any)["relation"] == "next" {
			next = l.(map[string]any)["url"].(string)
		}
	}
	if len(entries) != 2 || first != "2026-03-10T08:00:00Z" || next == "" {
		t.Fatalf("page 1: %d entries, first %v, next %q", len(entries), first, next)
	}
	r = e.do("GET", strings.TrimPrefix(next, e.srv.URL), tok, nil)
	if entries := r.body["entry"].([]any); len(entries) != 1 || r.body["total"] != 3.0 {
		t.Fatalf("page 2: %s", r.rawBody)
	}
	// _count=0 asks for the total alone: no entries, and no next link
	// (one would not advance).
	r = e.do("GET", "/fhir/Observation?patient=Patient/p&_count=0", tok, nil)
	if r.body["total"] != 3.0 || r.body["entry"] != nil && len(r.body["entry"].([]any)) > 0 || strings.Contains(string(r.rawBody), `"next"`) {
		t.Fatalf("_count=0: %s", r.rawBody)
	}
	e.do("GET", "/fhir/Observation?patient=Patient/p&foo=bar", tok, nil).outcome(t, 400, "foo")
	e.do("GET", "/fhir/Observation?patient=Patient/p&_sort=value-of", tok, nil).outcome(t, 400, "_sort")
}

func TestDeleteIsANewVersion(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 77)
	if r := e.do("DELETE", "/fhir/Observation/"+id, tok, nil); r.status != 204 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("delete: %d %v %s", r.status, r.header, r.rawBody)
	}
	e.do("GET", "/fhir/Observation/"+id, tok, nil).outcome(t, 410, "deleted")
	if r := e.do("GET", "/fhir/Observation/"+id+"/_history/1", tok, nil); r.status != 200 || r.body["valueQuantity"].(map[string]any)["value"] != 77.0 {
		t.Fatalf("old version after delete: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", tok, nil); r.body["total"] != 0.0 {
		t.Fatalf("search finds a deleted resource: %s", r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation/"+id+"/_history", tok, nil); r.body["total"] != 2.0 || !strings.Contains(string(r.rawBody), "204 No Content") {
		t.Fatalf("history: %s", r.rawBody)
	}
	if r := e.do("DELETE", "/fhir/Observation/"+id, tok, nil); r.status != 204 {
		t.Fatalf("second delete: %d", r.status)
	}
	if vs, _ := e.n.App().Latest().RecordVersions(id); len(vs) != 2 {
		t.Fatalf("%d versions after two deletes", len(vs))
	}
}

func TestBulkExport(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	for v := range 3 {
		e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 80+v)))
	}
	e.do("GET", "/fhir/Patient/p/$export", tok, nil).outcome(t, 400, "respond-async")
	kick := e.do("GET", "/fhir/Patient/p/$export", tok, nil, "Prefer", "respond-async")
	status := kick.header.Get("Content-Location")
	if kick.status != 202 || status == "" {
		t.Fatalf("kick-off: %d %v", kick.status, kick.header)
	}
	m := e.do("GET", strings.TrimPrefix(status, e.srv.URL), tok, nil)
	out, _ := m.body["output"].([]any)
	if m.status != 200 || len(out) != 1 || out[0].(map[string]any)["type"] != "Observation" || out[0].(map[string]any)["count"] != 3.0 {
		t.Fatalf("manifest: %d %s", m.status, m.rawBody)
	}
	file := e.do("GET", strings.TrimPrefix(out[0].(map[string]any)["url"].(string), e.srv.URL), tok, nil)
	if lines := strings.Split(strings.TrimSpace(string(file.rawBody)), "\n"); file.status != 200 || len(lines) != 3 || !strings.Contains(lines[0], `"resourceType":"Observation"`) {
		t.Fatalf("ndjson: %d %q", file.status, file.rawBody)
	}
	// A group is an organization's patients.
	gk := e.do("GET", "/fhir/Group/hosp-a/$export", tok, nil, "Prefer", "respond-async")
	if gk.status != 202 {
		t.Fatalf("group kick-off: %d %s", gk.status, gk.rawBody)
	}
	gm := e.do("GET", strings.TrimPrefix(gk.header.Get("Content-Location"), e.srv.URL), tok, nil)
	if out, _ := gm.body["output"].([]any); len(out) != 1 || out[0].(map[string]any)["count"] != 3.0 {
		t.Fatalf("group manifest: %s", gm.rawBody)
	}
	e.do("GET", "/fhir/Group/nowhere/$export", tok, nil, "Prefer", "respond-async").outcome(t, 404, "Group/nowhere")
	// Another caller cannot see the job; one without consent cannot export.
	other := e.token("hosp-b/dr-b")
	e.do("GET", strings.TrimPrefix(status, e.srv.URL), other, nil).outcome(t, 404, "no such export")
	e.do("GET", "/fhir/Patient/p/$export", other, nil, "Prefer", "respond-async", "X-Purpose-Of-Use", "research").outcome(t, 404, "not found")
}

func TestTypeHistoryAndConflictStatuses(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 70)
	e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 71)))
	upd := glucoseWithID(72, id)
	e.do("PUT", "/fhir/Observation/"+id, tok, upd)
	if r := e.do("GET", "/fhir/Observation/_history?patient=Patient/p", tok, nil); r.status != 200 || r.body["total"] != 3.0 {
		t.Fatalf("type history: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Observation/_history", tok, nil).outcome(t, 400, "patient=")
	// 409: the id belongs to another resource type.
	cond := []byte(`{"resourceType":"Condition","id":"` + id + `","code":{"text":"x"},"subject":{"reference":"Patient/p"},
		"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}}`)
	e.do("PUT", "/fhir/Condition/"+id, tok, cond).outcome(t, 409, "is a Observation")
	// 422: a valid resource the ledger refuses (no such patient).
	e.do("POST", "/fhir/Observation", tok, []byte(strings.Replace(fmt.Sprintf(glucose, 70), "Patient/p", "Patient/nobody", 1))).outcome(t, 422, "not a registered patient")
}

// TestTasksForProposals: an update of a record under an approval policy is
// a proposal, answered 202 with its Task; the version is committed, and the
// Task completed, when the policy's signers approve.
func TestTasksForProposals(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 95)
	signer := func(id string) records.Signer { return records.Signer{ID: id, Key: e.keys[id]} }
	if err := e.svc.SetPolicy(ctx, signer("hosp-a/admin"), tx.AmendPolicy{Org: "hosp-a", Category: "lab",
		Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{{Role: carechain.RolePhysician, Org: "hosp-a"}, {Patient: true}}}}); err != nil {
		t.Fatal(err)
	}
	upd := glucoseWithID(59, id)
	e.do("PUT", "/fhir/Observation/"+id, tok, upd, "If-Match", `W/"7"`).outcome(t, 412, "at version 1")
	proposed := e.do("PUT", "/fhir/Observation/"+id, tok, upd, "X-Amendment-Reason", "transcription error")
	if proposed.status != 202 || proposed.body["resourceType"] != "Task" || proposed.body["status"] != "requested" {
		t.Fatalf("update under an approval policy: %d %s", proposed.status, proposed.rawBody)
	}
	pid := proposed.body["id"].(string)
	if !strings.HasSuffix(proposed.header.Get("Location"), "/fhir/Task/"+pid) {
		t.Fatalf("Location %q, want the Task %s", proposed.header.Get("Location"), pid)
	}
	if rv, err := e.svc.ReadProposal(ctx, "hosp-a/dr-a", pid); err != nil || rv.Reason != "transcription error" {
		t.Fatalf("the proposal's reason: %+v %v", rv, err)
	}
	e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(60, id)).outcome(t, 409, "open proposal")
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.body["meta"].(map[string]any)["versionId"] != "1" {
		t.Fatalf("a proposal was written as a version: %s", r.rawBody)
	}
	task := func(who string) map[string]any {
		r := e.do("GET", "/fhir/Task/"+pid, who, nil)
		if r.status != 200 {
			t.Fatalf("task: %d %s", r.status, r.rawBody)
		}
		return r.body
	}
	if st := task(tok)["status"]; st != "requested" {
		t.Fatalf("new task status %v", st)
	}
	if r := e.do("GET", "/fhir/Task?owner=me", tok, nil); r.body["total"] != 1.0 {
		t.Fatalf("waiting tasks: %s", r.rawBody)
	}
	for q, want := range map[string]float64{
		"focus=Observation/" + id: 1, "focus=Observation/other": 0, "status=requested": 1, "status=completed": 0,
		"patient=Patient/p": 1, "requester=Practitioner/hosp-a.dr-a": 1, "requester=Practitioner/hosp-b.dr-b": 0, "_id=" + pid: 1,
	} {
		if r := e.do("GET", "/fhir/Task?"+q, tok, nil); r.status != 200 || r.body["total"] != want {
			t.Errorf("Task?%s: %d %s, want %v", q, r.status, r.rawBody, want)
		}
	}
	e.do("GET", "/fhir/Task/"+pid, e.token("hosp-b/dr-b"), nil).outcome(t, 404, "not found")
	// Reviewers sign through the Task: someone who may not see it gets the
	// 404 of an absent Task; bad parameters are 400; neither signs.
	ptok := e.patientToken()
	e.do("POST", "/fhir/Task/"+pid+"/$approve", e.token("hosp-b/dr-b"), nil).outcome(t, 404, "not found")
	e.do("POST", "/fhir/Task/"+pid+"/$approve", ptok, []byte(`{"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"x"}]}`)).outcome(t, 400, "$approve takes no parameters")
	if r := e.do("POST", "/fhir/Task/"+pid+"/$approve", tok, nil); r.status != 200 || r.body["status"] != "in-progress" {
		t.Fatalf("the physician approves through the Task: %d %s", r.status, r.rawBody)
	}
	if r := e.do("POST", "/fhir/Task/"+pid+"/$approve", ptok, nil); r.status != 200 || r.body["status"] != "completed" {
		t.Fatalf("the patient approves through the Task: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.body["meta"].(map[string]any)["versionId"] != "2" || !strings.Contains(string(r.rawBody), `"value": 59`) {
		t.Fatalf("the approved version: %s", r.rawBody)
	}
	r := e.do("GET", "/fhir/Provenance?target=Observation/"+id, tok, nil)
	if !strings.Contains(string(r.rawBody), `"attester"`) || !strings.Contains(string(r.rawBody), `"reference": "Patient/p"`) {
		t.Fatalf("provenance of the approved version: %s", r.rawBody)
	}
	// The patient rejects the next proposal, with a reason.
	next := e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(61, id))
	if next.status != 202 {
		t.Fatalf("second proposal: %d %s", next.status, next.rawBody)
	}
	nid := next.body["id"].(string)
	rej := e.do("POST", "/fhir/Task/"+nid+"/$reject", ptok, []byte(`{"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"not my reading"}]}`))
	if rej.status != 200 || rej.body["status"] != "rejected" {
		t.Fatalf("the patient rejects through the Task: %d %s", rej.status, rej.rawBody)
	}
	e.do("POST", "/fhir/Task/"+nid+"/$approve", tok, nil).outcome(t, 422, "")
}

func TestConsentThroughFHIR(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 88)
	ptok := e.patientToken()
	other := e.token("hosp-b/dr-b")
	e.do("GET", "/fhir/Observation/"+id, other, nil).outcome(t, 404, "not found")
	body := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"Practitioner/hosp-b.dr-b"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],
	    "class":[{"system":"urn:carechain:category","code":"lab"}]}}`
	created := e.do("POST", "/fhir/Consent", ptok, []byte(body))
	if created.status != 201 || created.body["status"] != "active" {
		t.Fatalf("create consent: %d %s", created.status, created.rawBody)
	}
	cid := created.body["id"].(string)
	if r := e.do("GET", "/fhir/Observation/"+id, other, nil); r.status != 200 {
		t.Fatalf("read under the FHIR consent: %d %s", r.status, r.rawBody)
	}
	// Only the patient grants; a bad consent names what is wrong.
	e.do("POST", "/fhir/Consent", tok, []byte(body)).outcome(t, 422, "or a delegate they named")
	e.do("POST", "/fhir/Consent", ptok, []byte(`{"resourceType":"Consent","patient":{"reference":"Patient/p"}}`)).outcome(t, 400, "Consent.provision.actor")
	e.do("DELETE", "/fhir/Consent/no-such-grant", ptok, nil).outcome(t, 404, "has no grant")
	if r := e.do("DELETE", "/fhir/Consent/"+cid, ptok, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Observation/"+id, other, nil).outcome(t, 404, "not found") // revoked: absent to them again
	if r := e.do("GET", "/fhir/Consent", ptok, nil); !strings.Contains(string(r.rawBody), `"inactive"`) {
		t.Fatalf("revoked consent: %s", r.rawBody)
	}
}
