package fhirrest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/tx"
)

// clientEnv is env with client hosp-a/app registered by hosp-a's admin to
// act for hosp-a/dr-a with an RSA-3072 key (kid rsa-1) and a P-384 key
// (kid ec-1), within system/Observation.rs and system/Patient.rs.
type clientEnv struct {
	*env
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
}

const appScopes = "system/Observation.rs system/Patient.rs"

func setupClient(t *testing.T) *clientEnv {
	e := &clientEnv{env: setup(t)}
	var err error
	if e.rsaKey, err = rsa.GenerateKey(rand.Reader, 3072); err != nil {
		t.Fatal(err)
	}
	if e.ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	jwks, err := tx.MarshalJWKS(map[string]crypto.PublicKey{"rsa-1": &e.rsaKey.PublicKey, "ec-1": &e.ecKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/app", ActsFor: "hosp-a/dr-a", JWKS: jwks, Scopes: appScopes})
	return e
}

func (e *clientEnv) registerClient(reg *tx.RegisterClient) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nonce, _ := e.n.App().Latest().NextNonce("hosp-a/admin")
	raw, err := tx.Sign(e.keys["hosp-a/admin"], chainID, "hosp-a/admin", nonce, tx.TypeRegisterClient, reg)
	if err != nil {
		e.t.Fatal(err)
	}
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("register client: %+v %v", out, err)
	}
}

// clientAssertion is an assertion of client iss signed by key with
// method, naming kid ("": none), its claims changed by edit.
func (e *clientEnv) clientAssertion(method jwt.SigningMethod, kid string, key any, edit func(jwt.MapClaims)) string {
	e.t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": "hosp-a/app", "sub": "hosp-a/app", "aud": e.srv.URL + "/auth/token",
		"iat": float64(now.UnixMicro()) / 1e6, "exp": now.Add(time.Minute).Unix(), "jti": rand.Text()}
	if edit != nil {
		edit(claims)
	}
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

type tokenAnswer struct {
	status                    int
	AccessToken, Scope, Error string
	Description               string `json:"error_description"`
}

func (e *clientEnv) clientToken(assertion, scope string) tokenAnswer {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, err := http.PostForm(e.srv.URL+"/auth/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	json.NewDecoder(resp.Body).Decode(&struct {
		AccessToken *string `json:"access_token"`
		Scope       *string `json:"scope"`
		Error       *string `json:"error"`
		Description *string `json:"error_description"`
	}{&a.AccessToken, &a.Scope, &a.Error, &a.Description})
	a.status = resp.StatusCode
	return a
}

// TestRegisteredClientGetsTokensWithRS384AndES384: a registered client's
// RS384 and ES384 assertions get tokens for the principal it acts for,
// with its registered scopes or those asked for within them; the token
// reads what that principal may and is held to its scopes.
func TestRegisteredClientGetsTokensWithRS384AndES384(t *testing.T) {
	e := setupClient(t)
	obs := e.createGlucose(e.token("hosp-a/dr-a"), 90)
	rs := e.clientToken(e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), "")
	if rs.status != http.StatusOK || rs.AccessToken == "" || rs.Scope != appScopes {
		t.Fatalf("RS384: %+v", rs)
	}
	es := e.clientToken(e.clientAssertion(jwt.SigningMethodES384, "ec-1", e.ecKey, nil), "system/Observation.r")
	if es.status != http.StatusOK || es.AccessToken == "" || es.Scope != "system/Observation.r" {
		t.Fatalf("ES384: %+v", es)
	}
	if r := e.do("GET", "/fhir/Observation/"+obs, rs.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("RS384 token reads dr-a's Observation: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation/"+obs, es.AccessToken, nil); r.status != http.StatusOK {
		t.Fatalf("ES384 token reads dr-a's Observation: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", es.AccessToken, nil); r.status != http.StatusForbidden {
		t.Fatalf("search with an Observation.r token: %d, want 403", r.status)
	}
	if r := e.do("POST", "/fhir/Observation", rs.AccessToken, []byte(strings.Replace(glucose, "%d", "91", 1))); r.status != http.StatusForbidden {
		t.Fatalf("create beyond the client's scopes: %d, want 403", r.status)
	}
	// Ending the client ends its tokens and refuses new ones.
	e.registerClient(&tx.RegisterClient{ID: "hosp-a/app", ActsFor: "hosp-a/dr-a", Revoked: true})
	if r := e.do("GET", "/fhir/Observation/"+obs, rs.AccessToken, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("token of an ended client: %d, want 401", r.status)
	}
	if a := e.clientToken(e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), ""); a.status != http.StatusUnauthorized || a.Error != "invalid_client" {
		t.Fatalf("assertion of an ended client: %+v", a)
	}
}

// TestClientAssertionRefusals: assertions a registered client's keys do
// not stand behind, and scopes beyond its registered ones, get no token.
func TestClientAssertionRefusals(t *testing.T) {
	e := setupClient(t)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 3072)
	pubDER, _ := x509.MarshalPKIXPublicKey(&e.rsaKey.PublicKey)
	none := e.clientAssertion(jwt.SigningMethodNone, "rsa-1", jwt.UnsafeAllowNoneSignatureType, nil)
	replayed := e.clientAssertion(jwt.SigningMethodES384, "ec-1", e.ecKey, nil)
	if a := e.clientToken(replayed, ""); a.status != http.StatusOK {
		t.Fatalf("first use: %+v", a)
	}
	for _, c := range []struct {
		name, assertion, scope string
		status                 int
		oauthErr, mention      string
	}{
		{"unknown kid", e.clientAssertion(jwt.SigningMethodRS384, "rsa-2", e.rsaKey, nil), "", 401, "invalid_client", "no key"},
		{"no kid", e.clientAssertion(jwt.SigningMethodRS384, "", e.rsaKey, nil), "", 401, "invalid_client", "kid"},
		{"wrong key", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", otherRSA, nil), "", 401, "invalid_client", "verification error"},
		{"RS256", e.clientAssertion(jwt.SigningMethodRS256, "rsa-1", e.rsaKey, nil), "", 401, "invalid_client", "signing method"},
		{"HS384 keyed with the public key", e.clientAssertion(jwt.SigningMethodHS384, "rsa-1", pubDER, nil), "", 401, "invalid_client", "signing method"},
		{"alg none", none, "", 401, "invalid_client", "signing method"},
		{"ES384 under an RSA kid", e.clientAssertion(jwt.SigningMethodES384, "rsa-1", e.ecKey, nil), "", 401, "invalid_client", "signs with RS384"},
		{"expired", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "", 401, "invalid_client", "expired"},
		{"wrong audience", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, func(c jwt.MapClaims) { c["aud"] = "https://elsewhere/token" }), "", 401, "invalid_client", "aud"},
		{"sub not iss", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, func(c jwt.MapClaims) { c["sub"] = "hosp-a/dr-a" }), "", 401, "invalid_client", "sub must equal iss"},
		{"replayed jti", replayed, "", 401, "invalid_client", "client assertion"},
		{"the acted-for principal as issuer", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, func(c jwt.MapClaims) { c["iss"], c["sub"] = "hosp-a/dr-a", "hosp-a/dr-a" }), "", 401, "invalid_client", "unknown client"},
		{"more permissions", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), "system/Observation.cruds", 400, "invalid_scope", "beyond client"},
		{"another type", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), "system/Condition.r", 400, "invalid_scope", "beyond client"},
		{"all types", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), "system/*.r", 400, "invalid_scope", "beyond client"},
		{"another context", e.clientAssertion(jwt.SigningMethodRS384, "rsa-1", e.rsaKey, nil), "user/Observation.r", 400, "invalid_scope", "beyond client"},
	} {
		a := e.clientToken(c.assertion, c.scope)
		if a.status != c.status || a.Error != c.oauthErr || a.AccessToken != "" || !strings.Contains(a.Description, c.mention) {
			t.Errorf("%s: %+v, want %d %s mentioning %q", c.name, a, c.status, c.oauthErr, c.mention)
		}
	}
}

// TestClientTokenEndsWithItsPrincipal: revoking the principal a client
// acts for ends the client's tokens and refuses new ones.
func TestClientTokenEndsWithItsPrincipal(t *testing.T) {
	e := setupClient(t)
	a := e.clientToken(e.clientAssertion(jwt.SigningMethodES384, "ec-1", e.ecKey, nil), "")
	if a.status != http.StatusOK {
		t.Fatalf("token: %+v", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nonce, _ := e.n.App().Latest().NextNonce("hosp-a/admin")
	raw, _ := tx.Sign(e.keys["hosp-a/admin"], chainID, "hosp-a/admin", nonce, tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/dr-a"})
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		t.Fatalf("revoke: %+v %v", out, err)
	}
	if r := e.do("GET", "/fhir/Patient/p", a.AccessToken, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("token of a revoked principal's client: %d, want 401", r.status)
	}
	if a := e.clientToken(e.clientAssertion(jwt.SigningMethodES384, "ec-1", e.ecKey, nil), ""); a.status != http.StatusUnauthorized || !strings.Contains(a.Description, "no longer active") {
		t.Fatalf("assertion for a revoked principal: %+v", a)
	}
}
