package fhirrest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// bundleEntry is an entry of a request Bundle, for the transaction tests.
type bundleEntry struct {
	fullURL, method, url, ifNoneExist, ifMatch string
	resource                                   string
}

// requestBundle is a Bundle of typ (transaction or batch) with entries.
func requestBundle(t *testing.T, typ string, entries ...bundleEntry) []byte {
	t.Helper()
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		req := map[string]string{"method": e.method, "url": e.url}
		if e.ifNoneExist != "" {
			req["ifNoneExist"] = e.ifNoneExist
		}
		if e.ifMatch != "" {
			req["ifMatch"] = e.ifMatch
		}
		m := map[string]any{"request": req}
		if e.fullURL != "" {
			m["fullUrl"] = e.fullURL
		}
		if e.resource != "" {
			m["resource"] = json.RawMessage(e.resource)
		}
		out = append(out, m)
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": typ, "entry": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// responses are the entries of a transaction-response or batch-response of
// typ, each with its response flattened in: "status", "location", "etag",
// "lastModified", "outcome", and "resource".
func responses(t *testing.T, r response, typ string) []map[string]any {
	t.Helper()
	raw, _ := r.body["entry"].([]any)
	if r.status != 200 || r.body["type"] != typ {
		t.Fatalf("want a %s, got %d %s", typ, r.status, r.rawBody)
	}
	out := make([]map[string]any, 0, len(raw))
	for _, e := range raw {
		m := e.(map[string]any)
		flat := m["response"].(map[string]any)
		if res, ok := m["resource"]; ok {
			flat["resource"] = res
		}
		out = append(out, flat)
	}
	return out
}

// idOf is the resource id in a location (…/{type}/{id}/_history/{v}).
func idOf(t *testing.T, location any) string {
	t.Helper()
	parts := strings.Split(fmt.Sprint(location), "/")
	if len(parts) < 4 || parts[len(parts)-2] != "_history" {
		t.Fatalf("location %v", location)
	}
	return parts[len(parts)-3]
}

// diagnosticReport is a DiagnosticReport of patient/p whose result,
// extension and contained Observation refer to ref.
func diagnosticReport(ref string) string {
	return fmt.Sprintf(`{"resourceType":"DiagnosticReport","status":"final",
	 "code":{"coding":[{"system":"http://loinc.org","code":"24323-8"}]},"subject":{"reference":"Patient/p"},
	 "extension":[{"url":"https://example.org/fhir/source","valueReference":{"reference":%[1]q}}],
	 "contained":[{"resourceType":"Observation","id":"panel","status":"final","code":{"text":"panel"},
	   "hasMember":[{"reference":%[1]q}]}],
	 "result":[{"reference":%[1]q}]}`, ref)
}

// TestTransactionResolvesPlaceholderReferences: a DiagnosticReport whose
// result (and extension, and contained Observation) refer to an
// Observation of the same transaction by its urn:uuid refers to it by its
// assigned id once stored, whichever entry comes first.
func TestTransactionResolvesPlaceholderReferences(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	const obs = "urn:uuid:0d3c7c5e-7f43-4c4b-9a4e-2f1a9c2b7d11"
	r := e.do("POST", "/fhir", tok, requestBundle(t, "transaction",
		bundleEntry{fullURL: "urn:uuid:5b0e1d7e-0000-4000-8000-000000000001", method: "POST", url: "DiagnosticReport", resource: diagnosticReport(obs)},
		bundleEntry{fullURL: obs, method: "POST", url: "Observation", resource: fmt.Sprintf(glucose, 90)}))
	out := responses(t, r, "transaction-response")
	if len(out) != 2 || out[0]["status"] != "201 Created" || out[1]["status"] != "201 Created" || out[0]["etag"] != `W/"1"` || out[0]["lastModified"] == nil {
		t.Fatalf("responses: %s", r.rawBody)
	}
	reportID, obsID := idOf(t, out[0]["location"]), idOf(t, out[1]["location"])
	rep := e.do("GET", "/fhir/DiagnosticReport/"+reportID, tok, nil)
	if rep.status != 200 {
		t.Fatalf("read the report: %d %s", rep.status, rep.rawBody)
	}
	want := "Observation/" + obsID
	refs := map[string]any{
		"result":    rep.body["result"].([]any)[0].(map[string]any)["reference"],
		"extension": rep.body["extension"].([]any)[0].(map[string]any)["valueReference"].(map[string]any)["reference"],
		"contained": rep.body["contained"].([]any)[0].(map[string]any)["hasMember"].([]any)[0].(map[string]any)["reference"],
	}
	for where, got := range refs {
		if got != want {
			t.Errorf("%s reference %v, want %s", where, got, want)
		}
	}
	if strings.Contains(string(rep.rawBody), "urn:uuid") {
		t.Errorf("a placeholder was stored: %s", rep.rawBody)
	}
	if r := e.do("GET", "/fhir/"+want, tok, nil); r.status != 200 {
		t.Errorf("the referenced Observation: %d", r.status)
	}
}

// TestTransactionWithUnknownPlaceholderCommitsNothing: a reference to a
// urn:uuid no entry declares is a 400 naming it, and nothing is stored.
func TestTransactionWithUnknownPlaceholderCommitsNothing(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	const missing = "urn:uuid:9e4a1f5c-1111-4222-8333-444455556666"
	e.do("POST", "/fhir", tok, requestBundle(t, "transaction",
		bundleEntry{fullURL: "urn:uuid:9e4a1f5c-0000-4000-8000-000000000000", method: "POST", url: "Observation", resource: fmt.Sprintf(glucose, 90)},
		bundleEntry{method: "POST", url: "DiagnosticReport", resource: diagnosticReport(missing)})).outcome(t, 400, missing)
	if n := e.recordCount(); n != 0 {
		t.Fatalf("a refused transaction left %d records", n)
	}
	// In a batch, entries cannot refer to each other: the entry fails.
	r := e.do("POST", "/fhir", tok, requestBundle(t, "batch", bundleEntry{method: "POST", url: "DiagnosticReport", resource: diagnosticReport(missing)}))
	if out := responses(t, r, "batch-response"); out[0]["status"] != "400 Bad Request" || e.recordCount() != 0 {
		t.Fatalf("batch with a placeholder: %s", r.rawBody)
	}
}

// recordCount is the number of records of patient/p.
func (e *env) recordCount() int {
	e.t.Helper()
	hs, err := e.n.App().Latest().PatientRecords("patient/p")
	if err != nil {
		e.t.Fatal(err)
	}
	return len(hs)
}

// heartRate is an Observation of patient/p with a code of its own, for
// conditional creates.
const heartRate = `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p"},"valueQuantity":{"value":61,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`

// TestTransactionPutDeleteAndGet: PUT (with ifMatch), DELETE and POST
// entries commit in one block, the GET entry reads after them, and each
// response says what R4 says.
func TestTransactionPutDeleteAndGet(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	a, b := e.createGlucose(tok, 80), e.createGlucose(tok, 81)
	r := e.do("POST", "/fhir", tok, requestBundle(t, "transaction",
		bundleEntry{method: "GET", url: "Observation/" + a},
		bundleEntry{method: "PUT", url: "Observation/" + a, ifMatch: `W/"1"`, resource: string(glucoseWithID(95, a))},
		bundleEntry{method: "DELETE", url: "Observation/" + b},
		bundleEntry{method: "POST", url: "Observation", resource: fmt.Sprintf(glucose, 99)}))
	out := responses(t, r, "transaction-response")
	statuses := []any{out[0]["status"], out[1]["status"], out[2]["status"], out[3]["status"]}
	if fmt.Sprint(statuses) != "[200 OK 200 OK 204 No Content 201 Created]" {
		t.Fatalf("statuses %v: %s", statuses, r.rawBody)
	}
	got, _ := out[0]["resource"].(map[string]any)
	if v := got["valueQuantity"].(map[string]any)["value"]; v != 95.0 || out[0]["etag"] != `W/"2"` || out[0]["lastModified"] == nil {
		t.Errorf("GET entry read value %v etag %v: it must read after the writes", v, out[0]["etag"])
	}
	if out[1]["etag"] != `W/"2"` || idOf(t, out[1]["location"]) != a || out[2]["etag"] != `W/"2"` || out[2]["location"] != nil {
		t.Errorf("write responses: %s", r.rawBody)
	}
	e.do("GET", "/fhir/Observation/"+b, tok, nil).outcome(t, 410, "deleted")
	// The writes are one ledger transaction: one height.
	v := e.n.App().Latest()
	va, _ := v.RecordVersion(a, 2)
	vb, _ := v.RecordVersion(b, 2)
	vc, _ := v.RecordVersion(idOf(t, out[3]["location"]), 1)
	if va == nil || vb == nil || vc == nil || va.Height != vb.Height || vb.Height != vc.Height {
		t.Fatalf("transaction writes at different heights: %+v %+v %+v", va, vb, vc)
	}
}

// TestTransactionPreconditionsFailItWhole: an ifMatch that does not hold
// (on a PUT or a DELETE) refuses the whole transaction with 412, and
// nothing changes.
func TestTransactionPreconditionsFailItWhole(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	a := e.createGlucose(tok, 80)
	if r := e.do("PUT", "/fhir/Observation/"+a, tok, glucoseWithID(85, a)); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	for name, stale := range map[string]bundleEntry{
		"PUT":    {method: "PUT", url: "Observation/" + a, ifMatch: `W/"1"`, resource: string(glucoseWithID(99, a))},
		"DELETE": {method: "DELETE", url: "Observation/" + a, ifMatch: `W/"1"`},
	} {
		e.do("POST", "/fhir", tok, requestBundle(t, "transaction",
			bundleEntry{method: "POST", url: "Observation", resource: fmt.Sprintf(glucose, 70)}, stale)).outcome(t, 412, "entry 1")
		head, err := e.n.App().Latest().Record(a)
		if err != nil || head.Latest != 2 || head.Deleted || e.recordCount() != 1 {
			t.Fatalf("%s: a refused transaction changed the records: %+v %v, %d records", name, head, err, e.recordCount())
		}
	}
	// An ifMatch that holds commits.
	r := e.do("POST", "/fhir", tok, requestBundle(t, "transaction", bundleEntry{method: "DELETE", url: "Observation/" + a, ifMatch: `W/"2"`}))
	if out := responses(t, r, "transaction-response"); out[0]["status"] != "204 No Content" {
		t.Fatalf("delete with a holding ifMatch: %s", r.rawBody)
	}
}

// TestTransactionIfNoneExist: a POST entry whose ifNoneExist finds a
// resource creates nothing, answers 200 with that resource's location,
// and references to its fullUrl go to that resource.
func TestTransactionIfNoneExist(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	first := e.do("POST", "/fhir/Observation", tok, []byte(heartRate))
	if first.status != 201 {
		t.Fatalf("create: %d %s", first.status, first.rawBody)
	}
	existing := first.body["id"].(string)
	const hr = "urn:uuid:3f2a0c6e-5555-4666-8777-888899990000"
	r := e.do("POST", "/fhir", tok, requestBundle(t, "transaction",
		bundleEntry{fullURL: hr, method: "POST", url: "Observation", ifNoneExist: "patient=Patient/p&code=http://loinc.org|8867-4", resource: heartRate},
		bundleEntry{method: "POST", url: "DiagnosticReport", resource: diagnosticReport(hr)}))
	out := responses(t, r, "transaction-response")
	if out[0]["status"] != "200 OK" || idOf(t, out[0]["location"]) != existing || out[1]["status"] != "201 Created" {
		t.Fatalf("responses: %s", r.rawBody)
	}
	if n := e.recordCount(); n != 2 {
		t.Fatalf("%d records, want the existing Observation and the report", n)
	}
	rep := e.do("GET", "/fhir/DiagnosticReport/"+idOf(t, out[1]["location"]), tok, nil)
	if got := rep.body["result"].([]any)[0].(map[string]any)["reference"]; got != "Observation/"+existing {
		t.Fatalf("result reference %v, want Observation/%s", got, existing)
	}
}

// TestBatchGetEntries: a batch's GET entries read, search and fail as the
// plain GETs would, with the caller's consent and in the access log; reads
// alone need no signing key on this node.
func TestBatchGetEntries(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	a := e.createGlucose(tok, 80)
	pending := e.svc.Pending()
	reads := requestBundle(t, "batch",
		bundleEntry{method: "GET", url: "Observation/" + a},
		bundleEntry{method: "GET", url: "Observation?patient=Patient/p&code=http://loinc.org|2345-7"},
		bundleEntry{method: "GET", url: "Observation/rec-absent"},
		bundleEntry{method: "GET", url: "../auth/token"},
		bundleEntry{method: "GET", url: "_history?patient=Patient/p"})
	out := responses(t, e.do("POST", "/fhir", tok, reads), "batch-response")
	res0, _ := out[0]["resource"].(map[string]any)
	res1, _ := out[1]["resource"].(map[string]any)
	res4, _ := out[4]["resource"].(map[string]any)
	switch {
	case out[0]["status"] != "200 OK" || res0["id"] != a || out[0]["etag"] != `W/"1"`:
		t.Errorf("read entry: %v", out[0])
	case out[1]["status"] != "200 OK" || res1["type"] != "searchset" || res1["total"] != 1.0:
		t.Errorf("search entry: %v", out[1])
	case out[2]["status"] != "404 Not Found" || out[2]["outcome"] == nil:
		t.Errorf("absent entry: %v", out[2])
	case out[3]["status"] != "400 Bad Request":
		t.Errorf("escaping entry: %v", out[3])
	case out[4]["status"] != "200 OK" || res4["type"] != "history" || res4["total"] != 1.0:
		t.Errorf("system history entry: %v", out[4])
	}
	if e.svc.Pending() <= pending {
		t.Errorf("the batch's reads were not logged: %d access events pending, %d before", e.svc.Pending(), pending)
	}
	// Another organization's physician, without consent, reads nothing.
	out = responses(t, e.do("POST", "/fhir", e.token("hosp-b/dr-b"), reads), "batch-response")
	if out[0]["status"] != "404 Not Found" || out[1]["resource"].(map[string]any)["total"] != 0.0 {
		t.Errorf("without consent: %v %v", out[0], out[1])
	}
}

// TestTransactionRefusesEditsUnderApproval: an edit of a record under an
// approval policy is a proposal when made on its own; a transaction cannot
// hold one, so its PUT or DELETE of such a record is refused (409) and
// nothing is written.
func TestTransactionRefusesEditsUnderApproval(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 95)
	if err := e.svc.SetPolicy(ctx, records.Signer{ID: "hosp-a/admin", Key: e.keys["hosp-a/admin"]}, tx.AmendPolicy{Org: "hosp-a", Category: "lab",
		Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{{Role: carechain.RolePhysician, Org: "hosp-a"}, {Patient: true}}}}); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []bundleEntry{
		{method: "PUT", url: "Observation/" + id, resource: string(glucoseWithID(59, id))},
		{method: "DELETE", url: "Observation/" + id},
	} {
		e.do("POST", "/fhir", tok, requestBundle(t, "transaction", edit)).outcome(t, 409, "approval policy")
		if head, err := e.n.App().Latest().Record(id); err != nil || head.Latest != 1 || head.Deleted {
			t.Fatalf("%s under an approval policy: %+v %v", edit.method, head, err)
		}
	}
}
