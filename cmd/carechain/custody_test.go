package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCustodyAndKeysAddedLater runs one node through the lives of its keys:
//   - the keystore holds a patient's keys under the patient's own passphrase:
//     the node starts anyway, and leaves them locked;
//   - a physician's key made after the start signs the physician's writes,
//     without a restart;
//   - the patient signs in with their own passphrase (not the node's) and
//     only then may the node open what is sealed to them (their access log);
//   - keys rotate-encryption replaces the organization's key: the next
//     version of a record goes into a new epoch, and both versions still
//     read.
func TestCustodyAndKeysAddedLater(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	nodeEnv, patientEnv := passEnv(testPassphrase), passEnv("the patient's own passphrase")
	mustRun(t, nodeEnv, "init", "--home", home, "--chain-id", "custody", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	keys := []string{"--home", home}
	mustRun(t, patientEnv, append([]string{"keys", "new", "patient.k7q2m9", "--kind", "patient"}, keys...)...)
	p := startProcess(t, nodeEnv, "start", "--home", home, "--anchor-every", "100ms", "--cors-origin", "https://portal.example.org")
	waitHealthy(t, p, addr, time.Minute)
	// --cors-origin lets that origin's browser pages call the FHIR API.
	preflight, _ := http.NewRequest("OPTIONS", "http://"+addr+"/fhir/Observation", nil)
	preflight.Header.Set("Origin", "https://portal.example.org")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	if resp, err := http.DefaultClient.Do(preflight); err != nil || resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://portal.example.org" {
		t.Fatalf("CORS preflight from the allowed origin: %v %v", err, resp)
	}

	// Made and registered while the node runs.
	mustRun(t, nodeEnv, append([]string{"keys", "new", "hosp.dr-new"}, keys...)...)
	pub := func(env []string, name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, env, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	mustRun(t, nodeEnv, append([]string{"tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-new", "--role", "physician",
		"--pubkey", pub(nodeEnv, "hosp.dr-new")}, keys...)...)
	mustRun(t, nodeEnv, append([]string{"tx", "register", "--as", "hosp/admin", "--kind", "patient", "--id", "patient/k7q2m9",
		"--pubkey", pub(nodeEnv, "patient.k7q2m9"), "--encryption-key", pub(patientEnv, "patient.k7q2m9", "--encryption")}, keys...)...)

	fhir := func(method, path, token string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	doctor := strings.TrimSpace(mustRun(t, nodeEnv, append([]string{"token", "--as", "hosp/dr-new"}, keys...)...))
	obs := func(value string) []byte {
		return []byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
 "subject":{"reference":"Patient/k7q2m9"},"valueQuantity":{"value":` + value + `,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`)
	}
	code, body := fhir("POST", "/fhir/Observation", doctor, obs("97"))
	var created struct{ ID string }
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		t.Fatalf("the node signs for a key made after its start: HTTP %d %s", code, body)
	}

	// The patient's access log opens only with the patient's key.
	const auditLog = "/fhir/AuditEvent?patient=Patient/k7q2m9"
	assertion := strings.TrimSpace(mustRun(t, patientEnv, append([]string{"token", "--as", "patient/k7q2m9"}, keys...)...))
	if code, body := fhir("GET", auditLog, assertion, nil); code == http.StatusOK {
		t.Fatalf("the node opened the patient's log before the patient signed in: %s", body)
	}
	login := func(pass string) (int, string) {
		resp, err := http.PostForm("http://"+addr+"/auth/login", url.Values{"principal": {"patient/k7q2m9"}, "passphrase": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr.AccessToken
	}
	if code, _ := login(testPassphrase); code != http.StatusUnauthorized {
		t.Fatalf("the patient signs in with the node's passphrase: HTTP %d", code)
	}
	code, patient := login("the patient's own passphrase")
	if code != http.StatusOK || patient == "" {
		t.Fatalf("the patient signs in with their own passphrase: HTTP %d", code)
	}
	if code, body := fhir("GET", auditLog, patient, nil); code != http.StatusOK || !strings.Contains(string(body), `"Bundle"`) {
		t.Fatalf("the signed-in patient reads their access log: HTTP %d %s", code, body)
	}

	// The organization's key is replaced; the record's next version goes into a new epoch.
	if out := mustRun(t, nodeEnv, append([]string{"keys", "rotate-encryption", "hosp"}, keys...)...); !strings.Contains(out, "hosp.enc.1") ||
		!strings.Contains(out, "committed identity.rotate-encryption") {
		t.Fatalf("keys rotate-encryption: %s", out)
	}
	if code, body := fhir("PUT", "/fhir/Observation/"+created.ID, doctor, []byte(strings.Replace(string(obs("98")), `{"resourceType":"Observation",`,
		`{"resourceType":"Observation","id":"`+created.ID+`",`, 1))); code != http.StatusOK {
		t.Fatalf("update after the rotation: HTTP %d %s", code, body)
	}
	epochs := map[string]uint32{}
	for v, value := range map[string]string{"1": `"value":97`, "2": `"value":98`} {
		out := mustRun(t, nodeEnv, append([]string{"record", "get", created.ID, "--version", v, "--as", "hosp/dr-new"}, keys...)...)
		var rec struct {
			Epoch    uint32          `json:"epoch"`
			Resource json.RawMessage `json:"resource"`
		}
		var resource bytes.Buffer
		if err := json.Unmarshal([]byte(out), &rec); err != nil || json.Compact(&resource, rec.Resource) != nil || !strings.Contains(resource.String(), value) {
			t.Fatalf("version %s after the rotation: %v %s", v, err, out)
		}
		epochs[v] = rec.Epoch
	}
	if epochs["1"] == epochs["2"] {
		t.Fatalf("versions before and after the rotation share epoch %d", epochs["1"])
	}
	p.interrupt(t)
}
