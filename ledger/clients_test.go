package ledger

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// clientWorld is a harness with a service principal at hosp-a and
// hosp-b, a non-admin at hosp-a and a patient, and a P-384 JWKS.
func clientWorld(t *testing.T) (*harness, []byte) {
	h := newHarness(t)
	h.block(
		h.register("hosp-a/admin", "hosp-a/svc", carechain.KindPractitioner, 30, carechain.RolePhysician),
		h.register("hosp-b/admin", "hosp-b/svc", carechain.KindPractitioner, 31, carechain.RolePhysician),
		h.register("hosp-a/admin", "hosp-a/dr", carechain.KindPractitioner, 32, carechain.RolePhysician),
		h.register("hosp-a/admin", "patient/p", carechain.KindPatient, 33),
	)
	ek, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := tx.MarshalJWKS(map[string]crypto.PublicKey{"k1": &ek.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return h, jwks
}

func TestOrgAdminRegistersReplacesAndEndsClient(t *testing.T) {
	h, jwks := clientWorld(t)
	reg := &tx.RegisterClient{ID: "hosp-a/app", ActsFor: "hosp-a/svc", JWKS: jwks, Scopes: "system/Observation.rs"}
	if c := h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, reg)); c[0] != CodeOK {
		t.Fatalf("register: %v", c)
	}
	got, err := h.at(0).Client("hosp-a/app")
	if err != nil || !got.Active() || got.ActsFor != "hosp-a/svc" || got.Org != "hosp-a" || got.Scopes != reg.Scopes || string(got.JWKS) != string(jwks) || got.RegisteredBy != "hosp-a/admin" {
		t.Fatalf("client = %+v, %v", got, err)
	}
	replaced := *reg
	replaced.ActsFor, replaced.Scopes = "hosp-a/dr", "system/*.rs"
	if c := h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, &replaced)); c[0] != CodeOK {
		t.Fatalf("replace: %v", c)
	}
	if got, _ := h.at(0).Client("hosp-a/app"); got.ActsFor != "hosp-a/dr" || got.Scopes != "system/*.rs" {
		t.Fatalf("replaced client = %+v", got)
	}
	end := &tx.RegisterClient{ID: "hosp-a/app", ActsFor: "hosp-a/dr", Revoked: true}
	if c := h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, end)); c[0] != CodeOK {
		t.Fatalf("end: %v", c)
	}
	if got, _ := h.at(0).Client("hosp-a/app"); got.Active() || got.RevokedAt != h.height {
		t.Fatalf("ended client = %+v", got)
	}
	h.judge(h.sign("hosp-a/admin", tx.TypeRegisterClient, reg), StageFinalize, CodeConflict, "never reused")
	if _, err := h.at(0).Client("hosp-a/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
}

func TestClientRegistrationRejections(t *testing.T) {
	h, jwks := clientWorld(t)
	h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, &tx.RegisterClient{ID: "hosp-a/taken", ActsFor: "hosp-a/svc", JWKS: jwks, Scopes: "system/*.rs"}))
	h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/dr"}))
	ok := tx.RegisterClient{ID: "hosp-a/app", ActsFor: "hosp-a/svc", JWKS: jwks, Scopes: "system/*.rs"}
	private := strings.Replace(string(jwks), `"kty":"EC"`, `"kty":"EC","d":"AAAA"`, 1)
	for _, c := range []struct {
		name   string
		signer string
		edit   func(r *tx.RegisterClient)
		want   Code
		reason string
	}{
		{"another org's admin", "hosp-b/admin", nil, CodeUnauthorized, "needs an admin of \"hosp-a\""},
		{"a non-admin of the org", "hosp-a/svc", nil, CodeUnauthorized, "needs an admin"},
		{"acts for another org", "hosp-a/admin", func(r *tx.RegisterClient) { r.ActsFor = "hosp-b/svc" }, CodeInvalid, "must act for a principal of hosp-a"},
		{"acts for a patient", "hosp-a/admin", func(r *tx.RegisterClient) { r.ActsFor = "patient/p" }, CodeInvalid, "must act for a principal of hosp-a"},
		{"acts for nobody", "hosp-a/admin", func(r *tx.RegisterClient) { r.ActsFor = "hosp-a/ghost" }, CodeInvalid, "does not exist"},
		{"acts for a revoked principal", "hosp-a/admin", func(r *tx.RegisterClient) { r.ActsFor = "hosp-a/dr" }, CodeInvalid, "revoked"},
		{"bad jwks", "hosp-a/admin", func(r *tx.RegisterClient) { r.JWKS = []byte(`{"keys":{}}`) }, CodeInvalid, "jwks"},
		{"private key material", "hosp-a/admin", func(r *tx.RegisterClient) { r.JWKS = []byte(private) }, CodeInvalid, "private key material"},
		{"a principal's id", "hosp-a/admin", func(r *tx.RegisterClient) { r.ID = "hosp-a/svc" }, CodeConflict, "is a principal"},
		{"ending an unknown client", "hosp-a/admin", func(r *tx.RegisterClient) { r.Revoked = true }, CodeInvalid, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			if c.edit != nil {
				c.edit(&r)
			}
			h.t = t
			for _, stage := range []Stage{StageCheck, StageFinalize} {
				h.judge(h.sign(c.signer, tx.TypeRegisterClient, &r), stage, c.want, c.reason)
			}
		})
	}
	h.t = t
	// A principal cannot take a client's id either.
	h.judge(h.register("hosp-a/admin", "hosp-a/taken", carechain.KindPractitioner, 40), StageFinalize, CodeConflict, "is a client")
}

func TestOrgAdminRegistersLaunchApp(t *testing.T) {
	h, _ := clientWorld(t)
	reg := &tx.RegisterClient{ID: "hosp-a/diary", App: true, RedirectURIs: []string{"http://127.0.0.1:7000/cb"}, Scopes: "patient/Observation.rs"}
	h.judge(h.sign("hosp-b/admin", tx.TypeRegisterClient, reg), StageFinalize, CodeUnauthorized, "needs an admin")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, reg)); c[0] != CodeOK {
		t.Fatalf("register: %v", c)
	}
	got, err := h.at(0).Client("hosp-a/diary")
	if err != nil || !got.Active() || !got.App() || got.ActsFor != "" || got.RedirectURIs[0] != reg.RedirectURIs[0] || got.Scopes != reg.Scopes {
		t.Fatalf("app = %+v, %v", got, err)
	}
	if c := h.block(h.sign("hosp-a/admin", tx.TypeRegisterClient, &tx.RegisterClient{ID: "hosp-a/diary", App: true, Revoked: true})); c[0] != CodeOK {
		t.Fatalf("end: %v", c)
	}
	if got, _ := h.at(0).Client("hosp-a/diary"); got.Active() || !got.App() {
		t.Fatalf("ended app = %+v", got)
	}
}

// A backend client's registration is stored byte for byte as before apps
// existed: its new field is omitted, so old blocks replay to the same app
// hashes.
func TestBackendClientStoredAsBefore(t *testing.T) {
	type before struct { // ClientRegistration before App Launch
		ID           string           `cbor:"1,keyasint"`
		Org          string           `cbor:"2,keyasint"`
		ActsFor      string           `cbor:"3,keyasint"`
		JWKS         []byte           `cbor:"4,keyasint,omitempty"`
		Scopes       string           `cbor:"5,keyasint,omitempty"`
		Status       carechain.Status `cbor:"6,keyasint"`
		RegisteredAt int64            `cbor:"7,keyasint"`
		RegisteredBy string           `cbor:"8,keyasint"`
		RevokedAt    int64            `cbor:"9,keyasint,omitempty"`
	}
	now := ClientRegistration{ID: "h/c", Org: "h", ActsFor: "h/s", JWKS: []byte("{}"), Scopes: "system/*.rs", Status: carechain.StatusActive, RegisteredAt: 3, RegisteredBy: "h/admin"}
	old := before{ID: "h/c", Org: "h", ActsFor: "h/s", JWKS: []byte("{}"), Scopes: "system/*.rs", Status: carechain.StatusActive, RegisteredAt: 3, RegisteredBy: "h/admin"}
	a, err := tx.Marshal(now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tx.Marshal(old)
	if string(a) != string(b) {
		t.Fatalf("a backend client's stored form changed:\n%x\n%x", a, b)
	}
}
