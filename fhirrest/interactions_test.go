package fhirrest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// obsWithCode is an Observation of patient p with a LOINC code and a value.
func obsWithCode(code string, value int) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},
		"subject":{"reference":"Patient/p"},"valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`, code, value))
}

// TestConditionalUpdateAndDelete: PUT and DELETE [type]?search act on the
// one resource the search finds; none found creates (PUT) or does nothing
// (DELETE); several are a 412; a body id that is not the match's is a 400.
func TestConditionalUpdateAndDelete(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	const search = "/fhir/Observation?patient=Patient/p&code=http://loinc.org|1234-5"
	r := e.do("PUT", search, tok, obsWithCode("1234-5", 1))
	if r.status != 201 || r.body["id"] == nil {
		t.Fatalf("conditional update with no match: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	r = e.do("PUT", search, tok, obsWithCode("1234-5", 2))
	if meta, _ := r.body["meta"].(map[string]any); r.status != 200 || r.body["id"] != id || meta["versionId"] != "2" {
		t.Fatalf("conditional update with one match: %d %s", r.status, r.rawBody)
	}
	// The same search with the patient as an absolute URL, or as a :Patient modifier.
	for i, q := range []string{"patient=" + e.srv.URL + "/fhir/Patient/p", "subject:Patient=p"} {
		r := e.do("PUT", "/fhir/Observation?"+q+"&code=http://loinc.org|1234-5", tok, obsWithCode("1234-5", 2))
		if meta, _ := r.body["meta"].(map[string]any); r.status != 200 || r.body["id"] != id || meta["versionId"] != strconv.Itoa(3+i) {
			t.Fatalf("conditional update by %s: %d %s", q, r.status, r.rawBody)
		}
	}
	withOtherID := strings.Replace(string(obsWithCode("1234-5", 3)), `"status"`, `"id":"other","status"`, 1)
	if r := e.do("PUT", search, tok, []byte(withOtherID)); r.status != 400 {
		t.Errorf("conditional update with a body id not the match's: %d %s", r.status, r.rawBody)
	}
	if r := e.do("PUT", "/fhir/Observation", tok, obsWithCode("1234-5", 3)); r.status != 400 {
		t.Errorf("conditional update without search parameters: %d %s", r.status, r.rawBody)
	}
	e.do("POST", "/fhir/Observation", tok, obsWithCode("1234-5", 4)) // a second match
	if r := e.do("PUT", search, tok, obsWithCode("1234-5", 5)); r.status != 412 {
		t.Errorf("conditional update with two matches: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", search, tok, nil); r.status != 412 {
		t.Errorf("conditional delete with two matches: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", "/fhir/Observation?code=http://loinc.org|1234-5", tok, nil); r.status != 400 {
		t.Errorf("conditional delete without patient=: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", "/fhir/Observation?patient=Patient/p&code=http://loinc.org|0000-0", tok, nil); r.status != 204 {
		t.Errorf("conditional delete with no match: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", search+"&_id="+id, tok, nil); r.status != 204 {
		t.Fatalf("conditional delete with one match: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.status != 410 {
		t.Errorf("read after the conditional delete: %d", r.status)
	}
}

// TestPatch: a JSON Patch of the latest version is written as an update
// (If-Match applies); one that changes the id, does not apply, is not a
// JSON Patch or is sent as another media type is refused, changing
// nothing.
func TestPatch(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 90)
	patch := func(body, ifMatch, contentType string) response {
		t.Helper()
		hdr := []string{"Content-Type", contentType}
		if ifMatch != "" {
			hdr = append(hdr, "If-Match", ifMatch)
		}
		return e.do("PATCH", "/fhir/Observation/"+id, tok, []byte(body), hdr...)
	}
	const jp = "application/json-patch+json"
	r := patch(`[{"op":"replace","path":"/valueQuantity/value","value":95},{"op":"add","path":"/note","value":[{"text":"repeat"}]}]`, `W/"1"`, jp)
	if vq, _ := r.body["valueQuantity"].(map[string]any); r.status != 200 || vq["value"] != 95.0 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("patch: %d %s", r.status, r.rawBody)
	}
	for _, c := range []struct {
		name, body, ifMatch, contentType string
		status                           int
	}{
		{"a stale If-Match", `[{"op":"replace","path":"/valueQuantity/value","value":1}]`, `W/"1"`, jp, 412},
		{"a changed id", `[{"op":"replace","path":"/id","value":"x"}]`, "", jp, 422},
		{"a path that is not there", `[{"op":"replace","path":"/nothing/here","value":1}]`, "", jp, 422},
		{"a failed test", `[{"op":"test","path":"/status","value":"preliminary"}]`, "", jp, 422},
		{"an invalid result", `[{"op":"replace","path":"/status","value":"bogus"}]`, "", jp, 400}, // as a PUT of it
		{"not a JSON Patch", `{"op":"replace"}`, "", jp, 400},
		{"a FHIR resource body", `[]`, "", "application/fhir+json", 415},
	} {
		if r := patch(c.body, c.ifMatch, c.contentType); r.status != c.status || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("patch with %s: %d, want %d: %s", c.name, r.status, c.status, r.rawBody)
		}
	}
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.header.Get("ETag") != `W/"2"` {
		t.Errorf("after the refused patches: %s", r.header.Get("ETag"))
	}
	if r := e.do("PATCH", "/fhir/Observation/nope", tok, []byte(`[]`), "Content-Type", jp); r.status != 404 {
		t.Errorf("patch of nothing: %d", r.status)
	}
}

// TestConditionalReadPreferAndFormats: a read naming the version held is
// a 304; Prefer picks what a write answers with; a format other than JSON
// is a 406.
func TestConditionalReadPreferAndFormats(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 90)
	path := "/fhir/Observation/" + id
	later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	earlier := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		header, value string
		status        int
	}{
		{"If-None-Match", `W/"1"`, 304}, {"If-None-Match", `"1"`, 304}, {"If-None-Match", `W/"7"`, 200},
		{"If-Modified-Since", later, 304}, {"If-Modified-Since", earlier, 200},
	} {
		r := e.do("GET", path, tok, nil, c.header, c.value)
		if r.status != c.status || (c.status == 304 && (len(r.rawBody) != 0 || r.header.Get("ETag") != `W/"1"`)) {
			t.Errorf("%s: %s: %d %q", c.header, c.value, r.status, r.rawBody)
		}
	}

	r := e.do("POST", "/fhir/Observation", tok, obsWithCode("2345-7", 1), "Prefer", "return=minimal")
	if r.status != 201 || len(r.rawBody) != 0 || !strings.Contains(r.header.Get("Location"), "/fhir/Observation/") || r.header.Get("ETag") != `W/"1"` {
		t.Errorf("create with return=minimal: %d %v %q", r.status, r.header, r.rawBody)
	}
	r = e.do("PUT", path, tok, []byte(strings.Replace(string(obsWithCode("2345-7", 2)), `"status"`, `"id":"`+id+`","status"`, 1)), "Prefer", "return=OperationOutcome")
	if issues, _ := r.body["issue"].([]any); r.status != 200 || r.body["resourceType"] != "OperationOutcome" || len(issues) != 1 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("update with return=OperationOutcome: %d %s", r.status, r.rawBody)
	}

	for _, c := range []struct{ path, accept string }{
		{path + "?_format=xml", ""}, {path + "?_format=application/fhir%2Bxml", ""}, {path, "application/fhir+xml"},
		{"/fhir/metadata?_format=xml", ""}, {"/fhir/Observation?patient=Patient/p", "text/html"},
	} {
		r := e.do("GET", c.path, tok, nil, "Accept", c.accept)
		if r.status != 406 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("GET %s Accept %q: %d %s", c.path, c.accept, r.status, r.rawBody)
		}
	}
	for _, c := range []struct{ path, accept string }{
		{path + "?_format=json", ""}, {path + "?_format=application/fhir%2Bjson", ""}, {path, "application/fhir+json"},
		{path, "application/fhir+xml;q=0.9, application/json;q=0.5"}, {path, "*/*"},
	} {
		if r := e.do("GET", c.path, tok, nil, "Accept", c.accept); r.status != 200 {
			t.Errorf("GET %s Accept %q: %d %s", c.path, c.accept, r.status, r.rawBody)
		}
	}
}

// TestEverythingParameters: Patient/$everything honours _type, _since,
// start and end (care dates; a resource without one is kept) and pages
// with _count; an unknown parameter or a bad value is a 400.
func TestEverythingParameters(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", tok, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	ids := map[string]string{}
	for _, day := range []string{"2023-05-01", "2024-05-01"} {
		body := strings.Replace(string(obsWithCode("2345-7", 90)), `"status"`, `"effectiveDateTime":"`+day+`","status"`, 1)
		r := e.do("POST", "/fhir/Observation", tok, []byte(body))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.rawBody)
		}
		ids[day] = "Observation/" + r.body["id"].(string)
	}
	found := func(query string) ([]string, response) {
		t.Helper()
		r := e.do("GET", "/fhir/Patient/p/$everything"+query, tok, nil)
		var got []string
		entries, _ := r.body["entry"].([]any)
		for _, en := range entries {
			res := en.(map[string]any)["resource"].(map[string]any)
			got = append(got, res["resourceType"].(string)+"/"+res["id"].(string))
		}
		slices.Sort(got)
		return got, r
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{ids["2023-05-01"], ids["2024-05-01"], "Patient/p"}},
		{"?_type=Observation", []string{ids["2023-05-01"], ids["2024-05-01"]}},
		{"?_type=Patient,Condition", []string{"Patient/p"}},
		{"?start=2024-01-01", []string{ids["2024-05-01"], "Patient/p"}},
		{"?end=2023-12", []string{ids["2023-05-01"], "Patient/p"}},
		{"?start=2023-01-01&end=2023-12-31&_type=Observation", []string{ids["2023-05-01"]}},
		{"?_since=" + future, nil},
	} {
		want := slices.Sorted(slices.Values(c.want))
		if got, r := found(c.query); r.status != 200 || !slices.Equal(got, want) {
			t.Errorf("$everything%s: %d %v, want %v", c.query, r.status, got, want)
		}
	}
	got, r := found("?_count=1")
	links, _ := r.body["link"].([]any)
	if len(got) != 1 || r.body["total"] != 3.0 || len(links) != 2 {
		t.Errorf("$everything?_count=1: %v total %v links %v", got, r.body["total"], links)
	}
	for _, q := range []string{"?foo=1", "?_type=Bogus", "?start=yesterday", "?_since=2024-01-01"} {
		if _, r := found(q); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("$everything%s: %d %s", q, r.status, r.rawBody)
		}
	}
}

// TestSearchResultShapingAndPostSearch: _summary (count, true, text,
// data), _total=none and _elements shape a search's answer; POST _search takes the parameters
// as a form and answers as the GET does, with GET links.
func TestSearchResultShapingAndPostSearch(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	for v := range 3 {
		e.createGlucose(tok, 90+v)
	}
	const search = "/fhir/Observation?patient=Patient/p"
	if r := e.do("GET", search+"&_summary=count", tok, nil); r.status != 200 || r.body["total"] != 3.0 || r.body["entry"] != nil && len(r.body["entry"].([]any)) != 0 {
		t.Errorf("_summary=count: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", search+"&_total=none", tok, nil); r.status != 200 || r.body["total"] != nil || len(r.body["entry"].([]any)) != 3 {
		t.Errorf("_total=none: %d %s", r.status, r.rawBody)
	}
	r := e.do("GET", search+"&_elements=code,status", tok, nil)
	entries, _ := r.body["entry"].([]any)
	if r.status != 200 || len(entries) != 3 {
		t.Fatalf("_elements: %d %s", r.status, r.rawBody)
	}
	for _, en := range entries {
		res := en.(map[string]any)["resource"].(map[string]any)
		tags, _ := json.Marshal(res["meta"])
		if res["valueQuantity"] != nil || res["subject"] != nil || res["code"] == nil || res["status"] == nil || res["id"] == nil || !strings.Contains(string(tags), "SUBSETTED") {
			t.Errorf("_elements=code,status gave %v", res)
		}
	}
	// _summary=true keeps Observation's summary elements (not category);
	// data keeps all but the narrative (there is none: nothing left out).
	for q, want := range map[string]struct{ has, lacks string }{
		"&_summary=true": {"valueQuantity", "category"},
		"&_summary=text": {"code", "valueQuantity"},
	} {
		r := e.do("GET", search+q, tok, nil)
		entries, _ := r.body["entry"].([]any)
		if r.status != 200 || len(entries) != 3 {
			t.Fatalf("%s: %d %s", q, r.status, r.rawBody)
		}
		res := entries[0].(map[string]any)["resource"].(map[string]any)
		if tags, _ := json.Marshal(res["meta"]); res[want.has] == nil || res[want.lacks] != nil || res["status"] == nil || !strings.Contains(string(tags), "SUBSETTED") {
			t.Errorf("%s gave %v", q, res)
		}
	}
	if r := e.do("GET", search+"&_summary=data", tok, nil); r.status != 200 || strings.Contains(string(r.rawBody), "SUBSETTED") {
		t.Errorf("_summary=data of resources without a narrative: %d %s", r.status, r.rawBody)
	}
	// A read and a vread take _summary and _elements too; count is a search's.
	id := entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
	for _, path := range []string{"/fhir/Observation/" + id, "/fhir/Observation/" + id + "/_history/1"} {
		r := e.do("GET", path+"?_summary=true", tok, nil)
		if tags, _ := json.Marshal(r.body["meta"]); r.status != 200 || r.body["valueQuantity"] == nil || r.body["category"] != nil || !strings.Contains(string(tags), "SUBSETTED") {
			t.Errorf("%s?_summary=true: %d %s", path, r.status, r.rawBody)
		}
		if r := e.do("GET", path+"?_elements=status", tok, nil); r.status != 200 || r.body["code"] != nil || r.body["status"] == nil {
			t.Errorf("%s?_elements=status: %d %s", path, r.status, r.rawBody)
		}
		if r := e.do("GET", path+"?_summary=count", tok, nil); r.status != 400 {
			t.Errorf("%s?_summary=count: %d %s", path, r.status, r.rawBody)
		}
		if r := e.do("GET", path, tok, nil); r.status != 200 || r.body["category"] == nil || strings.Contains(string(r.rawBody), "SUBSETTED") {
			t.Errorf("%s: %d %s", path, r.status, r.rawBody)
		}
	}
	for _, q := range []string{"&_summary=bogus", "&_summary=true&_elements=code", "&_total=bogus", "&_elements=value-quantity", "&_summary=count&_summary=false"} {
		if r := e.do("GET", search+q, tok, nil); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %s", q, r.status, r.rawBody)
		}
	}

	post := func(tok, body, contentType string) response {
		return e.do("POST", "/fhir/Observation/_search", tok, []byte(body), "Content-Type", contentType)
	}
	r = post(tok, "patient=Patient/p&_count=1", "application/x-www-form-urlencoded")
	links, _ := r.body["link"].([]any)
	if r.status != 200 || r.body["total"] != 3.0 || len(r.body["entry"].([]any)) != 1 || len(links) != 2 {
		t.Fatalf("POST _search: %d %s", r.status, r.rawBody)
	}
	next := links[1].(map[string]any)["url"].(string)
	if !strings.HasPrefix(next, e.srv.URL+"/fhir/Observation?") {
		t.Errorf("POST _search's next link %s is not a GET of the search", next)
	}
	if r := post(tok, `{"patient":"Patient/p"}`, "application/json"); r.status != 415 {
		t.Errorf("POST _search with a JSON body: %d %s", r.status, r.rawBody)
	}
	_, searchOnly, _, _ := e.scopedToken("hosp-a/dr-a", "system/Observation.s")
	if r := post(searchOnly, "patient=Patient/p", "application/x-www-form-urlencoded"); r.status != 200 {
		t.Errorf("POST _search with system/Observation.s: %d %s", r.status, r.rawBody)
	}
}

// TestDatePrefixesAndBadDates: sa, eb and ap compare as R4 says; a value
// that is not a date is a 400, not an empty result; a zone's "+" sent
// unencoded (a space) is read as "+".
func TestDatePrefixesAndBadDates(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	ids := map[string]string{}
	for _, day := range []string{"2023-05-01", "2024-05-01", time.Now().UTC().Format(time.DateOnly)} {
		body := strings.Replace(string(obsWithCode("2345-7", 90)), `"status"`, `"effectiveDateTime":"`+day+`","status"`, 1)
		r := e.do("POST", "/fhir/Observation", tok, []byte(body))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.rawBody)
		}
		ids[day] = r.body["id"].(string)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	for _, c := range []struct {
		date string
		want []string
	}{
		{"sa2024-01-01", []string{ids["2024-05-01"], ids[today]}},
		{"eb2024-01-01", []string{ids["2023-05-01"]}},
		{"ap2023-05-03", []string{ids["2023-05-01"]}},
		{"ap" + today, []string{ids[today]}},
	} {
		r := e.do("GET", "/fhir/Observation?patient=Patient/p&date="+c.date, tok, nil)
		var got []string
		entries, _ := r.body["entry"].([]any)
		for _, en := range entries {
			got = append(got, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		if r.status != 200 || !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(c.want))) {
			t.Errorf("date=%s: %d %v, want %v", c.date, r.status, got, c.want)
		}
	}
	for _, q := range []string{"date=notadate", "date=ge2024-13", "date=xx2024", "_lastUpdated=yesterday", "date=2024-01-01,nope"} {
		if r := e.do("GET", "/fhir/Observation?patient=Patient/p&"+q, tok, nil); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %s", q, r.status, r.rawBody)
		}
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p&_lastUpdated=gt2020-01-01T00:00:00+00:00", tok, nil); r.status != 200 || r.body["total"] != 3.0 {
		t.Errorf("_lastUpdated with an unencoded +: %d %s", r.status, r.rawBody)
	}
}

// TestIncludeAndRevinclude: _include adds what the matches reference,
// _revinclude what references them, :iterate one level more; each
// included resource is read as the caller (logged, held to its scopes)
// and not counted in total; an include the server cannot serve is a 400.
func TestIncludeAndRevinclude(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", tok, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	obs := e.createGlucose(tok, 90)
	report := `{"resourceType":"DiagnosticReport","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"24323-8"}]},
		"subject":{"reference":"Patient/p"},"result":[{"reference":"Observation/` + obs + `"}]}`
	r := e.do("POST", "/fhir/DiagnosticReport", tok, []byte(report))
	if r.status != 201 {
		t.Fatalf("create report: %d %s", r.status, r.rawBody)
	}
	dr := r.body["id"].(string)
	entries := func(tok, path string) (matched, included []string, total any) {
		t.Helper()
		r := e.do("GET", path, tok, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
		}
		es, _ := r.body["entry"].([]any)
		for _, en := range es {
			m := en.(map[string]any)
			res := m["resource"].(map[string]any)
			ref := res["resourceType"].(string) + "/" + res["id"].(string)
			if m["search"].(map[string]any)["mode"] == "include" {
				included = append(included, ref)
			} else {
				matched = append(matched, ref)
			}
		}
		slices.Sort(included)
		return matched, included, r.body["total"]
	}
	anchorer := e.nodePrincipal(ctx)
	readsBefore := len(e.versionsRead(ctx, anchorer, "p"))
	for _, c := range []struct {
		path     string
		match    string
		included []string
	}{
		{"/fhir/Observation?patient=Patient/p&_include=Observation:patient", "Observation/" + obs, []string{"Patient/p"}},
		{"/fhir/DiagnosticReport?patient=Patient/p&_include=DiagnosticReport:result", "DiagnosticReport/" + dr, []string{"Observation/" + obs}},
		{"/fhir/DiagnosticReport?patient=Patient/p&_include=DiagnosticReport:result:Observation&_include:iterate=Observation:subject",
			"DiagnosticReport/" + dr, []string{"Observation/" + obs, "Patient/p"}},
		{"/fhir/DiagnosticReport?patient=Patient/p&_include=DiagnosticReport:result:Condition", "DiagnosticReport/" + dr, nil},
		{"/fhir/Observation?patient=Patient/p&_revinclude=DiagnosticReport:result", "Observation/" + obs, []string{"DiagnosticReport/" + dr}},
	} {
		matched, included, total := entries(tok, c.path)
		if !slices.Equal(matched, []string{c.match}) || !slices.Equal(included, c.included) || total != 1.0 {
			t.Errorf("%s: matched %v included %v total %v", c.path, matched, included, total)
		}
	}
	if reads := e.versionsRead(ctx, anchorer, "p"); len(reads) <= readsBefore {
		t.Errorf("including Patient/p left no read in its access log")
	}
	_, obsOnly, _, _ := e.scopedToken("hosp-a/dr-a", "system/Observation.rs")
	if _, included, _ := entries(obsOnly, "/fhir/Observation?patient=Patient/p&_include=Observation:patient"); len(included) != 0 {
		t.Errorf("a token of Observation scopes included %v", included)
	}
	// Every include the CapabilityStatement lists is taken.
	md := e.do("GET", "/fhir/metadata", "", nil)
	for _, res := range md.body["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		rm := res.(map[string]any)
		for _, key := range []string{"searchInclude", "searchRevInclude"} {
			vs, _ := rm[key].([]any)
			for _, v := range vs {
				param := map[string]string{"searchInclude": "_include", "searchRevInclude": "_revinclude"}[key]
				scope := "patient=Patient/p"
				if rm["type"] == "Patient" {
					scope = "_id=p"
				}
				path := "/fhir/" + rm["type"].(string) + "?" + scope + "&" + param + "=" + v.(string)
				if r := e.do("GET", path, tok, nil); r.status != 200 {
					t.Errorf("advertised %s: %d %s", path, r.status, r.rawBody)
				}
			}
		}
	}
	for _, q := range []string{"_include=Observation:nope", "_include=Bogus:x", "_include=Observation", "_revinclude=Practitioner:x"} {
		if r := e.do("GET", "/fhir/Observation?patient=Patient/p&"+q, tok, nil); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.rawBody)
		}
	}
}

// TestSortByAnyParameter: _sort takes any listed parameter, several keys
// and descending ones; an unknown one is a 400.
func TestSortByAnyParameter(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	var ids []string
	for _, c := range []struct {
		code  string
		value int
	}{{"2345-7", 120}, {"1234-5", 80}, {"2345-7", 95}} {
		r := e.do("POST", "/fhir/Observation", tok, obsWithCode(c.code, c.value))
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.rawBody)
		}
		ids = append(ids, r.body["id"].(string))
	}
	order := func(sort string) []string {
		t.Helper()
		r := e.do("GET", "/fhir/Observation?patient=Patient/p&_sort="+sort, tok, nil)
		if r.status != 200 {
			t.Fatalf("_sort=%s: %d %s", sort, r.status, r.rawBody)
		}
		var got []string
		for _, en := range r.body["entry"].([]any) {
			got = append(got, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		return got
	}
	lo, hi := min(ids[0], ids[2]), max(ids[0], ids[2]) // the two 2345-7s, by id
	for _, c := range []struct {
		sort string
		want []string
	}{
		{"code", []string{ids[1], lo, hi}},
		{"-code,_id", []string{lo, hi, ids[1]}},
		{"-code,-_id", []string{hi, lo, ids[1]}},
		{"_id", slices.Sorted(slices.Values(ids))},
		{"status,code", []string{ids[1], lo, hi}},
	} {
		if got := order(c.sort); !slices.Equal(got, c.want) {
			t.Errorf("_sort=%s: %v, want %v", c.sort, got, c.want)
		}
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p&_sort=nope", tok, nil); r.status != 400 {
		t.Errorf("_sort=nope: %d", r.status)
	}
}

// TestTokenText: :text matches the start of a code's text or display,
// case-insensitive, not its code.
func TestTokenText(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	withText := strings.Replace(string(obsWithCode("2345-7", 90)), `"code":"2345-7"}]`, `"code":"2345-7","display":"Glucose [Mass/volume] in Serum"}],"text":"Fasting glucose"`, 1)
	r := e.do("POST", "/fhir/Observation", tok, []byte(withText))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	e.createGlucose(tok, 91) // no text
	for q, want := range map[string]int{"fasting": 1, "GLUCOSE [mass": 1, "serum": 0, "2345": 0} {
		r := e.do("GET", "/fhir/Observation?patient=Patient/p&code:text="+url.QueryEscape(q), tok, nil)
		entries, _ := r.body["entry"].([]any)
		if r.status != 200 || len(entries) != want || want == 1 && entries[0].(map[string]any)["resource"].(map[string]any)["id"] != id {
			t.Errorf("code:text=%s: %d, %d entries, want %d", q, r.status, len(entries), want)
		}
	}
}

// TestHas: _has keeps the results some resource of another type
// references and that matches; malformed or impossible ones are a 400.
func TestHas(t *testing.T) {
	e := setupIndexed(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.registerPatientWithKey(ctx, "patient/q")
	tok := e.token("hosp-a/dr-a")
	for _, id := range []string{"p", "q"} {
		if r := e.do("PUT", "/fhir/Patient/"+id, tok, []byte(`{"resourceType":"Patient","id":"`+id+`","name":[{"family":"Hasse"}]}`)); r.status != 201 {
			t.Fatalf("put Patient/%s: %d %s", id, r.status, r.rawBody)
		}
	}
	e.createGlucose(tok, 90) // p's only
	found := func(path string) []string {
		t.Helper()
		got, _ := e.patientsFound(path, tok)
		return got
	}
	for path, want := range map[string][]string{
		"/fhir/Patient?family=hasse&_has:Observation:patient:code=http://loinc.org|2345-7": {"p"},
		"/fhir/Patient?family=hasse&_has:Observation:subject:code=0000-0":                  nil,
		"/fhir/Patient?_id=q&_has:Observation:patient:code=2345-7":                         nil,
		"/fhir/Patient?_id=p&_has:Observation:patient:status=final":                        {"p"},
	} {
		if got := found(path); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	for _, q := range []string{"_has:Observation:patient", "_has:Bogus:patient:code=x", "_has:Observation:nope:code=x", "_has:Observation:patient:nope=x"} {
		if r := e.do("GET", "/fhir/Patient?_id=p&"+q, tok, nil); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %s", q, r.status, r.rawBody)
		}
	}
}
