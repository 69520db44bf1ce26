package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
