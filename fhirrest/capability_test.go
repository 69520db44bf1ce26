package fhirrest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// capResource is a resource of the CapabilityStatement, as a client reads it.
type capResource struct {
	Type        string `json:"type"`
	SearchParam []struct {
		Name, Type, Documentation string
	} `json:"searchParam"`
	Interaction []struct{ Code string } `json:"interaction"`
}

// searchable reports whether the type lists the search-type interaction.
func (r capResource) searchable() bool {
	return slices.ContainsFunc(r.Interaction, func(i struct{ Code string }) bool { return i.Code == "search-type" })
}

// capabilities are the resources /fhir/metadata lists.
func (e *env) capabilities() []capResource {
	e.t.Helper()
	r := e.do("GET", "/fhir/metadata", "", nil)
	var cs struct {
		Rest []struct {
			Resource []capResource `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(r.rawBody, &cs); err != nil || r.status != 200 || len(cs.Rest) != 1 || len(cs.Rest[0].Resource) == 0 {
		e.t.Fatalf("metadata: %d %v %s", r.status, err, r.rawBody)
	}
	return cs.Rest[0].Resource
}

// nulls are the paths of the JSON nulls in v.
func nulls(v any, path string) []string {
	switch x := v.(type) {
	case nil:
		return []string{path}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, nulls(e, path+"."+k)...)
		}
		return out
	case []any:
		var out []string
		for i, e := range x {
			out = append(out, nulls(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	return nil
}

func TestMetadataHasNoNulls(t *testing.T) {
	e := setup(t)
	r := e.do("GET", "/fhir/metadata", "", nil)
	var doc any
	if err := json.Unmarshal(r.rawBody, &doc); err != nil {
		t.Fatal(err)
	}
	if n := nulls(doc, "CapabilityStatement"); len(n) > 0 {
		t.Fatalf("nulls in /fhir/metadata at %v", n)
	}
	for _, res := range e.capabilities() {
		if !res.searchable() {
			continue // read or create only (claims.go)
		}
		if len(res.SearchParam) == 0 {
			t.Errorf("%s lists no search parameters", res.Type)
		}
		for _, p := range res.SearchParam {
			if p.Name == "" || p.Type == "" || !strings.Contains(p.Documentation, ": ") {
				t.Errorf("%s: search parameter %+v lacks a name, type or expression", res.Type, p)
			}
		}
	}
	// The views' bundles too: a PractitionerRole without roles, a Consent.
	tok := e.token("hosp-a/dr-a")
	for _, path := range []string{"/fhir/PractitionerRole", "/fhir/Practitioner", "/fhir/Organization", "/fhir/Task", "/fhir/Medication", "/fhir/Device"} {
		var doc any
		json.Unmarshal(e.do("GET", path, tok, nil).rawBody, &doc)
		if n := nulls(doc, path); len(n) > 0 {
			t.Errorf("nulls in %s at %v", path, n)
		}
	}
}

// sampleValue is a value of a parameter of type typ that a search accepts.
func sampleValue(name, typ string) string {
	switch {
	case name == "_id":
		return "p"
	case typ == "date":
		return "ge2000-01-01"
	case typ == "reference":
		return "Patient/p"
	}
	return "x"
}

// TestAdvertisedSearchParametersAreAccepted: every search parameter the
// CapabilityStatement lists is accepted by a search of its type, with
// each modifier its documentation names; one it
// does not list is refused, 400 not-supported, even a real R4 parameter of
// another type.
func TestAdvertisedSearchParametersAreAccepted(t *testing.T) {
	e := setup(t)
	tok, ptok := e.token("hosp-a/dr-a"), e.patientToken()
	id := e.createGlucose(tok, 90)
	base := func(typ string) (string, string) {
		switch typ {
		case "Patient":
			return "_id=p", tok
		case "Consent", "AuditEvent":
			return "patient=Patient/p", ptok
		case "Provenance":
			return "target=Observation/" + id, tok
		case "Practitioner", "PractitionerRole", "Organization", "Task", "Schedule", "Slot", "HealthcareService", "ChargeItemDefinition",
			"Medication", "Device": // registered products: an empty catalogue here (supplyproducts_test.go has products)
			return "", tok
		}
		return "patient=Patient/p", tok
	}
	resources := e.capabilities()
	for _, res := range resources {
		if !res.searchable() {
			continue
		}
		q, who := base(res.Type)
		for _, p := range res.SearchParam {
			v := sampleValue(p.Name, p.Type)
			if p.Name == "target" {
				v = "Observation/" + id
			}
			keys := map[string]string{p.Name: v}
			for _, m := range []string{"exact", "contains", "not"} { // the modifiers its documentation names
				if strings.Contains(p.Documentation, ":"+m+" ") {
					keys[p.Name+":"+m] = v
				}
			}
			if strings.Contains(p.Documentation, ":missing=true") {
				keys[p.Name+":missing"] = "false"
			}
			for k, v := range keys {
				path := "/fhir/" + res.Type + "?" + strings.TrimPrefix(q+"&"+url.Values{k: {v}}.Encode(), "&")
				if r := e.do("GET", path, who, nil); r.status != 200 || r.body["type"] != "searchset" {
					t.Errorf("advertised %s: %d %s", path, r.status, r.rawBody)
				}
			}
		}
		for _, name := range []string{"unlisted", "vaccine-code", "code:above"} {
			if res.Type == "Immunization" && name == "vaccine-code" {
				continue
			}
			path := "/fhir/" + res.Type + "?" + strings.TrimPrefix(q+"&"+name+"=x", "&")
			if r := e.do("GET", path, who, nil); r.status != 400 || r.issueCode() != "not-supported" || !strings.Contains(string(r.rawBody), name) {
				t.Errorf("unlisted %s: %d %s", path, r.status, r.rawBody)
			}
		}
	}
	if len(resources) < 15 {
		t.Fatalf("only %d resource types listed", len(resources))
	}
	// Conditional create searches too: an unlisted parameter is refused.
	e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 91)), "If-None-Exist", "patient=Patient/p&foo=bar").outcome(t, 400, "foo")
}

// Resources of patient/p with what the R4 parameters of their types look at.
var paramResources = []string{
	`{"resourceType":"Condition","subject":{"reference":"Patient/p"},"onsetDateTime":"2025-06-01",
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]}}`,
	`{"resourceType":"Immunization","status":"completed","patient":{"reference":"Patient/p"},"occurrenceDateTime":"2025-10-01",
	  "vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}]}}`,
	`{"resourceType":"Encounter","status":"finished","subject":{"reference":"Patient/p"},
	  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
	  "type":[{"coding":[{"system":"http://snomed.info/sct","code":"185349003"}]}],
	  "period":{"start":"2026-01-05T09:00:00Z","end":"2026-01-05T10:00:00Z"}}`,
	`{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/p"},"date":"2026-01-05T10:00:00Z",
	  "type":{"coding":[{"system":"http://loinc.org","code":"34133-9"}]},
	  "content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8="}}]}`,
	`{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p"},"category":["food"],"recordedDate":"2025-03-01",
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"91935009"}]}}`,
}

// TestR4SearchParametersFilter: the R4 parameters of each type select what
// they name, and a parameter R4 does not give a type is refused.
func TestR4SearchParametersFilter(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	for _, res := range paramResources {
		if r := e.do("POST", "/fhir/"+strings.Split(res, `"`)[3], tok, []byte(res)); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.rawBody)
		}
	}
	cases := []struct {
		query string
		total float64
	}{
		{"Condition?clinical-status=active", 1}, {"Condition?clinical-status=resolved", 0},
		{"Condition?onset-date=ge2025-01-01", 1}, {"Condition?onset-date=lt2025-01-01", 0},
		{"Condition?code=http://snomed.info/sct|38341003", 1}, {"Condition?code=http://loinc.org|38341003", 0},
		{"Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|140", 1}, {"Immunization?vaccine-code=141", 0},
		{"Immunization?date=2025-10", 1}, {"Immunization?date=2025-11", 0},
		{"Encounter?date=2026-01-05", 1}, {"Encounter?date=ge2026-02-01", 0}, {"Encounter?date=le2026-01-05T09:30:00Z", 1},
		{"Encounter?date=lt2026-01-05T08:00:00Z", 0}, {"Encounter?date=gt2026-01-05T09:30:00Z", 1},
		{"Encounter?class=AMB", 1}, {"Encounter?class=IMP", 0}, {"Encounter?type=185349003", 1}, {"Encounter?type=1", 0},
		{"DocumentReference?type=http://loinc.org|34133-9", 1}, {"DocumentReference?type=11488-4", 0},
		{"DocumentReference?date=2026-01-05", 1}, {"DocumentReference?date=2026-01-06", 0},
		{"AllergyIntolerance?clinical-status=active", 1}, {"AllergyIntolerance?clinical-status=inactive", 0},
		{"AllergyIntolerance?category=food", 1}, {"AllergyIntolerance?category=medication", 0},
		{"AllergyIntolerance?date=2025-03-01", 1}, {"AllergyIntolerance?date=2025-03-02", 0},
	}
	for _, c := range cases {
		path := "/fhir/" + c.query + "&patient=Patient/p"
		if r := e.do("GET", path, tok, nil); r.status != 200 || r.body["total"] != c.total {
			t.Errorf("%s: %d, total %v, want %v", path, r.status, r.body["total"], c.total)
		}
	}
	for _, q := range []string{"Condition?status=active", "Condition?date=2025", "Immunization?code=140", "Encounter?code=x", "DocumentReference?code=x", "Immunization?subject=Patient/p"} {
		e.do("GET", "/fhir/"+q+"&patient=Patient/p", tok, nil).outcome(t, 400, "not supported")
	}
	e.do("GET", "/fhir/Condition?patient=Patient/p&_sort=date", tok, nil).outcome(t, 400, "no such search parameter")
	e.do("GET", "/fhir/Condition?patient=Patient/p&subject=Patient/q", tok, nil).outcome(t, 400, "different patients")
	if r := e.do("GET", "/fhir/Encounter?patient=Patient/p&_sort=-date", tok, nil); r.status != 200 || r.body["total"] != 1.0 {
		t.Errorf("Encounter sorted by date: %d %s", r.status, r.rawBody)
	}
}

// TestViewSearchParametersFilter: each parameter a read-only view lists
// selects what it names.
func TestViewSearchParametersFilter(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, other, ptok := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b"), e.patientToken()
	id := e.createGlucose(tok, 90)
	consent := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"Practitioner/hosp-b.dr-b"}}],"action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],
	    "class":[{"system":"urn:carechain:category","code":"*"}]}}`
	if r := e.do("POST", "/fhir/Consent", ptok, []byte(consent)); r.status != 201 {
		t.Fatalf("consent: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Observation/"+id, other, nil)
	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil {
		t.Fatal(err)
	}
	total := func(path, who string) float64 {
		t.Helper()
		r := e.do("GET", path, who, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
		}
		return r.body["total"].(float64)
	}
	all := total("/fhir/Practitioner", tok)
	events := total("/fhir/AuditEvent", ptok)
	cases := []struct {
		path, who string
		total     float64
	}{
		{"/fhir/Practitioner?_id=hosp-a.dr-a", tok, 1}, {"/fhir/Practitioner?identifier=urn:carechain:principal|hosp-b/dr-b", tok, 1},
		{"/fhir/Practitioner?name=nobody", tok, 0}, {"/fhir/Practitioner?active=true", tok, all}, {"/fhir/Practitioner?active=false", tok, 0},
		{"/fhir/PractitionerRole?organization=Organization/hosp-b", tok, 2}, {"/fhir/PractitionerRole?organization=hosp-a,hosp-b", tok, all},
		{"/fhir/PractitionerRole?practitioner=Practitioner/hosp-a.dr-a", tok, 1}, {"/fhir/PractitionerRole?role=urn:carechain:role|physician", tok, 2},
		{"/fhir/PractitionerRole?_id=hosp-b.dr-b&organization=hosp-a", tok, 0},
		{"/fhir/Organization?_id=hosp-a", tok, 1}, {"/fhir/Organization?name=HOSP", tok, 2}, {"/fhir/Organization?name=clinic", tok, 0},
		{"/fhir/Organization?active=true", tok, 2},
		{"/fhir/Consent?status=active", ptok, 1}, {"/fhir/Consent?status=inactive", ptok, 0},
		{"/fhir/Consent?patient=Patient/p&status=active", other, 1},
		{"/fhir/Provenance?target=Observation/" + id + "&agent=Practitioner/hosp-a.dr-a", tok, 1},
		{"/fhir/Provenance?target=Observation/" + id + "&agent=Practitioner/hosp-b.dr-b", tok, 0},
		{"/fhir/Provenance?target=Observation/" + id + "&_id=" + id + "-1", tok, 1},
		{"/fhir/AuditEvent?date=ge2000-01-01", ptok, events}, {"/fhir/AuditEvent?date=lt2000-01-01", ptok, 0},
		{"/fhir/AuditEvent?agent=Practitioner/nobody", ptok, 0}, {"/fhir/AuditEvent?outcome=0,4,8", ptok, events},
	}
	for _, c := range cases {
		if got := total(c.path, c.who); got != c.total {
			t.Errorf("%s: total %v, want %v", c.path, got, c.total)
		}
	}
	if events == 0 || total("/fhir/AuditEvent?agent=Practitioner/hosp-b.dr-b&entity=Observation/"+id, ptok) == 0 {
		t.Errorf("the access log has no read of Observation/%s by hosp-b/dr-b (%v events)", id, events)
	}
	if all < 2 {
		t.Errorf("%v practitioners", all)
	}
}

// TestRoutingErrorsAreOperationOutcomes: a path no route serves is a 404
// OperationOutcome, a method its path has no route for a 405 one with Allow.
func TestRoutingErrorsAreOperationOutcomes(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/fhir/Observation/x/y/z/w", 404, ""},
		{"GET", "/auth/nothing", 404, ""},
		{"POST", "/fhir/Observation/x", 405, "GET, PUT, PATCH, DELETE"},
		{"PATCH", "/fhir/metadata", 405, "GET, POST, PUT, DELETE"},
		{"DELETE", "/fhir", 405, "POST"},
		{"GET", "/auth/token", 405, "POST"},
		{"PUT", "/fhir/Task/x/$approve", 405, "POST"},
	} {
		r := e.do(c.method, c.path, tok, nil)
		if r.status != c.status || r.body["resourceType"] != "OperationOutcome" || r.header.Get("Allow") != c.allow ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, r.status, r.header.Get("Allow"), r.rawBody)
		}
	}
}

// TestCommunicationIsNotListedWithDelete: messages are never deleted (a
// DELETE of one is refused), so the CapabilityStatement does not claim it.
func TestCommunicationIsNotListedWithDelete(t *testing.T) {
	e := setup(t)
	for _, res := range e.capabilities() {
		if res.Type != "Communication" {
			continue
		}
		for _, i := range res.Interaction {
			if i.Code == "delete" {
				t.Error("Communication is listed with delete, which is refused")
			}
		}
		return
	}
	t.Fatal("Communication is not in the CapabilityStatement")
}
