package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carechain/carechain/fhirjson"
)

// TestStudyConsentEnrolWithdraw: a laboratory sponsors a study under the
// hospital's ethics board, with the data categories its consent covers and
// CEL eligibility criteria; patients, each with keys on their own device,
// consent through the CLI (which prints the study's summary first).
// Enrolment without consent, or before the sponsor commits its
// randomization seed, is refused; the hospital's physician enrols an
// eligible patient and is refused the ineligible one, with the criterion
// that failed, through the CLI and through FHIR (an OperationOutcome);
// another eligible patient enrols themself from their device, a third is
// enrolled through FHIR. Arms stay concealed until the sponsor reveals the seed (a
// wrong one is refused); then anyone recomputes them, and they are those
// the sponsor told the site; FHIR ResearchSubject shows each enrolment,
// naming the patient by their consent's grant ID. The study's researcher
// reads the data de-identified; the sponsor locks a dataset by its Merkle
// root, which the ethics board checks, and a changed value fails the check. A patient who
// withdraws keeps what was recorded before in the study's data, and the
// next research export leaves out what they record afterwards.
func TestStudyConsentEnrolWithdraw(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	c.cli("keys", "new", "lab.dr-r")
	c.register("lab/admin", "--id", "lab/dr-r", "--role", "researcher", "--pubkey", c.pub("lab.dr-r"))
	d := c.device("the patients' passphrase")
	patient, mustPatient := d.run, d.must
	for _, p := range []string{"s1", "s2", "s3", "s4"} {
		d.registerPatient("patient/" + p)
	}
	c.observation("patient/s1", 141)
	c.observation("patient/s2", 91)
	c.observation("patient/s3", 133)
	c.observation("patient/s4", 150)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "protocol.txt"), "protocol v1")
	writeFile(t, filepath.Join(dir, "sap.txt"), "analysis plan v1")
	c.cli("study", "register", "--as", "lab/admin", "--id", "gl-1", "--title", "Glucose lowering", "--ethics-board", "hosp",
		"--protocol", filepath.Join(dir, "protocol.txt"), "--analysis-plan", filepath.Join(dir, "sap.txt"),
		"--eligibility", "Fasting glucose of 126 mg/dL or more", "--criterion", `glucose:"2345-7" in observations && observations["2345-7"] >= 126.0`,
		"--data-category", "lab", "--data-until", "2099-01-01",
		"--endpoint", "primary:glucose-6m:Glucose change at 6 months", "--arm", "drug:Drug", "--arm", "placebo:Placebo")

	// eConsent: the summary first, then the grant on the study's terms.
	out := mustPatient("consent", "grant", "--study", "gl-1", "--as", "patient/s1")
	for _, want := range []string{"researchers of its sponsor lab read your records in these categories: lab", "until 2099-01-01",
		"what was recorded before stays in the study's data", "consented to study gl-1: grant"} {
		if !strings.Contains(out, want) {
			t.Fatalf("consent grant --study lacks %q:\n%s", want, out)
		}
	}
	refused := func(want string, args ...string) {
		t.Helper()
		if out, err := run(t, c.env, append(args, "--home", c.home)...); err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	enrol := func(p string) []string {
		return []string{"study", "enrol", "--study", "gl-1", "--patient", "patient/" + p, "--as", "hosp/dr-a"}
	}
	refused("enrolment requires the patient's consent to study gl-1: patient/s2 has no consent in force", enrol("s2")...)
	mustPatient("consent", "grant", "--study", "gl-1", "--as", "patient/s2")
	mustPatient("consent", "grant", "--study", "gl-1", "--as", "patient/s3")
	mustPatient("consent", "grant", "--study", "gl-1", "--as", "patient/s4")
	refused("has not committed its randomization seed", enrol("s1")...)
	seedFile := filepath.Join(dir, "gl-1.seed")
	c.cli("study", "randomize", "--study", "gl-1", "--seed-file", seedFile, "--as", "lab/admin")
	if sealed, err := os.ReadFile(seedFile); err != nil || !bytes.Contains(sealed, []byte(`"ciphertext"`)) {
		t.Fatalf("the seed file is sealed: %v %q", err, sealed)
	}

	// Enrolment: eligibility checked over what the site's node decrypts.
	refused(`patient/s2 is not eligible for study gl-1 (criteria of version 1): criterion glucose ("2345-7" in observations && observations["2345-7"] >= 126.0) is not met; nothing was put on the ledger`, enrol("s2")...)
	if out := c.cli(enrol("s1")...); !strings.Contains(out, "enrolled patient/s1 in study gl-1 as subject gl-1.1 (eligible by the criteria of version 1)") {
		t.Fatalf("enrol s1: %s", out)
	}
	// A patient enrols themself: the criteria run over their records decrypted on their device.
	if out := mustPatient("study", "enrol", "--study", "gl-1", "--as", "patient/s3"); !strings.Contains(out, "enrolled patient/s3 in study gl-1 as subject gl-1.2") {
		t.Fatalf("the patient enrols themself: %s", out)
	}
	refused("enrolled in study gl-1 already", enrol("s1")...)
	// Through FHIR: the site's node checks the criteria over what it decrypts.
	physician := c.token("hosp/dr-a")
	fhirEnrol := func(p string) (int, string) {
		status, body := c.fhir(physician, "POST", "/fhir/ResearchSubject",
			`{"resourceType":"ResearchSubject","status":"candidate","study":{"reference":"ResearchStudy/gl-1"},"individual":{"reference":"Patient/`+p+`"}}`)
		return status, string(body)
	}
	if status, body := fhirEnrol("s2"); status != http.StatusUnprocessableEntity || !strings.Contains(body, `"resourceType": "OperationOutcome"`) ||
		!strings.Contains(body, "criterion glucose") || !strings.Contains(body, "nothing was put on the ledger") {
		t.Fatalf("an ineligible patient enrolled through FHIR: HTTP %d %s", status, body)
	}
	if status, body := fhirEnrol("s4"); status != http.StatusCreated || !strings.Contains(body, `"id": "gl-1.3"`) {
		t.Fatalf("enrolment through FHIR: HTTP %d %s", status, body)
	}
	blinded := c.cli("study", "allocations", "--study", "gl-1", "--as", "hosp/admin")
	if !strings.Contains(blinded, "3 enrolments; blinded") || strings.Count(blinded, "(concealed)") != 3 || strings.Contains(blinded, "patient/s1") {
		t.Fatalf("allocations before unblinding: %s", blinded)
	}
	// The sponsor tells the site each arm; at unblinding anyone checks them.
	arms := map[string]string{}
	for _, n := range []string{"1", "2"} {
		out := c.cli("study", "arm", "--study", "gl-1", "--subject", n, "--seed-file", seedFile, "--as", "lab/admin")
		m := regexp.MustCompile(`subject (gl-1\.\d): arm (drug|placebo)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("study arm: %s", out)
		}
		arms[m[1]] = m[2]
	}
	wrong := filepath.Join(dir, "wrong.seed")
	writeFile(t, wrong, strings.Repeat("x", 32))
	refused("the seed does not match study gl-1's commitment", "study", "unblind", "--study", "gl-1", "--seed-file", wrong, "--as", "lab/admin")
	c.cli("study", "unblind", "--study", "gl-1", "--seed-file", seedFile, "--as", "lab/admin")
	out = c.cli("study", "allocations", "--study", "gl-1", "--as", "hosp/admin")
	if !strings.Contains(out, "unblinded at height") || !strings.Contains(out, "the seed matches the commitment") {
		t.Fatalf("allocations after unblinding: %s", out)
	}
	for subject, arm := range arms {
		if !regexp.MustCompile(subject + `\s.*\s` + arm + `\n`).MatchString(out) {
			t.Fatalf("allocations lack %s in arm %s (as the sponsor told the site):\n%s", subject, arm, out)
		}
	}
	if out := c.cli("study", "show", "gl-1", "--as", "hosp/admin", "--json"); !strings.Contains(out, `"consent_summary": "Joining study gl-1`) {
		t.Fatalf("the API returns the consent summary: %s", out)
	}

	// FHIR ResearchSubject: the patient named by their consent's grant ID, the arm once unblinded.
	admin := c.token("hosp/admin")
	subject := func(tok, path string, wants ...string) {
		t.Helper()
		status, body := c.fhir(tok, "GET", path, "")
		if _, err := fhirjson.Parse(body); status != http.StatusOK || err != nil || strings.Contains(string(body), "Patient/s") {
			t.Fatalf("GET %s: HTTP %d, R4: %v\n%s", path, status, err, body)
		}
		for _, w := range wants {
			if !strings.Contains(string(body), w) {
				t.Fatalf("GET %s lacks %s:\n%s", path, w, body)
			}
		}
	}
	subject(admin, "/fhir/ResearchSubject/gl-1.1", `"status": "on-study"`, `"assignedArm": "`+arms["gl-1.1"]+`"`, `"reference": "ResearchStudy/gl-1"`, "urn:carechain:study-consent")
	subject(admin, "/fhir/ResearchSubject?study=gl-1", `"total": 3`, "gl-1.2", "gl-1.3")
	subject(c.token("hosp/dr-a"), "/fhir/ResearchSubject?patient=Patient/s3", `"total": 1`, `"id": "gl-1.2"`)
	if status, body := c.fhir(admin, "GET", "/fhir/ResearchSubject?patient=Patient/s3", ""); status != http.StatusForbidden {
		t.Fatalf("an admin searches a patient's studies: HTTP %d %s", status, body)
	}

	researcher := c.token("lab/dr-r")
	export := func(p string) string {
		t.Helper()
		status, body := c.fhir(researcher, "GET", "/fhir/Patient/"+p+"/$everything", "", "X-Purpose-Of-Use", "research")
		if status != http.StatusOK {
			t.Fatalf("research $everything of %s: HTTP %d %s", p, status, body)
		}
		return string(body)
	}
	value := func(v string) *regexp.Regexp { return regexp.MustCompile(`"value":\s*` + v + `\b`) }
	if body := export("s1"); !value("141").MatchString(body) {
		t.Fatalf("the study's researcher reads the consenting patient's data: %s", body)
	}

	// Data lock: the sponsor locks the exported dataset; anyone holding it checks it.
	var bundle struct {
		Entry []struct{ Resource json.RawMessage }
	}
	if err := json.Unmarshal([]byte(export("s3")), &bundle); err != nil || len(bundle.Entry) == 0 {
		t.Fatalf("export of s3: %v %d entries", err, len(bundle.Entry))
	}
	var ndjson bytes.Buffer
	for _, e := range bundle.Entry {
		json.Compact(&ndjson, e.Resource)
		ndjson.WriteByte('\n')
	}
	dataset := filepath.Join(dir, "dataset.ndjson")
	writeFile(t, dataset, ndjson.String())
	if out := c.cli("study", "lock", "--study", "gl-1", "--name", "interim", "--dataset", dataset, "--as", "lab/admin"); !strings.Contains(out, "locked dataset interim of study gl-1") {
		t.Fatalf("study lock: %s", out)
	}
	if out := c.cli("study", "check-lock", "--study", "gl-1", "--name", "interim", "--dataset", dataset, "--as", "hosp/admin"); !strings.Contains(out, "the dataset matches lock 1 (interim) of study gl-1, committed by lab/admin") {
		t.Fatalf("study check-lock: %s", out)
	}
	writeFile(t, dataset, strings.Replace(ndjson.String(), "133", "132", 1))
	refused("the dataset does not match lock 1 (interim) of study gl-1", "study", "check-lock", "--study", "gl-1", "--name", "interim", "--dataset", dataset, "--as", "hosp/admin")

	// Withdrawal: what was recorded before stays, what comes after is left out.
	if out := mustPatient("study", "withdraw", "--study", "gl-1", "--as", "patient/s1"); !strings.Contains(out, "withdrew from study gl-1") {
		t.Fatalf("study withdraw: %s", out)
	}
	c.observation("patient/s1", 157)
	if body := export("s1"); !value("141").MatchString(body) || value("157").MatchString(body) {
		t.Fatalf("after the withdrawal, the export keeps what was recorded before (141) and leaves out what came after (157): %s", body)
	}
	subject(admin, "/fhir/ResearchSubject/gl-1.1", `"status": "withdrawn"`)
	if out := mustPatient("consent", "list", "--all", "--as", "patient/s1"); !regexp.MustCompile(`research \(study gl-1\)\s.*withdrawn`).MatchString(out) {
		t.Fatalf("consent list shows the withdrawn study consent: %s", out)
	}
	if out, err := patient("study", "withdraw", "--study", "gl-1", "--as", "patient/s1"); err == nil || !strings.Contains(out, "no consent in force to study gl-1") {
		t.Fatalf("a second withdrawal: %v %s", err, out)
	}
}
