package fhirrest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// historyBundle is a history Bundle as a client reads it; Resource is raw
// so that a missing resource and "resource": null can be told apart.
type historyBundle struct {
	Type  string `json:"type"`
	Total *int   `json:"total"`
	Link  []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  *struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
		Response *struct {
			Status       string `json:"status"`
			Etag         string `json:"etag"`
			LastModified string `json:"lastModified"`
		} `json:"response"`
	} `json:"entry"`
}

// history GETs path, a history, as tok and checks it is a history Bundle
// with no null in it.
func (e *env) history(path, tok string) historyBundle {
	e.t.Helper()
	r := e.do("GET", path, tok, nil)
	var b historyBundle
	if err := json.Unmarshal(r.rawBody, &b); r.status != 200 || err != nil || b.Type != "history" || b.Total == nil {
		e.t.Fatalf("GET %s: %d %v %s", path, r.status, err, r.rawBody)
	}
	if bytes.Contains(r.rawBody, []byte("null")) {
		e.t.Fatalf("GET %s: a null in %s", path, r.rawBody)
	}
	return b
}

// next is the path of b's next link, or "".
func (b historyBundle) next(base string) string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return strings.TrimPrefix(l.URL, base)
		}
	}
	return ""
}

// TestHistoryEntriesSayHowEachVersionWasMade: instance, type and system
// history entries carry the request that made each version (POST, PUT,
// DELETE), a deletion has no resource, newest first, and every version
// served is a read in the patient's access log.
func TestHistoryEntriesSayHowEachVersionWasMade(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 70)
	if r := e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(71, id)); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", "/fhir/Observation/"+id, tok, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.rawBody)
	}
	anchorer := e.nodePrincipal(ctx)
	before := e.versionsRead(ctx, anchorer, id)
	b := e.history("/fhir/Observation/"+id+"/_history", tok)
	want := []struct{ method, url, status, etag string }{
		{"DELETE", "Observation/" + id, "204 No Content", `W/"3"`},
		{"PUT", "Observation/" + id, "200 OK", `W/"2"`},
		{"POST", "Observation", "201 Created", `W/"1"`},
	}
	if *b.Total != len(want) || len(b.Entry) != len(want) {
		t.Fatalf("total %d, %d entries, want %d", *b.Total, len(b.Entry), len(want))
	}
	for i, w := range want {
		en := b.Entry[i]
		if en.Request == nil || en.Request.Method != w.method || en.Request.URL != w.url || en.Response == nil ||
			en.Response.Status != w.status || en.Response.Etag != w.etag || en.Response.LastModified == "" ||
			en.FullURL != e.srv.URL+"/fhir/Observation/"+id || (w.method == "DELETE") != (en.Resource == nil) {
			t.Fatalf("entry %d: %+v %+v %s, want %+v", i, en.Request, en.Response, en.Resource, w)
		}
	}
	reads := e.versionsRead(ctx, anchorer, id)
	if got := slices.Sorted(slices.Values(reads[len(before):])); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("versions the history read, in the access log: %v, want 1, 2, 3", got)
	}
	// A page decrypts, and logs, only its own versions.
	for _, c := range []struct {
		query string
		want  uint64
	}{{"_count=1", 3}, {"_count=1&_offset=1", 2}} {
		before := len(reads)
		b := e.history("/fhir/Observation/"+id+"/_history?"+c.query, tok)
		if *b.Total != 3 || len(b.Entry) != 1 || b.Entry[0].Response.Etag != fmt.Sprintf(`W/"%d"`, c.want) {
			t.Fatalf("%s: total %d, entries %+v", c.query, *b.Total, b.Entry)
		}
		if reads = e.versionsRead(ctx, anchorer, id); !slices.Equal(reads[before:], []uint64{c.want}) {
			t.Fatalf("%s read, in the access log: %v, want only %d", c.query, reads[before:], c.want)
		}
	}
	// A Patient is not created by POST but by a PUT of its pseudonym.
	if r := e.do("PUT", "/fhir/Patient/p", tok, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); r.status != 201 {
		t.Fatalf("PUT Patient/p: %d %s", r.status, r.rawBody)
	}
	if b := e.history("/fhir/Patient/p/_history", tok); len(b.Entry) != 1 || b.Entry[0].Request.Method != "PUT" || b.Entry[0].Request.URL != "Patient/p" {
		t.Fatalf("Patient history: %+v", b.Entry)
	}
}

// versionsRead are the versions of record id that hosp-a/dr-a read, in the
// order of patient/p's access log, once the node anchored what it holds.
func (e *env) versionsRead(ctx context.Context, anchorer records.Signer, id string) []uint64 {
	e.t.Helper()
	if err := e.svc.Flush(ctx, anchorer); err != nil {
		e.t.Fatal(err)
	}
	log, err := e.svc.AuditLog("patient/p")
	if err != nil {
		e.t.Fatal(err)
	}
	var read []uint64
	for _, ev := range slices.Backward(log) { // the log is newest first
		if ev.RecordID == id && ev.Requester == "hosp-a/dr-a" && ev.Action == "read" && ev.Decision == carechain.DecisionAllow {
			read = append(read, ev.Version)
		}
	}
	return read
}

// TestTypeAndSystemHistory: type history is one type of the patient's
// resources, system history all of them, both only what the caller may
// read; _since keeps versions updated at or after it; _count pages with
// next links to the end; bad parameters are 400 OperationOutcomes.
func TestTypeAndSystemHistory(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 70)
	e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(71, id))
	first := e.history("/fhir/_history?patient=Patient/p", tok)
	if *first.Total != 2 {
		t.Fatalf("system history before: %d versions", *first.Total)
	}
	// Later writes in a later second, so that _since can tell them apart.
	// (A block's time is that of the commit before it, so the first write
	// after a pause may still carry the earlier second: see since below.)
	before, _ := time.Parse(time.RFC3339, first.Entry[0].Response.LastModified)
	time.Sleep(time.Until(before.Add(1200 * time.Millisecond)))
	if r := e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(73, id)); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	e.createGlucose(tok, 72)
	cond := `{"resourceType":"Condition","code":{"text":"x"},"subject":{"reference":"Patient/p"},
		"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}}`
	if r := e.do("POST", "/fhir/Condition", tok, []byte(cond)); r.status != 201 {
		t.Fatalf("create Condition: %d %s", r.status, r.rawBody)
	}
	all := e.history("/fhir/_history?patient=Patient/p", tok)
	if *all.Total != 5 || len(all.Entry) != 5 || !strings.Contains(all.Entry[0].FullURL, "/Condition/") {
		t.Fatalf("system history: %d versions, newest %s", *all.Total, all.Entry[0].FullURL)
	}
	if b := e.history("/fhir/Observation/_history?patient=Patient/p", tok); *b.Total != 4 {
		t.Fatalf("type history: %d versions", *b.Total)
	}
	if b := e.history("/fhir/_history", e.patientToken()); *b.Total != 5 {
		t.Fatalf("the patient's system history: %d versions", *b.Total)
	}
	if b := e.history("/fhir/_history?patient=Patient/p", e.token("hosp-b/dr-b")); *b.Total != 0 || len(b.Entry) != 0 {
		t.Fatalf("without consent: %d versions", *b.Total)
	}
	// _since is the time of the newest version: what is as new, and
	// nothing older, of what each history holds.
	since := all.Entry[0].Response.LastModified
	q := "&_since=" + url.QueryEscape(since)
	for _, c := range []struct{ path, of string }{
		{"/fhir/_history?patient=Patient/p", "/fhir/"},
		{"/fhir/Observation/_history?patient=Patient/p", "/fhir/Observation/"},
		{"/fhir/Observation/" + id + "/_history?_count=5", "/fhir/Observation/" + id},
	} {
		var want []string
		for _, en := range all.Entry {
			if strings.Contains(en.FullURL, c.of) && en.Response.LastModified >= since {
				want = append(want, en.FullURL+" "+en.Response.Etag)
			}
		}
		b := e.history(c.path+q, tok)
		var got []string
		for _, en := range b.Entry {
			got = append(got, en.FullURL+" "+en.Response.Etag)
		}
		if !slices.Equal(got, want) || *b.Total != len(want) {
			t.Fatalf("%s%s: %v, want %v", c.path, q, got, want)
		}
	}
	if b := e.history("/fhir/_history?patient=Patient/p"+q, tok); *b.Total >= *all.Total {
		t.Fatalf("_since %s kept all %d versions", since, *b.Total)
	}
	var paged []string
	for path := "/fhir/_history?patient=Patient/p&_count=1"; path != ""; {
		b := e.history(path, tok)
		if len(b.Entry) != 1 || *b.Total != 5 || len(paged) > 5 {
			t.Fatalf("page %d: %d entries, total %d", len(paged), len(b.Entry), *b.Total)
		}
		paged = append(paged, b.Entry[0].FullURL+" "+b.Entry[0].Response.Etag)
		path = b.next(e.srv.URL)
	}
	var whole []string
	for _, en := range all.Entry {
		whole = append(whole, en.FullURL+" "+en.Response.Etag)
	}
	if !slices.Equal(paged, whole) {
		t.Fatalf("pages %v, want %v", paged, whole)
	}
	for _, bad := range []struct{ query, mention string }{
		{"/fhir/_history?patient=Patient/p&_since=yesterday", "_since"},
		{"/fhir/_history?patient=Patient/p&_since=2026-11-24", "_since"},
		{"/fhir/Observation/" + id + "/_history?_since=x&_since=y", "_since"},
		{"/fhir/Observation/_history?patient=Patient/p&_count=-1", "_count"},
		{"/fhir/Observation/" + id + "/_history?_at=2026", "_at"},
		{"/fhir/_history", "patient="},
	} {
		e.do("GET", bad.query, tok, nil).outcome(t, 400, bad.mention)
	}
	meta := e.do("GET", "/fhir/metadata", "", nil)
	if !strings.Contains(string(meta.rawBody), `"history-system"`) {
		t.Fatalf("metadata does not advertise history-system: %s", meta.rawBody)
	}
}
