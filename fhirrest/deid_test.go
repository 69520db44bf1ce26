package fhirrest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
)

// deidFixture is a resource of the de-identification fixture
// (deid/testdata), made a resource of patient/p.
func deidFixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deid", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	raw = bytes.ReplaceAll(raw, []byte("https://node1.hospital.example/fhir/Patient/pat-eleanor-7741"), []byte("Patient/p"))
	if err := json.Unmarshal(bytes.ReplaceAll(raw, []byte("pat-eleanor-7741"), []byte("p")), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "meta")
	if m["resourceType"] != "Patient" {
		delete(m, "id")
		delete(m, "encounter")
	}
	out, _ := json.Marshal(m)
	return out
}

// fixtureIdentifiers are the identifiers hidden in the fixture, but for
// the fixture's own resource ids (the server assigns its own).
func fixtureIdentifiers(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deid", "testdata", "identifiers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		switch l := strings.TrimSpace(sc.Text()); {
		case l == "", strings.HasPrefix(l, "#"), l == "pat-eleanor-7741", l == "obs-age-1", l == "rep-1", l == "enc-1":
		default:
			out = append(out, l)
		}
	}
	return out
}

// textOf is every string of a JSON answer (one document or ndjson), with
// attachment data decoded, but for a Bundle's links.
func textOf(t *testing.T, raw []byte) string {
	t.Helper()
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "link" && x["resourceType"] == "Bundle" {
					continue // a Bundle's links repeat the request: the ids the researcher asked for
				}
				b.WriteString(k + "\n")
				if s, ok := e.(string); ok && k == "data" {
					d, _ := base64.StdEncoding.DecodeString(s)
					b.Write(d)
					b.WriteString("\n")
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x + "\n")
		case json.Number:
			b.WriteString(x.String() + "\n")
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, line)
		}
		walk(v)
	}
	return b.String()
}

// noIdentifiers fails if any of ids is in text, as a whole word, in any case.
func noIdentifiers(t *testing.T, what, text string, ids []string) {
	t.Helper()
	for _, id := range ids {
		p := regexp.QuoteMeta(id)
		if regexp.MustCompile(`^\w`).MatchString(id) {
			p = `\b` + p
		}
		if regexp.MustCompile(`\w$`).MatchString(id) {
			p += `\b`
		}
		if regexp.MustCompile(`(?i)` + p).MatchString(text) {
			t.Errorf("%s: identifier %q reached the researcher:\n%s", what, id, text)
		}
	}
}

// export runs a bulk export of patient/p as tok and returns its files,
// concatenated, and the id the Patient has in them ("" if none).
func (e *env) export(tok, query string) (string, []byte) {
	e.t.Helper()
	r := e.do("GET", "/fhir/Patient/p/$export"+query, tok, nil, "Prefer", "respond-async", "X-Purpose-Of-Use", "research")
	if r.status != 202 {
		e.t.Fatalf("export%s: %d %s", query, r.status, r.rawBody)
	}
	loc, _ := url.Parse(r.header.Get("Content-Location"))
	st := e.do("GET", loc.Path, tok, nil, "X-Purpose-Of-Use", "research")
	var files []byte
	patientID := ""
	for _, o := range st.body["output"].([]any) {
		u, _ := url.Parse(o.(map[string]any)["url"].(string))
		f := e.do("GET", u.RequestURI(), tok, nil, "X-Purpose-Of-Use", "research")
		if f.status != 200 {
			e.t.Fatalf("export file: %d %s", f.status, f.rawBody)
		}
		files = append(files, f.rawBody...)
		if o.(map[string]any)["type"] == "Patient" {
			var p map[string]any
			json.Unmarshal(bytes.SplitN(f.rawBody, []byte("\n"), 2)[0], &p)
			patientID, _ = p["id"].(string)
		}
	}
	return patientID, files
}

// TestResearcherGetsDeidentifiedAnswers: a hospital holds the
// de-identification fixture as patient/p's record; the patient grants a
// researcher reading for research. Every answer the researcher gets — read,
// search, $everything, bulk export — holds none of the fixture's
// identifiers; a study's pseudonyms are the same in two exports and differ
// from another study's; the hospital's physician still reads the patient
// identified.
func TestResearcherGetsDeidentifiedAnswers(t *testing.T) {
	e := setupWith(t, func(o *fhirrest.Options) { o.DeidSecret = bytes.Repeat([]byte{9}, 32) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drA := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", drA, deidFixture(t, "patient.json")); r.status != 200 && r.status != 201 {
		t.Fatalf("write the Patient: %d %s", r.status, r.rawBody)
	}
	var recordIDs []string
	for _, f := range []string{"observation.json", "diagnosticreport.json", "encounter.json"} {
		var m map[string]any
		json.Unmarshal(deidFixture(t, f), &m)
		r := e.do("POST", "/fhir/"+m["resourceType"].(string), drA, deidFixture(t, f))
		if r.status != 201 {
			t.Fatalf("write %s: %d %s", f, r.status, r.rawBody)
		}
		recordIDs = append(recordIDs, r.body["id"].(string))
	}
	res := e.registerStaff("hosp-b", "hosp-b/res", carechain.RoleResearcher)
	if _, err := e.svc.Grant(ctx, records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/res"}, Categories: []string{consent.AnyCategory}, Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeResearch}, NotBefore: time.Now().Unix() - 60,
	}); err != nil {
		t.Fatal(err)
	}
	ids := append(fixtureIdentifiers(t), recordIDs...)

	obs := "/fhir/Observation/" + recordIDs[0]
	for _, path := range []string{"/fhir/Patient/p", "/fhir/Observation?patient=p", "/fhir/Patient/p/$everything", obs, obs + "/_history", obs + "/_history/1"} {
		r := e.do("GET", path, res, nil, "X-Purpose-Of-Use", "research")
		if r.status != 200 || r.header.Get("Last-Modified") != "" {
			t.Fatalf("researcher GET %s: %d (Last-Modified %q) %s", path, r.status, r.header.Get("Last-Modified"), r.rawBody)
		}
		if !strings.Contains(string(r.rawBody), `"ANONYED"`) {
			t.Errorf("GET %s: no anonymized label: %s", path, r.rawBody)
		}
		noIdentifiers(t, "GET "+path, textOf(t, r.rawBody), ids)
	}

	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/p"}},
	  {"request":{"method":"GET","url":"DiagnosticReport?patient=p"}}]}`
	if r := e.do("POST", "/fhir", res, []byte(batch), "X-Purpose-Of-Use", "research"); r.status != 200 || !strings.Contains(string(r.rawBody), `"PSEUDED"`) && !strings.Contains(string(r.rawBody), `"ANONYED"`) {
		t.Errorf("researcher batch: %d %s", r.status, r.rawBody)
	} else {
		noIdentifiers(t, "batch", textOf(t, r.rawBody), ids)
	}
	if r := e.do("GET", "/fhir/Patient/p", drA, nil, "X-Purpose-Of-Use", "research"); strings.Contains(string(r.rawBody), "Eleanor") {
		t.Errorf("a physician's research request got identified data: %d %s", r.status, r.rawBody)
	}

	a1, files := e.export(res, "?_study=study-1")
	noIdentifiers(t, "export", textOf(t, files), ids)
	for _, line := range bytes.Split(bytes.TrimSpace(files), []byte("\n")) {
		if _, err := fhirjson.Parse(line); err != nil {
			t.Errorf("exported resource is not valid R4: %v\n%s", err, line)
		}
	}
	if !strings.Contains(string(files), `"subject":{"reference":"Patient/`+a1+`"}`) {
		t.Errorf("study export: the resources do not reference the Patient's pseudonym %s:\n%s", a1, files)
	}
	if _, obsOnly := e.export(res, "?_type=Observation"); len(obsOnly) == 0 { // the Patient's identifiers still scrubbed from the notes
		t.Error("Observation export is empty")
	} else {
		noIdentifiers(t, "Observation export", textOf(t, obsOnly), ids)
	}
	a2, _ := e.export(res, "?_study=study-1")
	b, _ := e.export(res, "?_study=study-2")
	anon, _ := e.export(res, "")
	if a1 == "" || a1 != a2 || a1 == b || anon == a1 || anon == b {
		t.Errorf("pseudonyms: study-1 %s then %s, study-2 %s, no study %s: want study-1 stable, all others different", a1, a2, b, anon)
	}
	if r := e.do("GET", "/fhir/Patient/p?_study=bad/id", res, nil, "X-Purpose-Of-Use", "research"); r.status != 400 {
		t.Errorf("malformed study id: %d %s", r.status, r.rawBody)
	}

	// Only a consent that says so gives the researcher identified data.
	identified := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "extension":[{"url":"` + fhirrest.IdentifiedExtension + `","valueBoolean":true}],
	  "provision":{"actor":[{"reference":{"reference":"Practitioner/hosp-b.res"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"%s"}],
	    "class":[{"system":"urn:carechain:category","code":"*"}]}}`
	ptok := e.patientToken()
	e.do("POST", "/fhir/Consent", ptok, []byte(fmt.Sprintf(identified, "treatment"))).outcome(t, 400, "identified is for research grants")
	if r := e.do("POST", "/fhir/Consent", ptok, []byte(fmt.Sprintf(identified, "research"))); r.status != 201 || !strings.Contains(string(r.rawBody), fhirrest.IdentifiedExtension) {
		t.Fatalf("identified research consent: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Patient/p", res, nil, "X-Purpose-Of-Use", "research"); r.status != 200 || !strings.Contains(string(r.rawBody), "078-05-1120") ||
		strings.Contains(string(r.rawBody), "ANONYED") {
		t.Errorf("researcher under an identified consent: %d %s", r.status, r.rawBody)
	}

	if r := e.do("GET", "/fhir/Patient/p", drA, nil); r.status != 200 || !strings.Contains(string(r.rawBody), "Eleanor") ||
		!strings.Contains(string(r.rawBody), "078-05-1120") {
		t.Errorf("physician reads the patient identified: %d %s", r.status, r.rawBody)
	}
}
