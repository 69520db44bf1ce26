package fhirrest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostileInputIs400: paging parameters out of range, numbers no float
// holds, FHIR integers out of range and duplicate JSON keys at any depth, in
// every body the API decodes (resources, Bundles and their entries,
// Consents), answer 400 with an OperationOutcome that says why, and store
// nothing.
func TestHostileInputIs400(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	ptok := e.patientToken()
	e.createGlucose(tok, 90)
	search := "/fhir/Observation?patient=Patient/p&"
	obs := fmt.Sprintf(glucose, 91)
	withValue := func(v string) string { return strings.Replace(obs, `"value":91`, `"value":`+v, 1) }
	entry := func(resource, request string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[{"request":` + request + `,"resource":` + resource + `}]}`
	}
	post := `{"method":"POST","url":"Observation"}`
	consent := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"Practitioner/hosp-b.dr-b"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],"class":[{"system":"urn:carechain:category","code":"lab"}]}}`
	cases := []struct {
		name, method, path, token, body string
		mention                         string // in the OperationOutcome
	}{
		{"_offset beyond int64 arithmetic", "GET", search + "_offset=9223372036854775807", tok, "", "_offset must be given once, as an integer from 0 to 1000000"},
		{"_offset over its bound", "GET", search + "_offset=1000001", tok, "", "_offset"},
		{"negative _offset", "GET", search + "_offset=-1", tok, "", "_offset"},
		{"_offset not a number", "GET", search + "_offset=ten", tok, "", "_offset"},
		{"_offset overflowing int", "GET", search + "_offset=99999999999999999999", tok, "", "_offset"},
		{"_count beyond int64 arithmetic", "GET", search + "_count=9223372036854775807", tok, "", "_count must be given once, as an integer from 0 to 1000"},
		{"negative _count", "GET", search + "_count=-1", tok, "", "_count"},
		{"_count in exponent form", "GET", search + "_count=1e3", tok, "", "_count"},
		{"_count twice", "GET", search + "_count=1&_count=1000", tok, "", "_count must be given once"},
		{"decimal overflowing a float", "POST", "/fhir/Observation", tok, withValue("1e999999999"), "Resource.valueQuantity.value: number out of range"},
		{"decimal underflowing to zero", "POST", "/fhir/Observation", tok, withValue("1e-999999999"), "number out of range"},
		{"integer over 32 bits", "POST", "/fhir/Observation", tok, strings.Replace(obs, `"valueQuantity":{"value":91,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}`, `"valueInteger":2147483648`, 1), "Observation.valueInteger: invalid integer value"},
		{"duplicate key in a resource", "POST", "/fhir/Observation", tok, strings.Replace(obs, `"status":"final"`, `"status":"final","status":"preliminary"`, 1), "duplicate object key"},
		{"duplicate key in an update", "PUT", "/fhir/Observation/new-one", tok, strings.Replace(obs, `"resourceType":"Observation"`, `"resourceType":"Observation","id":"new-one","id":"other"`, 1), "duplicate object key"},
		{"duplicate Bundle.type", "POST", "/fhir", tok, strings.Replace(entry(obs, post), `"type":"transaction"`, `"type":"transaction","type":"batch"`, 1), "Resource.type: duplicate object key"},
		{"Bundle.type twice but for case", "POST", "/fhir", tok, strings.Replace(entry(obs, post), `"type":"transaction"`, `"type":"transaction","Type":"batch"`, 1), "differing only in case"},
		{"duplicate entry.resource", "POST", "/fhir", tok, strings.Replace(entry(obs, post), `"resource":`, `"resource":`+withValue("92")+`,"resource":`, 1), "Resource.entry[0].resource: duplicate object key"},
		{"duplicate entry.request.method", "POST", "/fhir", tok, entry(obs, `{"method":"POST","method":"PUT","url":"Observation"}`), "Resource.entry[0].request.method: duplicate object key"},
		{"number out of range in a Bundle", "POST", "/fhir", tok, strings.Replace(entry(obs, post), `"type":"transaction"`, `"type":"transaction","total":1e999999999`, 1), "Resource.total: number out of range"},
		{"number out of range in an entry", "POST", "/fhir", tok, entry(withValue("-1e400"), post), "number out of range"},
		{"duplicate Consent.status", "POST", "/fhir/Consent", ptok, strings.Replace(consent, `"status":"active"`, `"status":"active","status":"rejected"`, 1), "Resource.status: duplicate object key"},
		{"duplicate key deep in a Consent", "POST", "/fhir/Consent", ptok, strings.Replace(consent, `"code":"lab"`, `"code":"lab","code":"imaging"`, 1), "Resource.provision.class[0].code: duplicate object key"},
		{"Consent keys differing in case", "POST", "/fhir/Consent", ptok, strings.Replace(consent, `"patient":`, `"Patient":{"reference":"Patient/q"},"patient":`, 1), "differing only in case"},
	}
	before := storedState(t, e)
	for _, c := range cases {
		r, err := e.send(c.method, c.path, c.token, []byte(c.body))
		if err != nil {
			t.Errorf("%s: %v (the handler crashed?)", c.name, err)
			continue
		}
		if r.status != http.StatusBadRequest || r.body["resourceType"] != "OperationOutcome" || !strings.Contains(string(r.rawBody), c.mention) {
			t.Errorf("%s: got %d %s, want 400 and an OperationOutcome mentioning %q", c.name, r.status, r.rawBody, c.mention)
		}
	}
	if after := storedState(t, e); after != before {
		t.Errorf("refused requests changed the ledger: %s, was %s", after, before)
	}
	// The bounds themselves are served.
	if r := e.do("GET", search+"_offset=1000000&_count=1000", tok, nil); r.status != 200 {
		t.Errorf("largest page: %d %s", r.status, r.rawBody)
	}
}

// TestRepeatedAuthParametersAre400: a login or token request that gives a
// parameter twice is refused, and issues no token.
func TestRepeatedAuthParametersAre400(t *testing.T) {
	e := setup(t)
	assertion := e.assertion("hosp-a/dr-a", e.keys["hosp-a/dr-a"], e.srv.URL+"/auth/token")
	cases := []struct {
		name, path string
		form       url.Values
	}{
		{"login, principal twice", "/auth/login", url.Values{"principal": {"patient/p", "hosp-a/dr-a"}, "passphrase": {"patient pass"}}},
		{"login, passphrase twice", "/auth/login", url.Values{"principal": {"patient/p"}, "passphrase": {"patient pass", "x"}}},
		{"token, assertion twice", "/auth/token", url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion, "x"}}},
		{"token, scope twice", "/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.read", "system/*.write"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}},
	}
	for _, c := range cases {
		resp, err := http.PostForm(e.srv.URL+c.path, c.form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) || !strings.Contains(string(body), "more than once") {
			t.Errorf("%s: %d %s, want 400 invalid_request", c.name, resp.StatusCode, body)
		}
	}
}

// storedState summarizes what the ledger holds for patient/p: records and
// consent grants.
func storedState(t *testing.T, e *env) string {
	t.Helper()
	v := e.n.App().Latest()
	heads, err := v.PatientRecords("patient/p")
	if err != nil {
		t.Fatal(err)
	}
	grants, err := v.Grants("patient/p")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d records, %d grants", len(heads), len(grants))
}
