package fhirrest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// found is the ids of the resources a search found, in its order, and its total.
func (e *env) found(path, tok string) ([]string, float64) {
	e.t.Helper()
	r := e.do("GET", path, tok, nil)
	if r.status != 200 {
		e.t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
	}
	var ids []string
	entries, _ := r.body["entry"].([]any)
	for _, en := range entries {
		ids = append(ids, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
	}
	total, _ := r.body["total"].(float64)
	return ids, total
}

// searchCase is a search and the resources it finds (by name), in any order.
type searchCase struct {
	who, path string
	want      []string
}

// check runs cases, names mapping resource names to ids.
func (e *env) check(cases []searchCase, toks map[string]string, names map[string]string) {
	e.t.Helper()
	for _, c := range cases {
		path := c.path
		for name, id := range names {
			path = strings.ReplaceAll(path, "{"+name+"}", id)
		}
		got, total := e.found(path, toks[c.who])
		var want []string
		for _, w := range c.want {
			want = append(want, names[w])
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || int(total) != len(want) {
			e.t.Errorf("%s: %s found %v (total %v), want %v %v", c.who, path, got, total, c.want, want)
		}
	}
}

// filterFixture: hosp-a's dr-a writes Patients p, q and r (all Okonkwo)
// and clinical records of theirs; p grants hosp-b, q grants hosp-b/dr-b
// only, r grants nothing. It returns the callers' tokens and the records'
// ids by name.
func filterFixture(t *testing.T, e *env) (map[string]string, map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	q := e.registerPatientWithKey(ctx, "patient/q")
	e.registerPatientWithKey(ctx, "patient/r")
	toks := map[string]string{"dr-a": e.token("hosp-a/dr-a")}
	for id, rest := range map[string]string{
		"p": `"name":[{"family":"Okonkwo","given":["Ada","Ngozi"]}],"gender":"female","birthDate":"1980-05-17",
			"generalPractitioner":[{"reference":"Practitioner/hosp-a.dr-a"}],"managingOrganization":{"reference":"Organization/hosp-a"}`,
		"q": `"name":[{"family":"Okonkwo","given":["Bola"]}],"gender":"male","birthDate":"1985-02"`,
		"r": `"name":[{"family":"Okonkwo","given":["Chidi"]}],"birthDate":"1990-01-01","generalPractitioner":[{"reference":"Practitioner/hosp-b.dr-b"}]`,
	} {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,%s}`, id, rest)
		if r := e.do("PUT", "/fhir/Patient/"+id, toks["dr-a"], []byte(body)); r.status != 201 {
			t.Fatalf("put Patient/%s: %d %s", id, r.status, r.rawBody)
		}
	}
	names := map[string]string{"p": "p", "q": "q", "r": "r"}
	obs := `{"resourceType":"Observation","status":%q,"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
		"subject":{"reference":"Patient/%s"},%s,"valueQuantity":{"value":90,"unit":"mg/dL"}}`
	for _, c := range []struct{ name, typ, body string }{
		{"o1", "Observation", fmt.Sprintf(obs, "final", "p", `"effectiveDateTime":"2023-11-05T10:00:00Z","performer":[{"reference":"Practitioner/hosp-a.dr-a"}],"encounter":{"reference":"Encounter/e1"}`)},
		{"o2", "Observation", fmt.Sprintf(obs, "final", "p", `"effectiveDateTime":"2024-02-10T08:00:00+02:00","performer":[{"reference":"Practitioner/hosp-b.dr-b"}]`)},
		{"o3", "Observation", fmt.Sprintf(obs, "final", "p", `"effectivePeriod":{"start":"2024-03-01","end":"2024-03-02"}`)},
		{"o4", "Observation", fmt.Sprintf(obs, "final", "q", `"effectiveDateTime":"2024-05-01"`)},
		{"o5", "Observation", fmt.Sprintf(obs, "preliminary", "r", `"effectiveDateTime":"2024-06-01"`)},
		{"dr1", "DiagnosticReport", `{"resourceType":"DiagnosticReport","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}]},
			"subject":{"reference":"Patient/p"},"effectiveDateTime":"2024-04-01"}`},
		{"c1", "Condition", strings.Split(paramResources[0], "\n")[0] + strings.Split(paramResources[0], "\n")[1] + strings.Split(paramResources[0], "\n")[2]},
	} {
		r := e.do("POST", "/fhir/"+c.typ, toks["dr-a"], []byte(c.body))
		if r.status != 201 {
			t.Fatalf("create %s: %d %s", c.name, r.status, r.rawBody)
		}
		names[c.name] = r.body["id"].(string)
	}
	// The grants index what hosp-b may read for hosp-b.
	e.readGrant(ctx, p, consent.Grantee{Org: "hosp-b"})
	e.readGrant(ctx, q, consent.Grantee{Principal: "hosp-b/dr-b"})
	toks["dr-b"] = e.token("hosp-b/dr-b")
	toks["dr-u"] = e.registerStaff("hosp-b", "hosp-b/dr-u", carechain.RolePhysician)
	return toks, names
}

// TestModifiersDatesAndReferencesAcrossPatients: without patient=, the
// index finds candidates by what it serves (tokens, strings, references,
// dates eq), and modifiers and date ranges filter them after decryption;
// what a caller may not read is never returned nor counted, and pages are
// cut from what remains.
func TestModifiersDatesAndReferencesAcrossPatients(t *testing.T) {
	e := setupIndexed(t)
	toks, names := filterFixture(t, e)
	e.check([]searchCase{
		{"dr-a", "/fhir/Patient?family=okonkwo&given:contains=goz", []string{"p"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&given:contains=GOZ&given:contains=ad", []string{"p"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&given:exact=ada", nil},
		{"dr-a", "/fhir/Patient?family:exact=Okonkwo&given:exact=Bola", []string{"q"}},
		{"dr-a", "/fhir/Patient?family:exact=okonkwo", nil},
		{"dr-a", "/fhir/Patient?name=okonkwo&gender:not=male", []string{"p", "r"}}, // r has no gender: :not matches it
		{"dr-a", "/fhir/Patient?name=okonkwo&gender:not=male,female", []string{"r"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&gender:missing=true", []string{"r"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&gender:missing=false", []string{"p", "q"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&general-practitioner:missing=true", []string{"q"}},
		{"dr-a", "/fhir/Patient?birthdate=1980", []string{"p"}},
		{"dr-a", "/fhir/Patient?given=bola,chi", []string{"q", "r"}},
		{"dr-a", "/fhir/Observation?date=2023-11,2024-02-10", []string{"o1", "o2"}},
		{"dr-a", "/fhir/Patient?birthdate=1985-02-10", []string{"q"}}, // q's birthdate is 1985-02
		{"dr-a", "/fhir/Patient?family=okonkwo&birthdate=ge1985", []string{"q", "r"}},
		{"dr-a", "/fhir/Patient?family=okonkwo&birthdate=lt1985-02-01", []string{"p"}},
		{"dr-a", "/fhir/Patient?general-practitioner=Practitioner/hosp-a.dr-a", []string{"p"}},
		{"dr-a", "/fhir/Patient?general-practitioner=hosp-b.dr-b", []string{"r"}},
		{"dr-a", "/fhir/Patient?organization=Organization/hosp-a", []string{"p"}},
		// Observations by code, date, performer and encounter.
		{"dr-a", "/fhir/Observation?code=2345-7&date=ge2024-01", []string{"o2", "o3", "o4", "o5"}},
		{"dr-a", "/fhir/Observation?code=2345-7&date=lt2024", []string{"o1"}},
		{"dr-a", "/fhir/Observation?date=2024-02-10", []string{"o2"}},
		{"dr-a", "/fhir/Observation?date=2024-03", []string{"o3"}}, // a Period
		{"dr-a", "/fhir/Observation?date=2024-03-02", []string{"o3"}},
		{"dr-a", "/fhir/Observation?date=2024-03-03", nil},
		{"dr-a", "/fhir/Observation?code=2345-7&performer=Practitioner/hosp-b.dr-b", []string{"o2"}},
		{"dr-a", "/fhir/Observation?performer=hosp-a.dr-a", []string{"o1"}},
		{"dr-a", "/fhir/Observation?encounter=Encounter/e1", []string{"o1"}},
		{"dr-a", "/fhir/Observation?code=2345-7&_id={o2}", []string{"o2"}},
		{"dr-a", "/fhir/Observation?code=2345-7&performer:missing=true", []string{"o3", "o4", "o5"}},
		{"dr-a", "/fhir/Observation?code=2345-7&status:not=final", []string{"o5"}},
		{"dr-a", "/fhir/DiagnosticReport?code=58410-2", []string{"dr1"}},
		{"dr-a", "/fhir/DiagnosticReport?date=2024-04", []string{"dr1"}},
		{"dr-a", "/fhir/Condition?code=http://snomed.info/sct|38341003", []string{"c1"}},
		{"dr-a", "/fhir/Condition?code=38341003&clinical-status:not=active", nil},
		// Consent: hosp-b's dr-b reads p and q, dr-u p only; r granted no one.
		{"dr-b", "/fhir/Patient?family=okonkwo&birthdate=ge1980", []string{"p", "q"}},
		{"dr-u", "/fhir/Patient?family=okonkwo&birthdate=ge1980", []string{"p"}},
		{"dr-b", "/fhir/Patient?family=okonkwo&gender:not=female", []string{"q"}},
		{"dr-u", "/fhir/Patient?family=okonkwo&gender:not=female", nil},
		{"dr-b", "/fhir/Observation?code=2345-7&date=ge2024-01", []string{"o2", "o3", "o4"}},
		{"dr-u", "/fhir/Observation?code=2345-7&date=ge2024-01", []string{"o2", "o3"}},
		{"dr-u", "/fhir/DiagnosticReport?date=2024-04-01", []string{"dr1"}},
		// Of one patient, the modifiers filter as well.
		{"dr-a", "/fhir/Observation?patient=Patient/p&performer:missing=true", []string{"o3"}},
		{"dr-a", "/fhir/Observation?patient=Patient/p&code:not=2345-7", nil},
		{"dr-a", "/fhir/Patient?_id=p&given:contains=goz&gender:not=male", []string{"p"}},
	}, toks, names)
	// Sorted by date, newest first, across patients.
	got, total := e.found("/fhir/Observation?code=2345-7&date=ge2024&_sort=-date&_count=2", toks["dr-a"])
	if !slices.Equal(got, []string{names["o5"], names["o4"]}) || total != 4 {
		t.Errorf("sorted by -date: %v, total %v", got, total)
	}
	// Pages of a filtered search: dr-a's p and r, one at a time; the
	// total is what remains after the filter.
	var paged []string
	for off := range 2 {
		got, total := e.found(fmt.Sprintf("/fhir/Patient?family=okonkwo&gender:not=male&_count=1&_offset=%d", off), toks["dr-a"])
		if total != 2 || len(got) != 1 {
			t.Fatalf("page %d: %v, total %v", off, got, total)
		}
		paged = append(paged, got...)
	}
	if !slices.Equal(paged, []string{"p", "r"}) {
		t.Errorf("pages: %v", paged)
	}
}

// TestSearchOfPostFiltersAloneIsRefused: without patient=, a search none
// of whose parameters the index serves is refused, 400, naming them and
// what the index serves; a malformed modifier or patient is refused too.
func TestSearchOfPostFiltersAloneIsRefused(t *testing.T) {
	e := setupIndexed(t)
	tok := e.token("hosp-a/dr-a")
	for _, c := range []struct {
		path, code string
		mention    []string
	}{
		{"/fhir/Observation?status=final", "required", []string{"status=final", "code, date, performer, encounter", "patient="}},
		{"/fhir/Observation?date=ge2024-01", "required", []string{"date=ge2024-01"}},
		{"/fhir/Patient?gender:not=male&given:contains=a", "required", []string{"gender:not=male", "given:contains=a", "identifier, name"}},
		{"/fhir/Patient?birthdate:missing=true", "required", []string{"birthdate:missing=true"}},
		{"/fhir/Patient?birthdate=1980,ge1990", "required", []string{"birthdate=1980,ge1990"}},
		{"/fhir/Patient", "required", []string{"patient=", "identifier, name"}},
		{"/fhir/Encounter?status=finished", "required", []string{"Encounter has no parameter the search index serves"}},
		{"/fhir/Patient?family=x&gender:missing=maybe", "value", []string{"gender:missing must be true or false"}},
		{"/fhir/Patient?family:text=x", "not-supported", []string{"family:text"}},
		{"/fhir/Observation?code=x&patient:missing=true", "not-supported", []string{"patient:missing"}},
		{"/fhir/Observation?code=x&patient=Organization/hosp-a", "value", []string{"must name a patient"}},
	} {
		r := e.do("GET", c.path, tok, nil)
		for _, m := range c.mention {
			if r.status != 400 || r.issueCode() != c.code || !strings.Contains(string(r.rawBody), m) {
				t.Errorf("%s: %d %s, want 400 %s mentioning %q", c.path, r.status, r.rawBody, c.code, m)
			}
		}
	}
}
