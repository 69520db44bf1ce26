package fhirrest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

const chainID = "fhir-test"

// env is a FHIR API over real HTTP in front of a real single-validator node:
// organizations hosp-a and hosp-b, physicians hosp-a/dr-a and hosp-b/dr-b,
// and patient/p registered by hosp-a. The node holds the signing key of
// hosp-a/dr-a only (cust), and the patient's under the passphrase
// "patient pass".
type env struct {
	t    *testing.T
	srv  *httptest.Server
	n    *node.Node
	svc  *records.Service
	cust *records.Custodian
	keys map[string]ed25519.PrivateKey
	// opts are the FHIR API's options, for a test that starts a second
	// server on the same node (a restart).
	opts fhirrest.Options
	// index is the search index of svc, if withIndex made one.
	index *store.Index
	// patientEnc is patient/p's encryption key (in the records keyring).
	patientEnc *seal.PrivateKey
}

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(nil)
	return k
}

func setup(t *testing.T) *env {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with the FHIR API's options changed by change.
func setupWith(t *testing.T, change func(*fhirrest.Options)) *env {
	t.Helper()
	return setupOrgs(t, []envOrg{{"hosp-a", carechain.OrgHospital}, {"hosp-b", carechain.OrgHospital}}, []envReg{
		{"hosp-a/admin", tx.Register{ID: "hosp-a/dr-a", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}}},
		{"hosp-b/admin", tx.Register{ID: "hosp-b/dr-b", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}}},
	}, change)
}

// setupOrgs is setupWith on a node whose genesis has orgs (the first
// registers patient/p and must be hosp-a), committing regs.
func setupOrgs(t *testing.T, orgs []envOrg, regs []envReg, change func(*fhirrest.Options)) *env {
	t.Helper()
	e := &env{t: t, keys: map[string]ed25519.PrivateKey{}}
	n, kr := e.startNode(orgs, regs)
	svc, err := records.New(n, kr, records.Options{Node: "fhir"})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	cust := &records.Custodian{}
	cust.Add("hosp-a/dr-a", e.keys["hosp-a/dr-a"])
	e.cust = cust
	ks, err := keystore.Open(t.TempDir(), keystore.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Import("patient.p", e.keys["patient/p"], []byte("patient pass")); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.opts = fhirrest.Options{App: n.App(), Records: svc, Custodian: cust, Keystore: ks, BaseURL: e.srv.URL}
	if change != nil {
		change(&e.opts)
	}
	fhirrest.Register(mux, e.opts)
	return e
}

// envOrg is an organization of a test node's genesis.
type envOrg struct {
	id  string
	typ carechain.OrgType
}

// envReg is a registration a test node commits at its start.
type envReg struct {
	signer string
	reg    tx.Register
}

// startNode starts a real single-validator node whose genesis has orgs
// (each with an admin, ORG/admin), commits regs and then patient/p,
// registered by the first organization, and returns it with a keyring of
// every organization's and the patient's encryption keys. e.keys gets
// every signing key, e.patientEnc the patient's encryption key.
func (e *env) startNode(orgs []envOrg, regs []envReg) (*node.Node, *records.Keyring) {
	t := e.t
	t.Helper()
	kr := &records.Keyring{}
	g := &ledger.Genesis{}
	for _, o := range orgs {
		ek, _ := seal.GenerateKey()
		kr.Add(o.id, ek)
		e.keys[o.id+"/admin"] = newKey()
		g.Organizations = append(g.Organizations, ledger.GenesisOrg{
			Organization: carechain.Organization{ID: o.id, Name: o.id, Type: o.typ, EncryptionKey: ek.Public().Bytes()},
			Admins:       []ledger.GenesisAdmin{{ID: o.id + "/admin", PublicKey: e.keys[o.id+"/admin"].Public().(ed25519.PublicKey)}},
		})
	}
	h := node.Home(t.TempDir())
	c := node.DefaultConfig(chainID, "fhir")
	c.TimeoutCommit = node.Duration(10 * time.Millisecond)
	p2p, err := node.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	c.P2PAddr = p2p
	if err := node.Init(h, node.InitOptions{Config: c, Genesis: g}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := node.Start(ctx, h, node.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	e.n = n
	pek, _ := seal.GenerateKey()
	e.patientEnc = pek
	kr.Add("patient/p", pek)
	regs = append(regs, envReg{orgs[0].id + "/admin", tx.Register{ID: "patient/p", Kind: carechain.KindPatient, EncryptionKey: pek.Public().Bytes()}})
	for _, r := range regs {
		k := newKey()
		e.keys[r.reg.ID] = k
		r.reg.PublicKey = k.Public().(ed25519.PublicKey)
		nonce, _ := n.App().Latest().NextNonce(r.signer)
		raw, _ := tx.Sign(e.keys[r.signer], chainID, r.signer, nonce, tx.TypeRegister, &r.reg)
		if out, err := n.Submit(ctx, raw); err != nil || !out.Accepted() {
			t.Fatalf("%+v %v", out, err)
		}
	}
	return n, kr
}

// assertion builds a SMART backend-services client assertion.
func (e *env) assertion(principal string, key ed25519.PrivateKey, aud string) string {
	s, err := fhirrest.ClientAssertion(principal, key, aud)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) tokenFor(form url.Values) (int, string) {
	resp, err := http.PostForm(e.srv.URL+"/auth/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr.AccessToken
}

func (e *env) token(principal string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {e.assertion(principal, e.keys[principal], e.srv.URL+"/auth/token")}}
	code, tok := e.tokenFor(form)
	if code != http.StatusOK || tok == "" {
		e.t.Fatalf("token for %s: HTTP %d", principal, code)
	}
	return tok
}

type response struct {
	status  int
	header  http.Header
	body    map[string]any
	rawBody []byte
}

func (e *env) do(method, path, token string, body []byte, hdr ...string) response {
	e.t.Helper()
	r, err := e.send(method, path, token, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns its error.
func (e *env) send(method, path, token string, body []byte, hdr ...string) (response, error) {
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, header: resp.Header, rawBody: buf.Bytes()}
	json.Unmarshal(buf.Bytes(), &r.body)
	return r, nil
}

func (r response) outcome(t *testing.T, status int, mention string) {
	t.Helper()
	if r.status != status || r.body["resourceType"] != "OperationOutcome" || !strings.Contains(string(r.rawBody), mention) {
		t.Fatalf("want %d OperationOutcome mentioning %q, got %d %s", status, mention, r.status, r.rawBody)
	}
}

// issueCode is the code of the first issue of an OperationOutcome, or "".
func (r response) issueCode() string {
	issues, _ := r.body["issue"].([]any)
	if len(issues) == 0 {
		return ""
	}
	code, _ := issues[0].(map[string]any)["code"].(string)
	return code
}

const glucose = `{"resourceType":"Observation","status":"final",
 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
 "code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/p"},
 "valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`

// glucoseWithID is the glucose Observation with value and id, for an update.
func glucoseWithID(value int, id string) []byte {
	return []byte(strings.Replace(fmt.Sprintf(glucose, value), `"resourceType":"Observation",`, `"resourceType":"Observation","id":"`+id+`",`, 1))
}

// createGlucose creates a glucose Observation of patient/p as the holder of
// tok, and returns its id.
func (e *env) createGlucose(tok string, value int) string {
	e.t.Helper()
	r := e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, value)))
	if r.status != 201 {
		e.t.Fatalf("create: %d %s", r.status, r.rawBody)
	}
	return r.body["id"].(string)
}

// login is passphrase login (/auth/login): the status, and the token and
// patient reference it gave.
func (e *env) login(principal, passphrase string) (status int, token, patient string) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/auth/login", url.Values{"principal": {principal}, "passphrase": {passphrase}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Patient     string `json:"patient"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr.AccessToken, tr.Patient
}

// patientToken is a token of patient/p, by passphrase login.
func (e *env) patientToken() string {
	e.t.Helper()
	status, tok, _ := e.login("patient/p", "patient pass")
	if status != http.StatusOK || tok == "" {
		e.t.Fatalf("patient login: HTTP %d", status)
	}
	return tok
}
