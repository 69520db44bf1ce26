package fhirrest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
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
