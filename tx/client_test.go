package tx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustJWKS(t *testing.T, keys map[string]crypto.PublicKey) []byte {
	t.Helper()
	b, err := MarshalJWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKSRoundTrip(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	keys, err := ParseJWKS(mustJWKS(t, map[string]crypto.PublicKey{"r1": &rk.PublicKey, "e1": &ek.PublicKey}))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "e1" || keys[0].Alg != "ES384" || keys[1].ID != "r1" || keys[1].Alg != "RS384" {
		t.Fatalf("keys = %+v", keys)
	}
	if !rk.PublicKey.Equal(keys[1].Key) || !ek.PublicKey.Equal(keys[0].Key) {
		t.Fatal("keys changed in the round trip")
	}
}

// TestJWKSRejects: keys a client may not register.
func TestJWKSRejects(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	good := string(mustJWKS(t, map[string]crypto.PublicKey{"r1": &rk.PublicKey}))
	goodEC := string(mustJWKS(t, map[string]crypto.PublicKey{"e1": &ek.PublicKey}))
	var one struct{ Keys []map[string]any }
	json.Unmarshal([]byte(goodEC), &one)
	offCurve := one.Keys[0]
	offCurve["y"] = offCurve["x"]
	offCurveJSON, _ := json.Marshal(map[string]any{"keys": []any{offCurve}})
	for _, c := range []struct{ name, jwks, reason string }{
		{"empty", "", "1 to"},
		{"not json", "{keys", "jwks"},
		{"no keys", `{"keys":[]}`, "1 to 8 keys"},
		{"no kid", strings.Replace(good, `"kid":"r1",`, "", 1), "kid"},
		{"private rsa", strings.Replace(good, `"kty":"RSA"`, `"kty":"RSA","d":"AQAB"`, 1), "private key material"},
		{"symmetric", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`, "private key material"},
		{"small rsa", string(mustJWKS(t, map[string]crypto.PublicKey{"r": &small.PublicKey})), "1024 bits"},
		{"alg mismatch", strings.Replace(good, `"alg":"RS384"`, `"alg":"RS256"`, 1), `alg "RS256"`},
		{"encryption use", strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1), "use"},
		{"twice", `{"keys":[` + good[9:len(good)-2] + "," + good[9:len(good)-2] + `]}`, "twice"},
		{"p-256", strings.Replace(goodEC, `"crv":"P-384"`, `"crv":"P-256"`, 1), "P-384"},
		{"off the curve", string(offCurveJSON), "not a P-384 point"},
		{"unknown kty", `{"keys":[{"kty":"OKP","kid":"x","crv":"Ed25519","x":"AAAA"}]}`, "kty"},
	} {
		_, err := ParseJWKS([]byte(c.jwks))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", c.name, err, c.reason)
		}
	}
	if _, err := MarshalJWKS(map[string]crypto.PublicKey{"p": &p256.PublicKey}); err == nil {
		t.Error("MarshalJWKS wrote a P-256 key")
	}
}

func TestRegisterClientValidate(t *testing.T) {
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwks := mustJWKS(t, map[string]crypto.PublicKey{"e1": &ek.PublicKey})
	ok := RegisterClient{ID: "h/app", ActsFor: "h/svc", JWKS: jwks, Scopes: "system/Observation.rs"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (&RegisterClient{ID: "h/app", ActsFor: "h/svc", Revoked: true}).Validate(); err != nil {
		t.Fatalf("revocation without keys: %v", err)
	}
	for name, edit := range map[string]func(r *RegisterClient){
		"patient id":         func(r *RegisterClient) { r.ID = "patient/app" },
		"bad id":             func(r *RegisterClient) { r.ID = "../x" },
		"acts for other org": func(r *RegisterClient) { r.ActsFor = "g/svc" },
		"acts for patient":   func(r *RegisterClient) { r.ActsFor = "patient/p" },
		"no scopes":          func(r *RegisterClient) { r.Scopes = "" },
		"blank scopes":       func(r *RegisterClient) { r.Scopes = "   " },
		"control in scopes":  func(r *RegisterClient) { r.Scopes = "system/*.rs\n" },
		"long scopes":        func(r *RegisterClient) { r.Scopes = strings.Repeat("a", MaxScopesLen+1) },
		"no keys":            func(r *RegisterClient) { r.JWKS = nil },
	} {
		r := ok
		edit(&r)
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	raw, err := Sign(testKey(1), "c", "h/admin", 1, TypeRegisterClient, &ok)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.DecodeBody(); err != nil || b.(*RegisterClient).ActsFor != "h/svc" {
		t.Fatalf("decoded %+v, %v", b, err)
	}
}

func TestRegisterAppValidate(t *testing.T) {
	ok := RegisterClient{ID: "h/app", App: true, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:5000/cb"}, Scopes: "patient/Observation.rs"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (&RegisterClient{ID: "h/app", App: true, Revoked: true}).Validate(); err != nil {
		t.Fatalf("ending an app: %v", err)
	}
	for name, edit := range map[string]func(r *RegisterClient){
		"acts for someone":     func(r *RegisterClient) { r.ActsFor = "h/svc" },
		"bad keys":             func(r *RegisterClient) { r.JWKS = []byte(`{"keys":{}}`) },
		"no redirect":          func(r *RegisterClient) { r.RedirectURIs = nil },
		"plain http elsewhere": func(r *RegisterClient) { r.RedirectURIs = []string{"http://app.example/cb"} },
		"relative":             func(r *RegisterClient) { r.RedirectURIs = []string{"/cb"} },
		"fragment":             func(r *RegisterClient) { r.RedirectURIs = []string{"https://app.example/cb#x"} },
		"user info":            func(r *RegisterClient) { r.RedirectURIs = []string{"https://u@app.example/cb"} },
		"custom scheme":        func(r *RegisterClient) { r.RedirectURIs = []string{"javascript://app.example/cb"} },
		"odd host":             func(r *RegisterClient) { r.RedirectURIs = []string{"https://app.example;script-src/cb"} },
		"space":                func(r *RegisterClient) { r.RedirectURIs = []string{"https://app.example/c b"} },
		"no scopes":            func(r *RegisterClient) { r.Scopes = " " },
		"long scopes":          func(r *RegisterClient) { r.Scopes = strings.Repeat("a", MaxScopesLen+1) },
		"control in scopes":    func(r *RegisterClient) { r.Scopes = "patient/*.rs\n" },
		"too many":             func(r *RegisterClient) { r.RedirectURIs = make([]string, MaxRedirectURIs+1) },
		"backend with uris":    func(r *RegisterClient) { r.App, r.ActsFor = false, "h/svc" },
	} {
		r := ok
		edit(&r)
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
