package fhirrest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/tx"
)

// launchEnv is env with App Launch on (Options.Codes) and app hosp-a/diary
// registered with redirect URI diaryRedirect, within diaryScopes. Its
// clock can be moved ahead (skip).
type launchEnv struct {
	*clientEnv
	codes *launch.Codes
	ahead atomic.Int64 // nanoseconds the server's clock is ahead
}

const (
	diaryRedirect = "http://127.0.0.1:9/callback"
	diaryScopes   = "launch/patient patient/Observation.rs patient/Patient.rs user/Observation.rs"
	// verifier is the test's PKCE code verifier; challenge its S256.
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func setupLaunch(t *testing.T) *launchEnv {
	e := &launchEnv{codes: launch.NewCodes()}
	e.clientEnv = &clientEnv{env: setupWith(t, func(o *fhirrest.Options) {
		o.Codes = e.codes
		o.Now = func() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) }
	})}
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/diary", App: true, RedirectURIs: []string{diaryRedirect}, Scopes: diaryScopes})
	return e
}

// approve issues a code as the portal's consent screen does when principal
// approves scopes for hosp-a/diary.
func (e *launchEnv) approve(principal string, scopes ...string) string {
	e.t.Helper()
	code, err := e.codes.Issue(launch.Grant{ClientID: "hosp-a/diary", RedirectURI: diaryRedirect, Challenge: challenge(verifier),
		Principal: principal, Scopes: scopes}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

type launchToken struct {
	Status      int    `json:"-"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient"`
	Error       string `json:"error"`
}

// exchange trades code at the token endpoint, the form changed by edit.
func (e *launchEnv) exchange(code string, edit func(url.Values)) launchToken {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {diaryRedirect},
		"client_id": {"hosp-a/diary"}, "code_verifier": {verifier}}
	if edit != nil {
		edit(form)
	}
	resp, err := http.PostForm(e.srv.URL+"/auth/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := launchToken{Status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(&tr)
	return tr
}

func TestAppLaunchTokenHoldsApprovedScopesOnly(t *testing.T) {
	e := setupLaunch(t)
	e.createGlucose(e.token("hosp-a/dr-a"), 99)
	// patient/Condition.rs is beyond the app's registered scopes: it is
	// not granted even if approved.
	tr := e.exchange(e.approve("patient/p", "launch/patient", "patient/Observation.rs", "patient/Condition.rs"), nil)
	if tr.Status != http.StatusOK || tr.Scope != "launch/patient patient/Observation.rs" || tr.Patient != "p" ||
		tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("token: %+v", tr)
	}
	if r := e.do("GET", "/fhir/Observation?patient=p", tr.AccessToken, nil); r.status != http.StatusOK || r.body["total"] != float64(1) {
		t.Fatalf("the patient's Observations through the app: %d %s", r.status, r.rawBody)
	}
	e.do("GET", "/fhir/Patient/p", tr.AccessToken, nil).outcome(t, http.StatusForbidden, "does not allow read of Patient")
	e.do("GET", "/fhir/Condition?patient=p", tr.AccessToken, nil).outcome(t, http.StatusForbidden, "does not allow search of Condition")
	e.do("POST", "/fhir/Observation", tr.AccessToken, []byte(strings.Replace(glucose, "%d", "5", 1))).outcome(t, http.StatusForbidden, "does not allow create")

	// A practitioner who approves gets user/ scopes, no patient context.
	tr = e.exchange(e.approve("hosp-a/dr-a", "launch/patient", "user/Observation.rs", "patient/Observation.rs"), nil)
	if tr.Status != http.StatusOK || tr.Scope != "user/Observation.rs" || tr.Patient != "" {
		t.Fatalf("practitioner's token: %+v", tr)
	}
	// Nothing grantable: refused.
	if tr := e.exchange(e.approve("hosp-a/dr-a", "patient/Observation.rs"), nil); tr.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Fatalf("nothing grantable: %+v", tr)
	}
}

func TestAppLaunchCodeRefusals(t *testing.T) {
	e := setupLaunch(t)
	for _, c := range []struct {
		name   string
		edit   func(url.Values)
		status int
		err    string
	}{
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 43)) }, 400, "invalid_grant"},
		{"short verifier", func(f url.Values) { f.Set("code_verifier", "abc") }, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, 400, "invalid_request"},
		{"redirect mismatch", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:9/other") }, 400, "invalid_grant"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "hosp-a/nobody") }, 401, "invalid_client"},
		{"a backend client", func(f url.Values) { f.Set("client_id", "hosp-a/app") }, 401, "invalid_client"},
		{"unknown code", func(f url.Values) { f.Set("code", "nope") }, 400, "invalid_grant"},
		{"code twice", func(f url.Values) { f.Add("code", "x") }, 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code := e.approve("patient/p", "patient/Observation.rs")
			if tr := e.exchange(code, c.edit); tr.Status != c.status || tr.Error != c.err || tr.AccessToken != "" {
				t.Fatalf("got %+v, want %d %s", tr, c.status, c.err)
			}
			if c.err == "invalid_grant" && c.name != "unknown code" {
				// A refused attempt spends the code.
				if tr := e.exchange(code, nil); tr.Status != http.StatusBadRequest || tr.AccessToken != "" {
					t.Fatalf("the code after a refused attempt: %+v", tr)
				}
			}
		})
	}
	t.Run("reused code ends its token", func(t *testing.T) {
		code := e.approve("patient/p", "patient/Observation.rs")
		first := e.exchange(code, nil)
		if first.Status != http.StatusOK {
			t.Fatalf("first use: %+v", first)
		}
		if tr := e.exchange(code, nil); tr.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("second use: %+v", tr)
		}
		e.do("GET", "/fhir/Observation?patient=p", first.AccessToken, nil).outcome(t, http.StatusUnauthorized, "bearer token")
	})
	t.Run("expired code", func(t *testing.T) {
		code := e.approve("patient/p", "patient/Observation.rs")
		e.ahead.Store(int64(launch.CodeTTL + time.Second))
		defer e.ahead.Store(0)
		if tr := e.exchange(code, nil); tr.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("expired: %+v", tr)
		}
	})
	t.Run("ended app", func(t *testing.T) {
		code := e.approve("patient/p", "patient/Observation.rs")
		tr := e.exchange(code, nil)
		e.registerClient(&tx.RegisterClient{ID: "hosp-a/diary", App: true, Revoked: true})
		e.do("GET", "/fhir/Observation?patient=p", tr.AccessToken, nil).outcome(t, http.StatusUnauthorized, "ended")
		if tr := e.exchange(e.approve("patient/p", "patient/Observation.rs"), nil); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Fatalf("after the app ended: %+v", tr)
		}
	})
}

// An App Launch app cannot get tokens by client_credentials: it has no
// keys and acts for no one.
func TestAppCannotUseClientCredentials(t *testing.T) {
	e := setupLaunch(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {e.assertion("hosp-a/diary", newKey(), e.srv.URL+"/auth/token")}}
	if status, tok := e.tokenFor(form); status != http.StatusUnauthorized || tok != "" {
		t.Fatalf("client_credentials as an app: %d", status)
	}
}

func TestSmartConfigurationNamesAppLaunch(t *testing.T) {
	e := setupLaunch(t)
	r := e.do("GET", "/fhir/.well-known/smart-configuration", "", nil)
	caps, _ := r.body["capabilities"].([]any)
	for _, want := range []string{"launch-standalone", "client-public", "context-standalone-patient", "permission-v2", "permission-patient", "permission-user"} {
		if !slices.Contains(caps, any(want)) {
			t.Errorf("capability %s missing: %v", want, caps)
		}
	}
	if r.body["authorization_endpoint"] != e.srv.URL+"/auth/authorize" || !slices.Contains(r.body["code_challenge_methods_supported"].([]any), any("S256")) ||
		len(r.body["code_challenge_methods_supported"].([]any)) != 1 || !slices.Contains(r.body["grant_types_supported"].([]any), any("authorization_code")) ||
		!slices.Equal(r.body["response_types_supported"].([]any), []any{"code"}) {
		t.Fatalf("smart-configuration: %s", r.rawBody)
	}
	m := e.do("GET", "/fhir/metadata", "", nil)
	if !strings.Contains(string(m.rawBody), `"authorize"`) || !strings.Contains(string(m.rawBody), e.srv.URL+"/auth/authorize") {
		t.Fatalf("oauth-uris lacks authorize: %s", m.rawBody)
	}
	// Without App Launch, none of it is claimed.
	plain := setup(t)
	r = plain.do("GET", "/fhir/.well-known/smart-configuration", "", nil)
	if _, ok := r.body["authorization_endpoint"]; ok || strings.Contains(string(r.rawBody), "launch-standalone") {
		t.Fatalf("claims App Launch without it: %s", r.rawBody)
	}
}

// A confidential app (registered with a JWKS) must also sign a client
// assertion when it trades a code; a public one must not send one.
func TestConfidentialAppSignsItsCodeTrade(t *testing.T) {
	e := setupLaunch(t)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := tx.MarshalJWKS(map[string]crypto.PublicKey{"conf-1": &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/conf", App: true, JWKS: jwks, RedirectURIs: []string{diaryRedirect}, Scopes: diaryScopes})
	code := func() string {
		c, err := e.codes.Issue(launch.Grant{ClientID: "hosp-a/conf", RedirectURI: diaryRedirect, Challenge: challenge(verifier),
			Principal: "patient/p", Scopes: []string{"patient/Observation.rs"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	asConf := func(c jwt.MapClaims) { c["iss"], c["sub"] = "hosp-a/conf", "hosp-a/conf" }
	signed := func(edit func(jwt.MapClaims)) func(url.Values) {
		return func(f url.Values) {
			f.Set("client_id", "hosp-a/conf")
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", e.clientAssertion(jwt.SigningMethodES384, "conf-1", key, edit))
		}
	}
	if tr := e.exchange(code(), func(f url.Values) { f.Set("client_id", "hosp-a/conf") }); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("without an assertion: %+v", tr)
	}
	if tr := e.exchange(code(), signed(nil)); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("an assertion of another client: %+v", tr)
	}
	if tr := e.exchange(code(), signed(asConf)); tr.Status != http.StatusOK || tr.Scope != "patient/Observation.rs" {
		t.Fatalf("signed: %+v", tr)
	}
	// The public app may not send one; the confidential app's key gets
	// no token by client_credentials.
	if tr := e.exchange(e.approve("patient/p", "patient/Observation.rs"), func(f url.Values) {
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", e.clientAssertion(jwt.SigningMethodES384, "conf-1", key, asConf))
	}); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("a public app with an assertion: %+v", tr)
	}
	if tr := e.clientToken(e.clientAssertion(jwt.SigningMethodES384, "conf-1", key, asConf), ""); tr.status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("client_credentials as a confidential app: %+v", tr)
	}
}

// TestAuthorizationRequestChecks: the checks the portal's /auth/authorize
// runs (launch.Check) before it shows a consent screen. A bad app or
// redirect URI is never redirected; the rest go back to the app.
func TestAuthorizationRequestChecks(t *testing.T) {
	e := setupLaunch(t)
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/old", App: true, RedirectURIs: []string{diaryRedirect}, Scopes: diaryScopes})
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/old", App: true, Revoked: true})
	aud := e.srv.URL + "/fhir"
	ok := url.Values{"response_type": {"code"}, "client_id": {"hosp-a/diary"}, "redirect_uri": {diaryRedirect}, "scope": {"patient/Observation.rs"},
		"state": {"s1"}, "aud": {aud}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	if req, err := launch.Check(e.n.App().Latest(), ok, aud); err != nil || req.Client.ID != "hosp-a/diary" || req.Params().Get("aud") != aud {
		t.Fatalf("a good request: %+v %v", req, err)
	}
	for _, c := range []struct {
		name       string
		edit       func(url.Values)
		code       string
		redirected bool
	}{
		{"unknown app", func(q url.Values) { q.Set("client_id", "hosp-a/nobody") }, "invalid_client", false},
		{"no app", func(q url.Values) { q.Del("client_id") }, "invalid_client", false},
		{"ended app", func(q url.Values) { q.Set("client_id", "hosp-a/old") }, "unauthorized_client", false},
		{"another redirect", func(q url.Values) { q.Set("redirect_uri", diaryRedirect+"/x") }, "invalid_request", false},
		{"a prefix of the redirect", func(q url.Values) { q.Set("redirect_uri", strings.TrimSuffix(diaryRedirect, "back")) }, "invalid_request", false},
		{"a parameter twice", func(q url.Values) { q.Add("state", "s2") }, "invalid_request", false},
		{"token response", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", true},
		{"no state", func(q url.Values) { q.Del("state") }, "invalid_request", true},
		{"plain challenge", func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("code_challenge", verifier) }, "invalid_request", true},
		{"no challenge", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request", true},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request", true},
		{"another audience", func(q url.Values) { q.Set("aud", "https://other.example/fhir") }, "invalid_request", true},
		{"no scope", func(q url.Values) { q.Del("scope") }, "invalid_scope", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range ok {
				q[k] = slices.Clone(v)
			}
			c.edit(q)
			req, err := launch.Check(e.n.App().Latest(), q, aud)
			le, isLaunch := err.(*launch.Error)
			if !isLaunch || le.Code != c.code || le.Redirectable != c.redirected {
				t.Fatalf("got %v, want %s (redirected %v)", err, c.code, c.redirected)
			}
			if c.redirected {
				to, _ := url.Parse(le.RedirectTo(req))
				if !strings.HasPrefix(to.String(), diaryRedirect+"?") || to.Query().Get("error") != c.code || to.Query().Get("state") != q.Get("state") {
					t.Fatalf("redirects to %s", to)
				}
			}
		})
	}
}

// TestAppReadsNameTheAppInTheLog: a read through an app's token is in the
// patient's access log as the patient's, with the app as a second agent
// (type Application); the patient's own reads name no app.
func TestAppReadsNameTheAppInTheLog(t *testing.T) {
	e := setupLaunch(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	anchorer := e.nodePrincipal(ctx)
	id := e.createGlucose(e.token("hosp-a/dr-a"), 93)
	tr := e.exchange(e.approve("patient/p", "patient/Observation.rs"), nil)
	if r := e.do("GET", "/fhir/Observation/"+id, tr.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("read through the app: %d %s", r.status, r.rawBody)
	}
	if err := e.svc.Flush(ctx, anchorer); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", e.patientToken(), nil)
	if r.status != http.StatusOK {
		t.Fatalf("AuditEvent search: %d %s", r.status, r.rawBody)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				Entity []struct {
					What struct{ Reference string } `json:"what"`
				} `json:"entity"`
				Agent []struct {
					Who struct {
						Reference  string            `json:"reference"`
						Identifier map[string]string `json:"identifier"`
					} `json:"who"`
					Requestor bool `json:"requestor"`
				} `json:"agent"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.rawBody, &b); err != nil {
		t.Fatal(err)
	}
	throughApp, others := 0, 0
	for _, en := range b.Entry {
		ae := en.Resource
		if len(ae.Agent) == 2 && ae.Agent[0].Who.Reference == "Patient/p" && ae.Agent[0].Requestor &&
			ae.Agent[1].Who.Identifier["value"] == "hosp-a/diary" && !ae.Agent[1].Requestor &&
			len(ae.Entity) == 1 && strings.HasPrefix(ae.Entity[0].What.Reference, "Observation/"+id) {
			throughApp++
		} else if len(ae.Agent) != 1 {
			others++
		}
	}
	if throughApp != 1 || others != 0 {
		t.Fatalf("%d events through the app, %d others with an app, want 1 and 0:\n%s", throughApp, others, r.rawBody)
	}
}
