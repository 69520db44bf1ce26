package fhirrest_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
)

// TestConsentDeniedWriteIs403: a practitioner of another organization than
// the patient's writes the patient's records only under the patient's write
// grant. The ledger refuses any other write as the patient's consent does,
// which is 403 forbidden, not a business-rule failure (422). The rows run in
// order: each adds a grant to those before it.
func TestConsentDeniedWriteIs403(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The node signs for dr-b, so the write reaches the ledger and the
	// ledger's consent rule decides it.
	e.cust.Add("hosp-b/dr-b", e.keys["hosp-b/dr-b"])
	tok := e.token("hosp-b/dr-b")
	patient := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	cases := []struct {
		name   string
		grant  []consent.Action // granted to dr-b before the write, if any
		status int
		code   string
	}{
		{"no grant", nil, 403, "forbidden"},
		{"a read grant only", []consent.Action{consent.ActionRead}, 403, "forbidden"},
		{"a write grant", []consent.Action{consent.ActionWrite}, 201, ""},
	}
	written := 0
	for _, c := range cases {
		if c.grant != nil {
			if _, err := e.svc.Grant(ctx, patient, consent.Grant{
				Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"lab"}, Actions: c.grant,
				Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60,
			}); err != nil {
				t.Fatalf("%s: grant: %v", c.name, err)
			}
		}
		r := e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 99)))
		if r.status != c.status || r.issueCode() != c.code {
			t.Fatalf("%s: got %d %q, want %d %q: %s", c.name, r.status, r.issueCode(), c.status, c.code, r.rawBody)
		}
		if r.status == 201 {
			written++
		}
		if heads, _ := e.n.App().Latest().PatientRecords("patient/p"); len(heads) != written {
			t.Fatalf("%s: %d records stored, want %d", c.name, len(heads), written)
		}
	}
}

// TestOversizedBundleIs413: a transaction Bundle is one ledger transaction,
// so its entries together must fit carechain.MaxTxBytes once sealed. A body
// within fhirrest.MaxBody can still be over: every entry costs more sealed
// (record ID, AEAD overhead, hash, wrapped key) than as JSON in the Bundle.
// Such a Bundle is 413 too-costly and stores nothing; so is a body over
// MaxBody.
func TestOversizedBundleIs413(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	const entries = 100 // the most a Bundle may hold: the most sealing overhead
	ids := make([]string, entries)
	for i := range ids {
		ids[i] = fmt.Sprintf("big-%03d", i)
	}
	cases := []struct {
		name    string
		body    []byte
		mention string
	}{
		{"entries over the transaction limit", bigTransaction(t, ids, fhirrest.MaxBody-256), "transaction too large"},
		{"body over MaxBody", bytes.Repeat([]byte(" "), fhirrest.MaxBody+1), "over"},
	}
	for _, c := range cases {
		r := e.do("POST", "/fhir", tok, c.body)
		if r.status != 413 || r.issueCode() != "too-costly" || !strings.Contains(string(r.rawBody), c.mention) {
			t.Errorf("%s (%d bytes): got %d %q, want 413 too-costly mentioning %q: %.300s", c.name, len(c.body), r.status, r.issueCode(), c.mention, r.rawBody)
		}
	}
	v := e.n.App().Latest()
	for _, id := range ids {
		if _, err := v.Record(id); err == nil {
			t.Errorf("%s was stored by a refused Bundle", id)
		}
	}
	if heads, _ := v.PatientRecords("patient/p"); len(heads) != 0 {
		t.Errorf("refused Bundles stored %d records", len(heads))
	}
}

// bigTransaction is a transaction Bundle of valid Observations, one PUT per
// id, padded with valueString to size bytes. It fails the test if the
// Bundle's resources could not be more than the transaction limit sealed:
// each must be small enough to store alone, and the body must fit MaxBody.
func bigTransaction(t *testing.T, ids []string, size int) []byte {
	t.Helper()
	obs := `{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"note"},` +
		`"subject":{"reference":"Patient/p"},"valueString":%q}`
	build := func(pad int) []byte {
		es := make([]string, len(ids))
		for i, id := range ids {
			res := fmt.Sprintf(obs, id, strings.Repeat("a", pad))
			es[i] = fmt.Sprintf(`{"request":{"method":"PUT","url":"Observation/%s"},"resource":%s}`, id, res)
		}
		return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(es, ",") + `]}`)
	}
	pad := (size - len(build(0))) / len(ids)
	b := build(pad)
	if len(b) > size || len(b) > fhirrest.MaxBody || pad > carechain.MaxResourceBytes/2 {
		t.Fatalf("bundle of %d bytes with %d-byte entries: not a Bundle within MaxBody of storable entries", len(b), pad)
	}
	return b
}

// TestIfMatchRace: concurrent updates that all say If-Match: W/"1" cannot
// all win. The ledger builds each as version 2 and commits one version 2, so
// exactly one answers 200 and the others 412, in whatever order they land.
func TestIfMatchRace(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 100)
	const writers = 8
	statuses := make([]int, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		body := glucoseWithID(101+i, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // all requests in flight together
			var r response
			r, errs[i] = e.send("PUT", "/fhir/Observation/"+id, tok, body, "If-Match", `W/"1"`)
			statuses[i] = r.status
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, st := range statuses {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		count[st]++
	}
	if count[200] != 1 || count[412] != writers-1 {
		t.Fatalf("statuses %v: want one 200 and %d 412", statuses, writers-1)
	}
	if h, err := e.n.App().Latest().Record(id); err != nil || h.Latest != 2 {
		t.Fatalf("record after the race: %+v %v, want version 2", h, err)
	}
}

// TestCategoryFromCodes: a written resource's record category is what its
// category codes say (not any text in it), else its type's default; the
// X-Carechain-Category header wins over both. Bundle entries follow the
// same rule.
func TestCategoryFromCodes(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	obs := func(category string) string {
		return `{"resourceType":"Observation","status":"final",` + category + `"code":{"text":"x"},"subject":{"reference":"Patient/p"}}`
	}
	cat := func(system, code, display string) string {
		coding := fmt.Sprintf(`"system":%q,"code":%q`, system, code)
		if display != "" {
			coding += fmt.Sprintf(`,"display":%q`, display)
		}
		return `"category":[{"coding":[{` + coding + `}]}],`
	}
	const obsCat, v2 = "http://terminology.hl7.org/CodeSystem/observation-category", "http://terminology.hl7.org/CodeSystem/v2-0074"
	report := func(code string) string {
		return `{"resourceType":"DiagnosticReport","status":"final",` + cat(v2, code, "") + `"code":{"text":"x"},"subject":{"reference":"Patient/p"}}`
	}
	cases := []struct {
		name, typ, body, header, want string
	}{
		{"vital signs", "Observation", obs(cat(obsCat, "vital-signs", "")), "", "vital-signs"},
		{"laboratory", "Observation", obs(cat(obsCat, "laboratory", "")), "", "lab"},
		{"vital signs before laboratory", "Observation",
			obs(`"category":[{"coding":[{"system":"` + obsCat + `","code":"laboratory"}]},{"coding":[{"system":"` + obsCat + `","code":"vital-signs"}]}],`), "", "vital-signs"},
		{"imaging", "Observation", obs(cat(obsCat, "imaging", "")), "", "imaging"},
		{"v2 LAB", "DiagnosticReport", report("LAB"), "", "lab"},
		{"v2 RAD", "DiagnosticReport", report("RAD"), "", "imaging"},
		{"a display is not a code", "Observation", obs(cat(obsCat, "exam", "vital-signs")), "", "general"},
		{"no category: the type's default", "Observation", obs(""), "", "general"},
		{"the type's default", "AllergyIntolerance", `{"resourceType":"AllergyIntolerance","code":{"text":"peanut"},"patient":{"reference":"Patient/p"}}`, "", "allergy"},
		{"the header wins", "Observation", obs(cat(obsCat, "laboratory", "")), "mental-health", "mental-health"},
	}
	category := func(id string) string {
		h, err := e.n.App().Latest().Record(id)
		if err != nil {
			t.Fatal(err)
		}
		return h.Category
	}
	for i, c := range cases {
		var hdr []string
		if c.header != "" {
			hdr = []string{"X-Carechain-Category", c.header}
		}
		r := e.do("POST", "/fhir/"+c.typ, tok, []byte(c.body), hdr...)
		if r.status != 201 {
			t.Fatalf("%s: create: %d %s", c.name, r.status, r.rawBody)
		}
		if got := category(r.body["id"].(string)); got != c.want {
			t.Errorf("%s: category %q, want %q", c.name, got, c.want)
		}
		id := fmt.Sprintf("cat-%d", i)
		tr := fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"%s/%s"},"resource":%s}]}`, c.typ, id, c.body)
		if r := e.do("POST", "/fhir", tok, []byte(tr), hdr...); r.status != 200 {
			t.Fatalf("%s: transaction: %d %s", c.name, r.status, r.rawBody)
		}
		if got := category(id); got != c.want {
			t.Errorf("%s: category %q in a transaction, want %q", c.name, got, c.want)
		}
	}
}

// TestWriteRefusals: each refused write answers with its status, issue code
// and the element it is about, and stores nothing.
func TestWriteRefusals(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 90)
	noSubject := strings.Replace(fmt.Sprintf(glucose, 91), `"subject":{"reference":"Patient/p"},`, "", 1)
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code, expression   string
	}{
		{"not JSON", "POST", "/fhir/Observation", []byte("{"), nil, 400, "invalid", ""},
		{"another type, invalid too", "POST", "/fhir/Observation", []byte(`{"resourceType":"Condition"}`), nil, 400, "invalid", "resourceType"},
		{"invalid", "POST", "/fhir/Observation", []byte(`{"resourceType":"Observation","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`), nil, 400, "invalid", "Observation.status"},
		{"no patient", "POST", "/fhir/Observation", []byte(noSubject), nil, 422, "required", "Observation.subject"},
		{"not a patient", "POST", "/fhir/Observation", []byte(strings.Replace(fmt.Sprintf(glucose, 92), "Patient/p", "Group/g", 1)), nil, 422, "value", "Observation.subject"},
		{"unknown patient", "POST", "/fhir/Observation", []byte(strings.Replace(fmt.Sprintf(glucose, 93), "Patient/p", "Patient/nobody", 1)), nil, 422, "business-rule", ""},
		{"id not the URL's", "PUT", "/fhir/Observation/" + id, []byte(fmt.Sprintf(glucose, 94)), nil, 400, "invalid", "Observation.id"},
		{"bad If-Match", "PUT", "/fhir/Observation/" + id, glucoseWithID(95, id), []string{"If-Match", "one"}, 400, "value", ""},
		{"stale If-Match", "PUT", "/fhir/Observation/" + id, glucoseWithID(96, id), []string{"If-Match", `W/"7"`}, 412, "conflict", ""},
		{"another type's id", "PUT", "/fhir/Condition/" + id, []byte(`{"resourceType":"Condition","id":"` + id + `","code":{"text":"x"},"subject":{"reference":"Patient/p"}}`), nil, 409, "conflict", ""},
		{"Bundle entry without a patient", "POST", "/fhir", []byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":` + noSubject + `}]}`), nil, 400, "required", "Observation.subject"},
		{"not a Bundle", "POST", "/fhir", []byte(`{"resourceType":"Observation"}`), nil, 400, "structure", ""},
		{"Bundle of another type", "POST", "/fhir", []byte(`{"resourceType":"Bundle","type":"collection","entry":[]}`), nil, 400, "value", "Bundle.type"},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, tok, c.body, c.hdr...)
		var expr string
		if issues, _ := r.body["issue"].([]any); len(issues) > 0 {
			if ex, _ := issues[0].(map[string]any)["expression"].([]any); len(ex) > 0 {
				expr, _ = ex[0].(string)
			}
		}
		if r.status != c.status || r.issueCode() != c.code || expr != c.expression {
			t.Errorf("%s: got %d %q %q, want %d %q %q: %s", c.name, r.status, r.issueCode(), expr, c.status, c.code, c.expression, r.rawBody)
		}
	}
	if h, err := e.n.App().Latest().Record(id); err != nil || h.Latest != 1 {
		t.Errorf("after refused writes: %+v %v, want version 1", h, err)
	}
	if heads, _ := e.n.App().Latest().PatientRecords("patient/p"); len(heads) != 1 {
		t.Errorf("refused writes stored %d records", len(heads)-1)
	}
}
