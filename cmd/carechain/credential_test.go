package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/vc"
)

// TestCredentialConsentAndRevocation is issue 23's credential acceptance
// on a node made by init, through the CLI: a medical board (an
// organization of type licensing) issues a cardiology specialty to a
// clinic's physician; a patient's grant requires a cardiology credential;
// the physician is refused before the credential, reads with it, and is
// refused again once the board revokes it. Every attempt is in the
// patient's access log, each refusal with its reason (no credential; the
// revocation, its height, who revoked it and why). The
// credential, exported as a W3C Verifiable Credential, verifies with an
// independent verifier from npm (clients/vc), which asks the node for its
// status online: active, then revoked.
func TestCredentialConsentAndRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "credentials", "--org", "hosp:hospital:Hospital",
		"--org", "clinic:hospital:Heart Clinic", "--org", "board:licensing:Medical Board", "--p2p-addr", freeAddr(t), "--http-addr", addr)
	keys := []string{"--home", home}
	cli := func(args ...string) (string, error) { return run(t, env, append(args, keys...)...) }
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("carechain %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("keys", "new", "hosp.dr-a")
	must("keys", "new", "clinic.dr-card")
	must("keys", "new", "patient.k7q2m9", "--kind", "patient")
	p := startProcess(t, env, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	pub := func(name string, extra ...string) string {
		return strings.TrimSpace(must(append([]string{"keys", "export-public", name}, extra...)...))
	}
	must("tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--pubkey", pub("hosp.dr-a"))
	must("tx", "register", "--as", "clinic/admin", "--id", "clinic/dr-card", "--role", "physician", "--pubkey", pub("clinic.dr-card"))
	must("tx", "register", "--as", "hosp/admin", "--kind", "patient", "--id", "patient/k7q2m9", "--pubkey", pub("patient.k7q2m9"),
		"--encryption-key", pub("patient.k7q2m9", "--encryption"))
	rec := writeObservation(t, addr, strings.TrimSpace(must("token", "--as", "hosp/dr-a")))

	const needsCardiology = `grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")`
	must("consent", "grant", "--as", "patient/k7q2m9", "--to", "clinic/dr-card", "--category", "*", "--until", "30d", "--condition", needsCardiology)
	read := func() (string, error) { return cli("record", "get", rec, "--as", "clinic/dr-card") }
	// A refusal looks like absence to the reader (it tells them nothing of
	// the record); its reason is in the patient's access log, checked below.
	const refused = "not readable by this caller"
	if out, err := read(); err == nil || !strings.Contains(out, refused) {
		t.Fatalf("read before any credential: err=%v %s", err, out)
	}

	// Who may issue: the board's admin (and a hospital's), not a physician.
	if out, err := cli("credential", "issue", "card-1", "--as", "clinic/dr-card", "--to", "clinic/dr-card", "--kind", "specialty", "--value", "cardiology"); err == nil ||
		!strings.Contains(out, "may not issue credentials") {
		t.Fatalf("a physician issues a credential: err=%v %s", err, out)
	}
	if out, err := cli("credential", "issue", "card-1", "--as", "board/admin", "--to", "clinic/dr-card", "--kind", "hobby", "--value", "x"); err == nil ||
		!strings.Contains(out, `credential kind "hobby"`) {
		t.Fatalf("an unknown kind: err=%v %s", err, out)
	}
	must("credential", "issue", "card-1", "--as", "board/admin", "--to", "clinic/dr-card", "--kind", "specialty", "--value", "cardiology", "--until", "2y")
	if out, err := read(); err != nil || !strings.Contains(out, "2345-7") {
		t.Fatalf("the credentialed cardiologist reads: err=%v %s", err, out)
	}
	if out := must("credential", "list", "--practitioner", "clinic/dr-card"); !strings.Contains(out, "cardiology") || !strings.Contains(out, "active") {
		t.Fatalf("credential list: %s", out)
	}
	// FHIR: Practitioner.qualification lists the credentials valid now.
	hospTok := strings.TrimSpace(must("token", "--as", "hosp/dr-a"))
	qualification := `"code":"cardiology","system":"urn:carechain:credential:specialty"`
	if body := fhirGet(t, addr, hospTok, "/fhir/Practitioner/clinic.dr-card"); !strings.Contains(body, qualification) || !strings.Contains(body, `"reference":"Organization/board"`) {
		t.Fatalf("Practitioner.qualification: %s", body)
	}
	if body := fhirGet(t, addr, hospTok, "/fhir/Practitioner?_id=clinic.dr-card"); !strings.Contains(body, qualification) {
		t.Fatalf("Practitioner search: %s", body)
	}

	// An approval policy's term can require a credential too
	// (TestApprovalTermRequiresACredential in package records decides with it).
	if out := must("amend", "policy", "--as", "clinic/admin", "--org", "clinic", "--category", "imaging", "--rule", "any-of",
		"--term", "physician@clinic+specialty=cardiology"); !strings.Contains(out, "committed amend.policy") {
		t.Fatalf("amend policy with a credential term: %s", out)
	}
	if out, err := cli("amend", "policy", "--as", "clinic/admin", "--org", "clinic", "--category", "imaging", "--term", "physician@clinic+hobby=golf"); err == nil ||
		!strings.Contains(out, "a credential is kind=value") {
		t.Fatalf("a term with an unknown credential kind: err=%v %s", err, out)
	}

	// Exported as a verifiable credential: it verifies here and with the npm verifier.
	file := filepath.Join(t.TempDir(), "card-1.vc.json")
	must("credential", "export", "card-1", "--as", "board/admin", "--out", file)
	if out, err := cli("credential", "export", "card-1", "--as", "hosp/admin", "--out", file+".x"); err == nil || !strings.Contains(out, "its issuer board") {
		t.Fatalf("another organization exports the board's credential: err=%v %s", err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Verify(raw); err != nil {
		t.Fatalf("the exported credential: %v", err)
	}
	verifyWithNPM(t, file, true, `"status":"active"`)

	must("credential", "revoke", "card-1", "--as", "board/admin", "--reason", "licence suspended by the board")
	if out, err := read(); err == nil || !strings.Contains(out, refused) {
		t.Fatalf("read after the revocation: err=%v %s", err, out)
	}
	if out := must("credential", "show", "card-1"); !strings.Contains(out, `"status": "revoked"`) {
		t.Fatalf("credential show: %s", out)
	}
	verifyWithNPM(t, file, false, `"status":"revoked"`)
	if body := fhirGet(t, addr, hospTok, "/fhir/Practitioner/clinic.dr-card"); strings.Contains(body, "qualification") {
		t.Fatalf("a revoked credential is still a qualification: %s", body)
	}

	// Every attempt, refused or not, is in the patient's access log.
	p.waitFor(t, time.Minute, "the three reads in the access log", func() error {
		log, err := cli("audit", "list", "--patient", "patient/k7q2m9")
		if err != nil {
			return fmt.Errorf("%v: %s", err, log)
		}
		var denied, allowed int
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "clinic/dr-card") {
				switch {
				case strings.Contains(line, "clinic/dr-card holds no credential"),
					strings.Contains(line, "credential card-1 was revoked at height") && strings.Contains(line, "by board/admin: licence suspended by the board"):
					denied++
				case strings.Contains(line, "allow"):
					allowed++
				}
			}
		}
		if denied != 2 || allowed != 1 {
			return fmt.Errorf("%d refusals and %d reads of clinic/dr-card, want 2 and 1:\n%s", denied, allowed, log)
		}
		return nil
	})
	p.interrupt(t)
}

// writeObservation writes a glucose Observation of patient/k7q2m9 as the
// bearer of tok, through FHIR, and returns its record ID.
func writeObservation(t *testing.T, addr, tok string) string {
	t.Helper()
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
 "subject":{"reference":"Patient/k7q2m9"},"valueQuantity":{"value":97,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`
	req, _ := http.NewRequest("POST", "http://"+addr+"/fhir/Observation", bytes.NewReader([]byte(obs)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		t.Fatalf("write an Observation: HTTP %d %s", resp.StatusCode, body)
	}
	return created.ID
}

// fhirGet reads path from the node's FHIR API as the bearer of tok,
// compacted JSON; anything but 200 fails the test.
func fhirGet(t *testing.T, addr, tok, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var compact bytes.Buffer
	if resp.StatusCode != http.StatusOK || json.Compact(&compact, body) != nil {
		t.Fatalf("GET %s: HTTP %d %s", path, resp.StatusCode, body)
	}
	return compact.String()
}

// vcClientDir holds the npm verifier of exported credentials.
var vcClientDir = filepath.Join("..", "..", "clients", "vc")

// verifyWithNPM runs clients/vc/verify.mjs (Digital Bazaar's
// @digitalbazaar/vc with the eddsa-jcs-2022 cryptosuite and the did:key
// driver, and the online status check) on file, installing its locked
// dependencies first if they are missing. Without node or npm it says so
// and checks nothing, except in CI, which installs them.
func verifyWithNPM(t *testing.T, file string, want bool, wantOut string) {
	t.Helper()
	c := npmClient{dir: vcClientDir, marker: filepath.Join("@digitalbazaar", "vc", "package.json"), script: "verify.mjs",
		purpose: "the independent verifier of credentials (clients/vc)"}
	out, ran, err := c.run(t, file)
	if !ran {
		return
	}
	if (err == nil) != want || !strings.Contains(string(out), wantOut) || !strings.Contains(string(out), fmt.Sprintf(`"verified":%v`, want)) {
		t.Fatalf("npm verifier: want verified=%v and %s, got %v:\n%s", want, wantOut, err, out)
	}
}
