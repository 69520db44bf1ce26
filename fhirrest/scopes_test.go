package fhirrest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// scopedToken asks for a token of scope for principal: the HTTP status,
// and the token and the scope granted, or the OAuth error.
func (e *env) scopedToken(principal, scope string) (status int, token, granted, oauthErr string) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {e.assertion(principal, e.keys[principal], e.srv.URL+"/auth/token")}, "scope": {scope}}
	resp, err := http.PostForm(e.srv.URL+"/auth/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr.AccessToken, tr.Scope, tr.Error
}

// TestTokenEndpointGrantsOnlyScopesItCanKeep: a scope of the wrong form,
// an unknown type or permission, a context the principal does not have,
// or a restriction is refused (400 invalid_scope), never widened or
// dropped; what is granted is what was asked.
func TestTokenEndpointGrantsOnlyScopesItCanKeep(t *testing.T) {
	e := setup(t)
	for _, c := range []struct{ who, scope string }{
		{"hosp-a/dr-a", "system/Foo.rs"},
		{"hosp-a/dr-a", "system/Observation.xyz"},
		{"hosp-a/dr-a", "system/Observation.sr"}, // v2 permissions in cruds order only
		{"hosp-a/dr-a", "system/Observation.rr"},
		{"hosp-a/dr-a", "system/Observation."},
		{"hosp-a/dr-a", "patient/*.rs"}, // no patient context for staff
		{"hosp-a/dr-a", "launch/patient"},
		{"hosp-a/dr-a", "openid"},
		{"hosp-a/dr-a", "system/Observation.rs?category=laboratory"},
		{"hosp-a/dr-a", "system/Observation.rs bogus/*.rs"},
		{"hosp-a/dr-a", "   "},
		{"patient/p", "system/*.rs"}, // no system context for a patient
	} {
		if status, tok, _, oerr := e.scopedToken(c.who, c.scope); status != 400 || oerr != "invalid_scope" || tok != "" {
			t.Errorf("%s asking for %q: %d %q, token %v", c.who, c.scope, status, oerr, tok != "")
		}
	}
	for _, c := range []struct{ who, scope, granted string }{
		{"hosp-a/dr-a", "system/Observation.rs  user/Patient.read", "system/Observation.rs user/Patient.read"},
		{"hosp-a/dr-a", "system/*.cruds", "system/*.cruds"},
		{"patient/p", "patient/Observation.rs", "patient/Observation.rs"},
		{"hosp-a/dr-a", "", "system/*.cruds"}, // none asked: the principal's own context
		{"patient/p", "", "patient/*.cruds"},
	} {
		if status, tok, granted, oerr := e.scopedToken(c.who, c.scope); status != 200 || tok == "" || granted != c.granted {
			t.Errorf("%s asking for %q: %d %q, granted %q, want %q", c.who, c.scope, status, oerr, granted, c.granted)
		}
	}
}

// TestScopesAllowExactlyTheirTypesAndInteractions: each kind of scope
// allows its resource types and interactions and no others, on plain
// requests, in Bundles and in requests spanning types.
func TestScopesAllowExactlyTheirTypesAndInteractions(t *testing.T) {
	e := setup(t)
	full := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", full, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	obs := e.createGlucose(full, 90)
	type try struct {
		name, method, path string
		body               []byte
	}
	newObs := []byte(fmt.Sprintf(glucose, 91))
	tries := []try{
		{"read Observation", "GET", "/fhir/Observation/" + obs, nil},
		{"vread Observation", "GET", "/fhir/Observation/" + obs + "/_history/1", nil},
		{"history Observation", "GET", "/fhir/Observation/" + obs + "/_history", nil},
		{"search Observation", "GET", "/fhir/Observation?patient=Patient/p", nil},
		{"create Observation", "POST", "/fhir/Observation", newObs},
		{"update Observation", "PUT", "/fhir/Observation/" + obs, []byte(strings.Replace(string(newObs), `"status"`, `"id":"`+obs+`","status"`, 1))},
		{"read Patient", "GET", "/fhir/Patient/p", nil},
		{"search Patient", "GET", "/fhir/Patient?_id=p", nil},
	}
	// allowed names the tries each scope allows.
	for _, c := range []struct {
		scope   string
		allowed []string
	}{
		{"system/Observation.rs", []string{"read Observation", "vread Observation", "history Observation", "search Observation"}},
		{"system/Observation.r", []string{"read Observation", "vread Observation", "history Observation"}},
		{"system/Observation.s", []string{"search Observation"}},
		{"system/Observation.c", []string{"create Observation"}},
		{"system/Observation.u", []string{"update Observation"}},
		{"system/Observation.read", []string{"read Observation", "vread Observation", "history Observation", "search Observation"}},
		{"system/Observation.write", []string{"create Observation", "update Observation"}},
		{"user/Patient.rs", []string{"read Patient", "search Patient"}},
		{"system/*.rs", []string{"read Observation", "vread Observation", "history Observation", "search Observation", "read Patient", "search Patient"}},
	} {
		_, tok, _, _ := e.scopedToken("hosp-a/dr-a", c.scope)
		for _, tr := range tries {
			want := strings.Contains(" "+strings.Join(c.allowed, " | ")+" |", " "+tr.name+" |")
			r := e.do(tr.method, tr.path, tok, tr.body)
			if got := r.status < 300; got != want || (!want && (r.status != 403 || r.body["resourceType"] != "OperationOutcome")) {
				t.Errorf("%s with %s: %d, want allowed %v: %s", tr.name, c.scope, r.status, want, r.rawBody)
			}
		}
	}

	// A delete needs d.
	for scope, want := range map[string]int{"system/Observation.rs": 403, "system/Observation.d": 200} {
		_, tok, _, _ := e.scopedToken("hosp-a/dr-a", scope)
		if r := e.do("DELETE", "/fhir/Observation/"+e.createGlucose(full, 92), tok, nil); r.status != want && !(want == 200 && r.status == 204) {
			t.Errorf("delete with %s: %d %s", scope, r.status, r.rawBody)
		}
	}

	// Spanning types, only the readable ones come back.
	_, obsOnly, _, _ := e.scopedToken("hosp-a/dr-a", "system/Observation.rs")
	for _, path := range []string{"/fhir/Patient/p/$everything", "/fhir/_history?patient=Patient/p"} {
		r := e.do("GET", path, obsOnly, nil)
		entries, _ := r.body["entry"].([]any)
		if r.status != 200 || len(entries) == 0 {
			t.Fatalf("%s with Observation scopes: %d %s", path, r.status, r.rawBody)
		}
		for _, en := range entries {
			if res, _ := en.(map[string]any)["resource"].(map[string]any); res != nil && res["resourceType"] != "Observation" {
				t.Errorf("%s with Observation scopes returned a %v", path, res["resourceType"])
			}
		}
	}

	// In a Bundle, each entry is checked: a transaction with one entry out
	// of scope is refused whole; in a batch, that entry alone.
	txn := fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":%s,"request":{"method":"POST","url":"Observation"}},
		{"resource":{"resourceType":"Patient","id":"p","name":[{"family":"Roe"}]},"request":{"method":"PUT","url":"Patient/p"}}]}`, newObs)
	_, obsWrite, _, _ := e.scopedToken("hosp-a/dr-a", "system/Observation.cruds")
	if r := e.do("POST", "/fhir", obsWrite, []byte(txn)); r.status != 403 {
		t.Errorf("transaction writing a Patient with Observation scopes: %d %s", r.status, r.rawBody)
	}
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Observation/` + obs + `"}},{"request":{"method":"GET","url":"Patient/p"}}]}`
	r := e.do("POST", "/fhir", obsOnly, []byte(batch))
	entries, _ := r.body["entry"].([]any)
	if r.status != 200 || len(entries) != 2 {
		t.Fatalf("batch: %d %s", r.status, r.rawBody)
	}
	for i, want := range []string{"200", "403"} {
		status, _ := entries[i].(map[string]any)["response"].(map[string]any)["status"].(string)
		if !strings.HasPrefix(status, want) {
			t.Errorf("batch entry %d with Observation scopes: %q, want %s", i, status, want)
		}
	}
}

// TestSMARTDiscovery: the SMART configuration at the FHIR base names the
// token endpoint a client then gets a token of an advertised scope from,
// and the CapabilityStatement says the service is SMART-on-FHIR.
func TestSMARTDiscovery(t *testing.T) {
	e := setup(t)
	r := e.do("GET", "/fhir/.well-known/smart-configuration", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("smart-configuration: %d %s", r.status, r.rawBody)
	}
	if r.body["token_endpoint"] != e.srv.URL+"/auth/token" {
		t.Fatalf("token_endpoint %v", r.body["token_endpoint"])
	}
	for field, want := range map[string]string{"capabilities": "client-confidential-asymmetric", "grant_types_supported": "client_credentials",
		"token_endpoint_auth_methods_supported": "private_key_jwt", "token_endpoint_auth_signing_alg_values_supported": "EdDSA"} {
		if got, _ := r.body[field].([]any); !slices.Contains(got, any(want)) {
			t.Errorf("%s: %v, want %s in it", field, got, want)
		}
	}
	algs, _ := r.body["token_endpoint_auth_signing_alg_values_supported"].([]any)
	for _, alg := range []string{"RS384", "ES384"} { // SMART requires both of servers
		if !slices.Contains(algs, any(alg)) {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported: %v, want %s in it", algs, alg)
		}
	}
	if _, ok := r.body["authorization_endpoint"]; ok {
		t.Error("an authorization endpoint is advertised, but there is no authorization-code flow")
	}
	scopes, _ := r.body["scopes_supported"].([]any)
	for _, sc := range scopes {
		if status, _, _, oerr := e.scopedToken("hosp-a/dr-a", sc.(string)); status != 200 && !strings.HasPrefix(sc.(string), "patient/") {
			t.Errorf("advertised scope %v refused to staff: %s", sc, oerr)
		}
	}
	md := e.do("GET", "/fhir/metadata", "", nil)
	sec := md.body["rest"].([]any)[0].(map[string]any)["security"].(map[string]any)
	svc, _ := json.Marshal(sec["service"])
	if !strings.Contains(string(svc), `"code":"SMART-on-FHIR"`) || !strings.Contains(string(svc), "restful-security-service") {
		t.Fatalf("CapabilityStatement security.service: %s", svc)
	}
}
