package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consortium is a consortium founded with init (no demo code) and its one
// node running: organizations hosp (a hospital) and lab (a laboratory),
// physicians hosp/dr-a and lab/dr-b, whose keys the node holds.
type consortium struct {
	t    *testing.T
	home string
	addr string
	env  []string // the node's passphrase
}

func foundConsortium(t *testing.T) *consortium {
	t.Helper()
	c := &consortium{t: t, home: filepath.Join(t.TempDir(), "node"), addr: freeAddr(t), env: passEnv(testPassphrase)}
	mustRun(t, c.env, "init", "--home", c.home, "--chain-id", "workflows", "--org", "hosp:hospital:Hospital",
		"--org", "lab:lab:Laboratory", "--p2p-addr", freeAddr(t), "--http-addr", c.addr)
	c.cli("keys", "new", "hosp.dr-a")
	c.cli("keys", "new", "lab.dr-b")
	p := startProcess(t, c.env, "start", "--home", c.home)
	t.Cleanup(func() { p.interrupt(t) })
	waitHealthy(t, p, c.addr, time.Minute)
	c.register("hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--pubkey", c.pub("hosp.dr-a"))
	c.register("lab/admin", "--id", "lab/dr-b", "--role", "physician", "--pubkey", c.pub("lab.dr-b"))
	return c
}

// cli runs carechain with the node's home and passphrase.
func (c *consortium) cli(args ...string) string {
	c.t.Helper()
	return mustRun(c.t, c.env, append(args, "--home", c.home)...)
}

// pub is the public signing key of a key in the node's keystore.
func (c *consortium) pub(name string) string {
	return strings.TrimSpace(c.cli("keys", "export-public", name))
}

func (c *consortium) register(admin string, args ...string) {
	c.t.Helper()
	if out := c.cli(append([]string{"tx", "register", "--as", admin}, args...)...); !strings.Contains(out, "committed identity.register") {
		c.t.Fatalf("register %v: %s", args, out)
	}
}

// fhir sends a FHIR request with a bearer token; it returns the status and body.
func (c *consortium) fhir(token, method, path, body string, header ...string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// token is a bearer token of a principal whose key the node holds.
func (c *consortium) token(as string) string {
	return strings.TrimSpace(c.cli("token", "--as", as))
}

// observationJSON is a glucose result of patient.
func (c *consortium) observationJSON(patient string, value int64) string {
	return `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
 "code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/` + strings.TrimPrefix(patient, "patient/") + `"},
 "valueQuantity":{"value":` + itoa(value) + `,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`
}

// observation writes a glucose result for patient as hosp/dr-a through FHIR
// and returns its record ID.
func (c *consortium) observation(patient string, value int64) string {
	c.t.Helper()
	status, body := c.fhir(c.token("hosp/dr-a"), "POST", "/fhir/Observation", c.observationJSON(patient, value))
	var created struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		c.t.Fatalf("physician writes a record: HTTP %d %s", status, body)
	}
	return created.ID
}

// patientDevice is a keystore on patients' own device (a directory the
// node never reads, under their own passphrase) whose CLI reaches the node
// only through its API.
type patientDevice struct {
	c   *consortium
	dir string
	env []string
}

func (c *consortium) device(passphrase string) *patientDevice {
	return &patientDevice{c: c, dir: filepath.Join(c.t.TempDir(), "device-keys"), env: passEnv(passphrase)}
}

// run runs carechain on the device.
func (d *patientDevice) run(args ...string) (string, error) {
	return run(d.c.t, d.env, append(args, "--keys-dir", d.dir, "--node", d.c.addr)...)
}

// must is run, failing the test on an error.
func (d *patientDevice) must(args ...string) string {
	d.c.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.c.t.Fatalf("carechain %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// registerPatient makes patient's keys on the device and has hosp's admin
// register them.
func (d *patientDevice) registerPatient(patient string) {
	keys := func(args ...string) string {
		return strings.TrimSpace(mustRun(d.c.t, d.env, append(args, "--keys-dir", d.dir)...))
	}
	name := strings.ReplaceAll(patient, "/", ".")
	keys("keys", "new", name, "--kind", "patient")
	d.c.register("hosp/admin", "--kind", "patient", "--id", patient, "--pubkey", keys("keys", "export-public", name),
		"--encryption-key", keys("keys", "export-public", name, "--encryption"))
}

// TestSelfHeldPatientWorkflows: a patient who keeps their keystore on their
// own device (a directory the node never reads, under their own passphrase)
// does everything through the CLI, which signs and wraps keys locally and
// reaches the node only through its API.
func TestSelfHeldPatientWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	d := c.device("the patient's own passphrase")
	patient, mustPatient := d.run, d.must
	d.registerPatient("patient/s1")

	rec := c.observation("patient/s1", 101)
	readAsB := func(id string, extra ...string) (string, error) {
		return run(t, c.env, append([]string{"record", "get", id, "--as", "lab/dr-b", "--home", c.home}, extra...)...)
	}
	if out, err := readAsB(rec); err == nil {
		t.Fatalf("lab/dr-b reads before any grant: %s", out)
	}

	// Grant another organization; it reads through the node.
	out := mustPatient("consent", "grant", "--as", "patient/s1", "--to", "lab", "--category", "lab", "--until", "30d")
	grant := regexp.MustCompile(`granted (\S+)`).FindStringSubmatch(out)
	if grant == nil {
		t.Fatalf("consent grant: %s", out)
	}
	if out, err := readAsB(rec); err != nil || !strings.Contains(out, "2345-7") {
		t.Fatalf("the granted organization reads: %v %s", err, out)
	}
	if out := c.cli("record", "list", "--as", "lab/dr-b", "--patient", "patient/s1"); !strings.Contains(out, rec) {
		t.Fatalf("record list as the granted organization: %s", out)
	}
	if out := mustPatient("consent", "list", "--as", "patient/s1"); !strings.Contains(out, grant[1]) || !strings.Contains(out, "active") {
		t.Fatalf("consent list shows the grant: %s", out)
	}
	// A research grant may let the researcher have the records identified (fhirrest/deid.go).
	mustPatient("consent", "grant", "--as", "patient/s1", "--to", "lab/dr-b", "--category", "lab", "--purpose", "research", "--identified", "--until", "30d")
	if out := mustPatient("consent", "list", "--as", "patient/s1"); !strings.Contains(out, "research (identified)") {
		t.Fatalf("consent list shows the identified research grant: %s", out)
	}
	// The node API answers records identified, so it refuses research
	// reads, even under such a grant, and a researcher's: they go through
	// the FHIR API, which de-identifies (TestResearcherGetsDeidentifiedAnswers).
	c.cli("keys", "new", "lab.dr-r")
	c.register("lab/admin", "--id", "lab/dr-r", "--role", "researcher", "--pubkey", c.pub("lab.dr-r"))
	mustPatient("consent", "grant", "--as", "patient/s1", "--to", "lab/dr-r", "--category", "lab", "--purpose", "research", "--until", "30d")
	for _, as := range []string{"lab/dr-b", "lab/dr-r"} {
		for _, cmd := range []string{"get", "history"} {
			out, err := run(t, c.env, "record", cmd, rec, "--as", as, "--purpose", "research", "--home", c.home)
			if err == nil || !strings.Contains(out, "research reads go through the FHIR API") || strings.Contains(out, "2345-7") {
				t.Fatalf("record %s --purpose research as %s: %v %s", cmd, as, err, out)
			}
		}
	}

	// Revoke: what is written afterwards is unreadable to lab.
	mustPatient("consent", "revoke", grant[1], "--as", "patient/s1")
	later := c.observation("patient/s1", 102)
	if out, err := readAsB(later); err == nil || !strings.Contains(out, "hint: it does not exist, or --as may not see it") {
		t.Fatalf("lab/dr-b reads a record written after the revocation, or no hint: %v %s", err, out)
	}

	// Break the glass under the patient's rule.
	if out, err := readAsB(later, "--patient", "patient/s1", "--break-glass", "unconscious in the lab"); err == nil {
		t.Fatalf("break-glass without a rule: %s", out)
	}
	mustPatient("emergency", "set", "--as", "patient/s1", "--role", "physician", "--duration", "2h", "--require-reason")
	if out := mustPatient("emergency", "show", "--as", "patient/s1"); !strings.Contains(out, "physician") {
		t.Fatalf("emergency show: %s", out)
	}
	if out, err := readAsB(later, "--patient", "patient/s1", "--break-glass", "unconscious in the lab"); err != nil || !strings.Contains(out, "2345-7") {
		t.Fatalf("break-glass read: %v %s", err, out)
	}

	// Cleared, the rule admits nobody new.
	mustPatient("emergency", "clear", "--as", "patient/s1")
	if out, err := patient("emergency", "show", "--as", "patient/s1"); err == nil {
		t.Fatalf("emergency show after clear: %s", out)
	}
	if out, err := readAsB(later, "--patient", "patient/s1", "--break-glass", "again"); err == nil || !strings.Contains(out, "no emergency rule") {
		t.Fatalf("break-glass after the rule was cleared: %v %s", err, out)
	}

	// The order rule: an order to an organization it excludes is refused.
	if out := mustPatient("consent", "order-rule", "--as", "patient/s1"); !strings.Contains(out, "orders to any organization give it access") {
		t.Fatalf("consent order-rule shows the default: %s", out)
	}
	if out, err := patient("consent", "order-rule", "--as", "patient/s1", "--allow", "only"); err == nil || !strings.Contains(out, "names its organizations") {
		t.Fatalf("an order rule admitting only nobody named: %v %s", err, out)
	}
	if out := mustPatient("consent", "order-rule", "--as", "patient/s1", "--allow", "except", "--org", "lab"); !strings.Contains(out, "but [lab]") {
		t.Fatalf("consent order-rule --allow except: %s", out)
	}
	order := `{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"Patient/s1"},
	  "code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"performer":[{"reference":"Organization/lab"}]}`
	if status, body := c.fhir(c.token("hosp/dr-a"), "POST", "/fhir/ServiceRequest", order); status != http.StatusForbidden || !strings.Contains(string(body), "order rule of patient/s1") {
		t.Fatalf("an order to an organization the patient's rule excludes: HTTP %d %s", status, body)
	}

	// A delegate (a carer with their own keys, elsewhere) grants for the
	// patient until removed.
	carerKeys, carerEnv := filepath.Join(t.TempDir(), "carer-keys"), passEnv("the carer's passphrase")
	mustRun(t, carerEnv, "keys", "new", "patient.carer1", "--kind", "patient", "--keys-dir", carerKeys)
	carerPub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, carerEnv, append([]string{"keys", "export-public", "patient.carer1", "--keys-dir", carerKeys}, extra...)...))
	}
	c.register("hosp/admin", "--kind", "patient", "--id", "patient/carer1", "--pubkey", carerPub(), "--encryption-key", carerPub("--encryption"))
	carer := func(args ...string) (string, error) {
		return run(t, carerEnv, append(args, "--as", "patient/carer1", "--patient", "patient/s1", "--keys-dir", carerKeys, "--node", c.addr)...)
	}
	if out, err := carer("consent", "grant", "--to", "lab", "--category", "lab"); err == nil || !strings.Contains(out, "hint: --as may not see or do this") {
		t.Fatalf("a carer not yet named grants, or no hint: %v %s", err, out)
	}
	mustPatient("delegate", "add", "patient/carer1", "--as", "patient/s1")
	out, err := carer("consent", "grant", "--to", "lab/dr-b", "--category", "lab")
	byCarer := regexp.MustCompile(`granted (\S+)`).FindStringSubmatch(out)
	if err != nil || byCarer == nil {
		t.Fatalf("the delegate grants for the patient: %v %s", err, out)
	}
	if out := mustPatient("consent", "list", "--as", "patient/s1"); !strings.Contains(out, byCarer[1]) {
		t.Fatalf("the patient sees the delegate's grant: %s", out)
	}
	if out, err := carer("consent", "revoke", byCarer[1]); err != nil {
		t.Fatalf("the delegate revokes: %v %s", err, out)
	}
	mustPatient("delegate", "remove", "patient/carer1", "--as", "patient/s1")
	if out, err := carer("consent", "grant", "--to", "lab", "--category", "lab"); err == nil {
		t.Fatalf("a removed delegate grants: %s", out)
	}

	// A correction under an approval policy: the author and the patient sign.
	c.cli("amend", "policy", "--as", "hosp/admin", "--org", "hosp", "--category", "lab", "--resource-type", "Observation",
		"--rule", "all-of", "--term", "author", "--term", "patient")
	corrected := filepath.Join(t.TempDir(), "corrected.json")
	writeFile(t, corrected, c.observationJSON("patient/s1", 110))
	out = c.cli("amend", "propose", rec, "--file", corrected, "--as", "hosp/dr-a", "--reason", "transcription error")
	proposal := regexp.MustCompile(`proposed (\S+)`).FindStringSubmatch(out)
	if proposal == nil {
		t.Fatalf("amend propose: %s", out)
	}
	if out := mustPatient("amend", "list", "--as", "patient/s1", "--waiting"); !strings.Contains(out, proposal[1]) {
		t.Fatalf("the patient does not see the proposal waiting for them: %s", out)
	}
	c.cli("amend", "approve", proposal[1], "--as", "hosp/dr-a")
	if out := c.cli("record", "get", rec, "--as", "hosp/dr-a"); !strings.Contains(out, `"version": 1`) {
		t.Fatalf("committed before the patient signed: %s", out)
	}
	mustPatient("amend", "approve", proposal[1], "--as", "patient/s1")
	if out := c.cli("record", "get", rec, "--as", "hosp/dr-a"); !strings.Contains(out, `"version": 2`) || !strings.Contains(out, "110") {
		t.Fatalf("the approved correction is not the record's version 2: %s", out)
	}

	// Patient-entered data: sealed and signed on the device, marked
	// patient-authored; the hospital reads it once the patient grants it.
	home := filepath.Join(t.TempDir(), "home-glucose.json")
	writeFile(t, home, strings.Replace(c.observationJSON("patient/s1", 131), "laboratory", "vital-signs", 1))
	out = mustPatient("record", "put", "--as", "patient/s1", "--file", home)
	own := regexp.MustCompile(`stored (\S+) version 1 \(patient-reported\)`).FindStringSubmatch(out)
	if own == nil {
		t.Fatalf("record put: %s", out)
	}
	if out, err := run(t, c.env, "record", "get", own[1], "--as", "hosp/dr-a", "--home", c.home); err == nil {
		t.Fatalf("the hospital reads patient-entered data without a grant: %s", out)
	}
	// The patient reads it on the device (the node cannot: it has no key for it).
	if out := mustPatient("record", "get", own[1], "--as", "patient/s1"); !strings.Contains(out, "131") || !strings.Contains(out, `"author": "patient/s1"`) {
		t.Fatalf("the patient reads their own entry on the device: %s", out)
	}
	if out := mustPatient("record", "history", rec, "--as", "patient/s1"); !strings.Contains(out, "110") || !strings.Contains(out, "101") {
		t.Fatalf("the patient reads the corrected record's history on the device: %s", out)
	}
	mustPatient("consent", "grant", "--as", "patient/s1", "--to", "hosp", "--category", "patient-reported")
	out = c.cli("record", "get", own[1], "--as", "hosp/dr-a")
	if !strings.Contains(out, `"author": "patient/s1"`) || !strings.Contains(out, `"category": "patient-reported"`) || !strings.Contains(out, "131") {
		t.Fatalf("patient-entered data as the hospital reads it: %s", out)
	}

	// The node never had the patient's keys.
	if names, err := filepath.Glob(filepath.Join(c.home, "keys", "patient.s1*")); err != nil || len(names) > 0 {
		t.Fatalf("the node's keystore holds the self-held patient's keys: %v %v", names, err)
	}

	// The access log, decrypted on the device.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = mustPatient("audit", "list", "--patient", "patient/s1")
		if strings.Contains(out, "lab/dr-b") && strings.Contains(out, "[EMERGENCY]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log on the device lacks lab/dr-b's reads: %s", out)
		}
		time.Sleep(time.Second)
	}
	if bytes.Contains([]byte(out), []byte("UNVERIFIABLE")) {
		t.Fatalf("unverifiable entries: %s", out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// login signs a custodial principal in with their passphrase.
func (c *consortium) login(principal, passphrase string) (int, string) {
	c.t.Helper()
	resp, err := http.PostForm("http://"+c.addr+"/auth/login", url.Values{"principal": {principal}, "passphrase": {passphrase}})
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr.AccessToken
}

// fhirJSON sends a FHIR request and decodes the answer.
func (c *consortium) fhirJSON(token, method, path, body string, header ...string) (int, map[string]any, string) {
	c.t.Helper()
	status, b := c.fhir(token, method, path, body, header...)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return status, m, string(b)
}

// TestCustodialPatientWorkflows: a patient whose keystore the node of their
// registering organization holds, under the patient's own passphrase (not
// the node's), made after the node started. They sign in over HTTP and do
// everything through the FHIR API.
func TestCustodialPatientWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	// Read-only commands find the node from --home too (its port is not the default).
	if out := c.cli("role-policy", "show", "hosp"); !strings.Contains(out, `"version": 1`) {
		t.Fatalf("role-policy show --home: %s", out)
	}
	if out := c.cli("validators"); !strings.Contains(out, "validators") {
		t.Fatalf("validators --home: %s", out)
	}
	const pass = "the patient's own passphrase"
	penv := passEnv(pass)
	mustRun(t, penv, "keys", "new", "patient.c1", "--kind", "patient", "--home", c.home)
	pub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, penv, append([]string{"keys", "export-public", "patient.c1", "--home", c.home}, extra...)...))
	}
	c.register("hosp/admin", "--kind", "patient", "--id", "patient/c1", "--pubkey", pub(), "--encryption-key", pub("--encryption"))

	if status, _ := c.login("patient/c1", testPassphrase); status != http.StatusUnauthorized {
		t.Fatalf("the node's passphrase signs the patient in: HTTP %d", status)
	}
	status, ptok := c.login("patient/c1", pass)
	if status != http.StatusOK || ptok == "" {
		t.Fatalf("the patient signs in with their own passphrase: HTTP %d", status)
	}

	rec := c.observation("patient/c1", 99)
	btok := c.token("lab/dr-b")
	if status, _ := c.fhir(btok, "GET", "/fhir/Observation/"+rec, ""); status != http.StatusNotFound {
		t.Fatalf("lab/dr-b reads before any grant: HTTP %d", status)
	}

	// Consent through FHIR: create, read there, update (one transaction), delete.
	consentOf := func(actor string) string {
		return `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/c1"},
  "provision":{"actor":[{"reference":{"reference":"` + actor + `"}}],"action":[{"coding":[{"code":"access"}]}],
    "purpose":[{"code":"treatment"}],"class":[{"system":"urn:carechain:category","code":"lab"}]}}`
	}
	status, created, raw := c.fhirJSON(ptok, "POST", "/fhir/Consent", consentOf("Organization/lab"))
	if status != http.StatusCreated {
		t.Fatalf("POST Consent: HTTP %d %s", status, raw)
	}
	cid, _ := created["id"].(string)
	if status, _ := c.fhir(btok, "GET", "/fhir/Observation/"+rec, ""); status != http.StatusOK {
		t.Fatalf("the granted organization reads: HTTP %d", status)
	}
	replacement := strings.Replace(consentOf("Practitioner/lab.dr-b"), `"status":"active"`, `"id":"`+cid+`","status":"active"`, 1)
	status, replaced, raw := c.fhirJSON(ptok, "PUT", "/fhir/Consent/"+cid, replacement)
	if status != http.StatusCreated || replaced["id"] == cid {
		t.Fatalf("PUT Consent: HTTP %d %s", status, raw)
	}
	if status, _ := c.fhir(ptok, "DELETE", "/fhir/Consent/"+replaced["id"].(string), ""); status != http.StatusNoContent {
		t.Fatalf("DELETE Consent: HTTP %d", status)
	}
	later := c.observation("patient/c1", 98)
	if status, _ := c.fhir(btok, "GET", "/fhir/Observation/"+later, ""); status != http.StatusNotFound {
		t.Fatalf("lab/dr-b reads a record written after the revocation: HTTP %d", status)
	}

	// A correction: the physician proposes, both sign through the Task.
	c.cli("amend", "policy", "--as", "hosp/admin", "--org", "hosp", "--category", "lab", "--resource-type", "Observation",
		"--rule", "all-of", "--term", "author", "--term", "patient")
	atok := c.token("hosp/dr-a")
	fixed := strings.Replace(c.observationJSON("patient/c1", 97), `"resourceType":"Observation",`, `"resourceType":"Observation","id":"`+rec+`",`, 1)
	status, task, raw := c.fhirJSON(atok, "PUT", "/fhir/Observation/"+rec, fixed, "X-Amendment-Reason", "wrong unit")
	if status != http.StatusAccepted || task["resourceType"] != "Task" {
		t.Fatalf("PUT under an approval policy: HTTP %d %s", status, raw)
	}
	tid := task["id"].(string)
	for _, tok := range []string{atok, ptok} {
		if status, _, raw := c.fhirJSON(tok, "POST", "/fhir/Task/"+tid+"/$approve", ""); status != http.StatusOK {
			t.Fatalf("approve: HTTP %d %s", status, raw)
		}
	}
	if _, obs, raw := c.fhirJSON(atok, "GET", "/fhir/Observation/"+rec, ""); obs["meta"].(map[string]any)["versionId"] != "2" {
		t.Fatalf("the approved correction: %s", raw)
	}

	// Break-glass under the patient's rule, set over HTTP.
	glass := []string{"X-Break-Glass-Reason", "found unconscious"}
	if status, _ := c.fhir(btok, "GET", "/fhir/Observation/"+later, "", glass...); status != http.StatusForbidden {
		t.Fatalf("break-glass without a rule: HTTP %d", status)
	}
	rule := `{"resourceType":"Parameters","parameter":[{"name":"role","valueCode":"physician"},
  {"name":"duration","valueDuration":{"value":2,"code":"h"}},{"name":"requireReason","valueBoolean":true}]}`
	if status, _, raw := c.fhirJSON(ptok, "POST", "/fhir/Patient/c1/$emergency-rule", rule); status != http.StatusOK {
		t.Fatalf("$emergency-rule: HTTP %d %s", status, raw)
	}
	if status, _, raw := c.fhirJSON(btok, "GET", "/fhir/Observation/"+later, "", glass...); status != http.StatusOK {
		t.Fatalf("break-glass read: HTTP %d %s", status, raw)
	}

	// A delegate named and removed over HTTP.
	carerKeys := filepath.Join(t.TempDir(), "carer")
	cenv := passEnv("the carer's passphrase")
	mustRun(t, cenv, "keys", "new", "patient.carer2", "--kind", "patient", "--keys-dir", carerKeys)
	cpub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, cenv, append([]string{"keys", "export-public", "patient.carer2", "--keys-dir", carerKeys}, extra...)...))
	}
	c.register("hosp/admin", "--kind", "patient", "--id", "patient/carer2", "--pubkey", cpub(), "--encryption-key", cpub("--encryption"))
	delegate := `{"resourceType":"Parameters","parameter":[{"name":"delegate","valueReference":{"reference":"Patient/carer2"}}]}`
	for _, op := range []string{"$delegate", "$remove-delegate"} {
		if status, _, raw := c.fhirJSON(ptok, "POST", "/fhir/Patient/c1/"+op, delegate); status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", op, status, raw)
		}
	}

	// Patient-entered data, marked patient-authored.
	status, own, raw := c.fhirJSON(ptok, "POST", "/fhir/Observation", c.observationJSON("patient/c1", 140))
	if status != http.StatusCreated || !strings.Contains(raw, "https://carechain.dev/fhir/tag") {
		t.Fatalf("the patient's own Observation: HTTP %d %s", status, raw)
	}
	_ = own

	// The access log over FHIR, as the patient.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := c.fhir(ptok, "GET", "/fhir/AuditEvent?patient=Patient/c1", "")
		if status == http.StatusOK && strings.Contains(string(body), "lab.dr-b") && strings.Contains(string(body), "found unconscious") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log lacks lab/dr-b's emergency read: HTTP %d %s", status, body)
		}
		time.Sleep(time.Second)
	}
}
