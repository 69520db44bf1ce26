package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStudyAcrossNodes is issue 23's acceptance on three nodes, each made
// by init with only its own organization's keys: a university (uni, the
// sponsor: its admin and a researcher) founds the consortium; a hospital
// (hosp, the site: its physician enrols and records data, and the
// patients, whose keys are on their own device, are registered there) and
// an ethics board (irb) join by vote. The sponsor registers a study (CEL
// criteria, data categories, arms) on its node; the board's admin approves
// an amendment on its node; a second amendment switching the primary
// endpoint stays pending, and a report against the switched endpoint is
// refused. The sponsor commits its randomization; two patients whose
// records at the site hold the de-identification fixture (every HIPAA
// identifier kind in structured fields, narrative, notes and extensions)
// consent with consent grant --study and are enrolled by the site's
// physician; a third, ineligible, is refused with the criterion named and
// nothing on the ledger. The sponsor's researcher reads and bulk-exports
// them on the sponsor's node, with none of the fixture's identifiers. The
// site captures a subject's visit data and locks the visit (a direct change
// then refused), the board lists the lock, the sponsor locks the locked
// visits' dataset and the board checks it; the
// arms the sponsor computes are those study allocations recomputes at the
// board after unblinding. A patient withdraws: what the site records
// afterwards is absent from the sponsor's next export, what came before
// stays. The sponsor locks a dataset, which the board checks on its node,
// and a changed value fails; the withdrawn patient's access log names the
// sponsor's researcher.
func TestStudyAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node subprocesses")
	}
	skipUnderRace(t)
	started := time.Now()
	uni, hosp, irb := foundStudyNodes(t)
	t.Logf("three nodes founded and joined in %v", time.Since(started).Round(time.Millisecond))
	studyStarted := time.Now()
	uni.cli("keys", "new", "uni.dr-r")
	uni.register("uni/admin", "--id", "uni/dr-r", "--role", "researcher", "--pubkey", uni.pub("uni.dr-r"))
	hosp.cli("keys", "new", "hosp.dr-a")
	hosp.register("hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--pubkey", hosp.pub("hosp.dr-a"))

	// The patients: keys on their own device, registered at the site, their
	// records written there by its physician.
	d := hosp.device("the patients' passphrase")
	for _, p := range []string{"k7q2m1", "k7q2m2", "k7q2m3"} {
		d.registerPatient("patient/" + p)
	}
	physician := hosp.token("hosp/dr-a")
	for _, p := range []string{"k7q2m1", "k7q2m2"} {
		writeStudyFixture(t, hosp, physician, p)
	}
	if status, body := hosp.fhir(physician, "PUT", "/fhir/Patient/k7q2m3", `{"resourceType":"Patient","id":"k7q2m3","gender":"male","birthDate":"1970-03-01"}`); status != http.StatusCreated {
		t.Fatalf("the Patient of k7q2m3: HTTP %d %s", status, body)
	}
	// The site's physician reads the fixture identified: the identifiers are there to remove.
	if status, body := hosp.fhir(physician, "GET", "/fhir/Patient/k7q2m1/$everything", ""); status != http.StatusOK ||
		!identifierIn("078-05-1120", researchText(t, body)) || !identifierIn("Eleanor Rigby", researchText(t, body)) {
		t.Fatalf("the physician's $everything of k7q2m1: HTTP %d %s", status, body)
	}
	hosp.observation("patient/k7q2m1", 141)
	hosp.observation("patient/k7q2m2", 133)
	hosp.observation("patient/k7q2m3", 91)

	// The protocol: registered at the sponsor, amended under the board.
	const id = "cv-1"
	dir := t.TempDir()
	refused := func(m *member, want string, args ...string) {
		t.Helper()
		if out, err := run(t, m.env, append(args, "--home", m.home)...); err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s on %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), m.home, err, want, out)
		}
	}
	registerAmendedStudy(t, uni, irb, id, dir, refused)

	// Randomization committed; consent on the device, enrolment at the site.
	seedFile := filepath.Join(dir, id+".seed")
	uni.cli("study", "randomize", "--study", id, "--seed-file", seedFile, "--as", "uni/admin")
	caughtUp(t, hosp, uni)
	for _, p := range []string{"k7q2m1", "k7q2m2", "k7q2m3"} {
		if out := d.must("consent", "grant", "--study", id, "--as", "patient/"+p); !strings.Contains(out, "consented to study "+id) {
			t.Fatalf("consent grant --study as %s: %s", p, out)
		}
	}
	enrol := func(p string) []string {
		return []string{"study", "enrol", "--study", id, "--patient", "patient/" + p, "--as", "hosp/dr-a"}
	}
	for i, p := range []string{"k7q2m1", "k7q2m2"} {
		want := fmt.Sprintf("enrolled patient/%s in study %s as subject %s.%d (eligible by the criteria of version 2)", p, id, id, i+1)
		if out := hosp.cli(enrol(p)...); !strings.Contains(out, want) {
			t.Fatalf("the site enrols %s: %s", p, out)
		}
	}
	refused(hosp, `patient/k7q2m3 is not eligible for study cv-1 (criteria of version 2): criterion glucose ("2345-7" in observations && observations["2345-7"] >= 126.0) is not met; nothing was put on the ledger`, enrol("k7q2m3")...)
	caughtUp(t, irb, hosp)
	if out := irb.cli("study", "allocations", "--study", id, "--as", "irb/admin"); !strings.Contains(out, "2 enrolments; blinded") || strings.Count(out, "(concealed)") != 2 {
		t.Fatalf("allocations at the board after the refusal: %s", out)
	}

	// The sponsor's researcher, on the sponsor's node: de-identified.
	caughtUp(t, uni, hosp)
	researcher := uni.token("uni/dr-r")
	// The patients' ledger IDs are identifiers too: the fixture's narrative
	// names its Patient's id, and the researcher gets pseudonyms.
	ids := append(studyFixtureIdentifiers(t), "k7q2m1", "k7q2m2", "k7q2m3")
	for _, p := range []string{"k7q2m1", "k7q2m2"} {
		everything := researchEverything(t, uni, researcher, p)
		files := researchExport(t, uni, researcher, p)
		for what, body := range map[string][]byte{"$everything": everything, "$export": files} {
			text := researchText(t, body)
			if !strings.Contains(text, "ANONYED") || !strings.Contains(text, "30525-0") || !strings.Contains(text, "2345-7") || !strings.Contains(text, "DiagnosticReport") {
				t.Fatalf("the sponsor's %s of %s lacks the site's records:\n%s", what, p, body)
			}
			for _, hidden := range ids {
				if identifierIn(hidden, text) {
					t.Errorf("the sponsor's %s of %s holds the fixture's identifier %q", what, p, hidden)
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	visitLockedAcrossNodes(t, uni, hosp, irb, id, dir, researcher)
	studyArmsAgree(t, uni, irb, id, seedFile)

	// Withdrawal: what the site records afterwards stays out of the export.
	if out := d.must("study", "withdraw", "--study", id, "--as", "patient/k7q2m1"); !strings.Contains(out, "withdrew from study "+id) {
		t.Fatalf("study withdraw: %s", out)
	}
	hosp.observation("patient/k7q2m1", 157)
	caughtUp(t, uni, hosp)
	value := func(v string) *regexp.Regexp { return regexp.MustCompile(`"value":\s*` + v + `\b`) }
	if body := researchEverything(t, uni, researcher, "k7q2m1"); !value("141").Match(body) || value("157").Match(body) {
		t.Fatalf("after the withdrawal the sponsor's $everything keeps 141 and leaves out 157: %s", body)
	}
	if files := researchExport(t, uni, researcher, "k7q2m1"); !value("141").Match(files) || value("157").Match(files) {
		t.Fatalf("after the withdrawal the sponsor's $export keeps 141 and leaves out 157: %s", files)
	}

	// Data lock by the sponsor, checked by the board on its node.
	dataset := filepath.Join(dir, "dataset.ndjson")
	ndjson := researchExport(t, uni, researcher, "k7q2m2")
	writeFile(t, dataset, string(ndjson))
	if out := uni.cli("study", "lock", "--study", id, "--name", "final", "--dataset", dataset, "--as", "uni/admin"); !strings.Contains(out, "locked dataset final of study "+id) {
		t.Fatalf("study lock: %s", out)
	}
	caughtUp(t, irb, uni)
	if out := irb.cli("study", "check-lock", "--study", id, "--name", "final", "--dataset", dataset, "--as", "irb/admin"); !strings.Contains(out, "the dataset matches lock 2 (final) of study cv-1, committed by uni/admin") {
		t.Fatalf("study check-lock at the board: %s", out)
	}
	changed := value("133").ReplaceAll(ndjson, []byte(`"value":132`))
	if bytes.Equal(changed, ndjson) {
		t.Fatalf("no glucose value 133 in the dataset: %s", ndjson)
	}
	writeFile(t, dataset, string(changed))
	refused(irb, "the dataset does not match lock 2 (final) of study cv-1", "study", "check-lock", "--study", id, "--name", "final", "--dataset", dataset, "--as", "irb/admin")

	// The patient's access log, decrypted on their device, names the sponsor's reads.
	hosp.proc.waitFor(t, time.Minute, "the sponsor's reads in k7q2m1's access log", func() error {
		out, err := d.run("audit", "list", "--patient", "patient/k7q2m1")
		if err != nil || !regexp.MustCompile(`uni/dr-r\s.*\sresearch\s`).MatchString(out) {
			return fmt.Errorf("%v: %.2000s", err, out)
		}
		return nil
	})
	t.Logf("the study across the nodes took %v", time.Since(studyStarted).Round(time.Millisecond))
}

// foundStudyNodes makes the three nodes: the university founds the
// consortium (its node the only validator); the hospital joins, carried by
// the university alone; the ethics board joins by both members' votes.
func foundStudyNodes(t *testing.T) (uni, hosp, irb *member) {
	t.Helper()
	uni = newMember(t, "study-uni", "uni's passphrase")
	out := mustRun(t, uni.env, "init", "--home", uni.home, "--chain-id", "study-nodes", "--org", "uni:research:University",
		"--p2p-addr", uni.p2p, "--http-addr", uni.addr)
	founderID := nodeIDIn(t, out)
	uni.start()
	uni.waitRecords(time.Minute)

	hosp = newMember(t, "study-hosp", "hosp's passphrase")
	app := hosp.join(uni, founderID, "hosp:hospital:City Hospital", "0")
	hosp.start()
	if out := uni.cli("gov", "propose", "--as", "uni/admin", "--join", app); !strings.Contains(out, "carried out") {
		t.Fatalf("the only member's proposal carries: %s", out)
	}
	hosp.waitRecords(2 * time.Minute)

	irb = newMember(t, "study-irb", "irb's passphrase")
	app = irb.join(uni, founderID, "irb:research:Regional Ethics Board", "0")
	irb.start()
	out = uni.cli("gov", "propose", "--as", "uni/admin", "--join", app)
	caughtUp(t, hosp, uni)
	if out := hosp.cli("gov", "approve", proposalIn(t, out), "--as", "hosp/admin"); !strings.Contains(out, "carried out") {
		t.Fatalf("the second approval carries the board's join: %s", out)
	}
	irb.waitRecords(2 * time.Minute)
	return uni, hosp, irb
}

// registerAmendedStudy registers study id at the sponsor's node; the
// ethics board's admin approves an amendment (a secondary endpoint) on the
// board's node; a second amendment switching the primary endpoint stays
// pending, and the sponsor's report against the switched endpoint is
// refused.
func registerAmendedStudy(t *testing.T, uni, irb *member, id, dir string, refused func(m *member, want string, args ...string)) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "protocol.txt"), "protocol v1")
	writeFile(t, filepath.Join(dir, "sap.txt"), "analysis plan v1")
	results := filepath.Join(dir, "results.txt")
	writeFile(t, results, "the trial's results")
	uni.cli("study", "register", "--as", "uni/admin", "--id", id, "--title", "Glucose lowering in the elderly", "--ethics-board", "irb",
		"--protocol", filepath.Join(dir, "protocol.txt"), "--analysis-plan", filepath.Join(dir, "sap.txt"),
		"--eligibility", "Adults with a fasting glucose of 126 mg/dL or more",
		"--criterion", `glucose:"2345-7" in observations && observations["2345-7"] >= 126.0`, "--criterion", "adult:age >= 18",
		"--data-category", "demographics", "--data-category", "general", "--data-category", "lab", "--data-until", "2099-01-01",
		"--endpoint", "primary:glucose-6m:Glucose change at 6 months", "--arm", "drug:Drug", "--arm", "placebo:Placebo")

	endpoints := []string{"--endpoint", "primary:glucose-6m:Glucose change at 6 months", "--endpoint", "secondary:weight-6m:Weight change at 6 months"}
	if out := uni.cli(append([]string{"study", "amend", id, "--as", "uni/admin", "--reason", "weight is collected anyway"}, endpoints...)...); !strings.Contains(out, "amendment 2 of study "+id) {
		t.Fatalf("the first amendment: %s", out)
	}
	caughtUp(t, irb, uni)
	irb.cli("study", "decide", id, "--version", "2", "--as", "irb/admin", "--reason", "no risk to the subjects")
	caughtUp(t, uni, irb)

	switched := []string{"study", "amend", id, "--as", "uni/admin", "--reason", "the glucose assay changed",
		"--endpoint", "primary:hba1c-6m:HbA1c change at 6 months", "--endpoint", "secondary:weight-6m:Weight change at 6 months"}
	if out := uni.cli(switched...); !strings.Contains(out, "drops primary endpoint glucose-6m; adds primary endpoint hba1c-6m") {
		t.Fatalf("the second amendment: %s", out)
	}
	refused(uni, "endpoint hba1c-6m is not registered", "study", "report", id, "--as", "uni/admin", "--endpoint", "hba1c-6m", "--endpoint", "weight-6m", "--results", results)
	caughtUp(t, irb, uni)
	out := irb.cli("study", "show", id, "--as", "irb/admin")
	for _, want := range []string{"protocol in force: version 2", "version 2: approved", "decision: no risk to the subjects", "version 3: pending", "reason: the glucose assay changed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("study show at the board lacks %q:\n%s", want, out)
		}
	}
}

// visitLockedAcrossNodes: the site captures subject 2's week-12 visit
// data (study capture) and locks the visit on its node; a direct change of
// the locked record is refused there with a 409 OperationOutcome; the
// board lists the lock on its node; the captured value reaches the
// sponsor's researcher, de-identified; the sponsor locks the dataset of
// the locked visits and the board checks it on its node.
func visitLockedAcrossNodes(t *testing.T, uni, hosp, irb *member, id, dir, researcher string) {
	t.Helper()
	file := filepath.Join(dir, "visit.json")
	writeFile(t, file, hosp.observationJSON("patient/k7q2m2", 139))
	out := hosp.cli("study", "capture", "--study", id, "--subject", "2", "--visit", "week-12", "--file", file, "--as", "hosp/dr-a")
	m := regexp.MustCompile(`captured Observation/(\S+) for subject ` + id + `\.2, visit week-12`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("study capture at the site: %s", out)
	}
	if out := hosp.cli("study", "lock-visit", "--study", id, "--subject", "2", "--visit", "week-12", "--as", "hosp/dr-a"); !strings.Contains(out, "locked visit week-12 of subject "+id+".2") ||
		!strings.Contains(out, m[1]+" v1") {
		t.Fatalf("study lock-visit at the site: %s", out)
	}
	changed := strings.Replace(hosp.observationJSON("patient/k7q2m2", 140), `"resourceType":"Observation"`, `"resourceType":"Observation","id":"`+m[1]+`"`, 1)
	if status, body := hosp.fhir(hosp.token("hosp/dr-a"), "PUT", "/fhir/Observation/"+m[1], changed); status != http.StatusConflict ||
		!strings.Contains(string(body), "OperationOutcome") || !strings.Contains(string(body), "propose an amendment") {
		t.Fatalf("a change of the locked visit's record at the site: HTTP %d %s", status, body)
	}
	caughtUp(t, irb, hosp)
	if out := irb.cli("study", "visits", "--study", id, "--as", "irb/admin"); !strings.Contains(out, "study "+id+": 1 locked visits") || !strings.Contains(out, "week-12") {
		t.Fatalf("study visits at the board: %s", out)
	}
	caughtUp(t, uni, hosp)
	if body := researchEverything(t, uni, researcher, "k7q2m2"); !regexp.MustCompile(`"value":\s*139\b`).Match(body) {
		t.Fatalf("the sponsor's $everything of subject 2 lacks the captured visit value 139: %s", body)
	}
	if out := uni.cli("study", "lock", "--study", id, "--name", "visits", "--visits", "--as", "uni/admin"); !strings.Contains(out, "locked dataset visits of study "+id+": 1 locked visits, 1 records") {
		t.Fatalf("study lock --visits at the sponsor: %s", out)
	}
	caughtUp(t, irb, uni)
	if out := irb.cli("study", "check-lock", "--study", id, "--name", "visits", "--visits", "--as", "irb/admin"); !strings.Contains(out, "the dataset matches lock 1 (visits) of study "+id) {
		t.Fatalf("study check-lock --visits at the board: %s", out)
	}
}

// studyArmsAgree: the sponsor computes each subject's arm with its sealed
// seed; after it unblinds, study allocations on the board's node
// recomputes the same arms.
func studyArmsAgree(t *testing.T, uni, irb *member, id, seedFile string) {
	t.Helper()
	arms := map[string]string{}
	for _, n := range []string{"1", "2"} {
		out := uni.cli("study", "arm", "--study", id, "--subject", n, "--seed-file", seedFile, "--as", "uni/admin")
		m := regexp.MustCompile(`subject (` + id + `\.\d): arm (drug|placebo)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("study arm: %s", out)
		}
		arms[m[1]] = m[2]
	}
	uni.cli("study", "unblind", "--study", id, "--seed-file", seedFile, "--as", "uni/admin")
	caughtUp(t, irb, uni)
	out := irb.cli("study", "allocations", "--study", id, "--as", "irb/admin")
	if !strings.Contains(out, "unblinded at height") || !strings.Contains(out, "the seed matches the commitment") {
		t.Fatalf("allocations at the board after unblinding: %s", out)
	}
	for subject, arm := range arms {
		if !regexp.MustCompile(regexp.QuoteMeta(subject) + `\s.*\s` + arm + `\n`).MatchString(out) {
			t.Fatalf("the board's allocations lack %s in arm %s (as the sponsor computed):\n%s", subject, arm, out)
		}
	}
}

// studyFixtureDir is the de-identification fixture (deid/testdata).
var studyFixtureDir = filepath.Join("..", "..", "deid", "testdata")

// writeStudyFixture writes the de-identification fixture as patient p's
// records at m's node, as the physician: its Patient, and its Observation,
// DiagnosticReport and Encounter with their own ids and the encounter
// reference dropped (the node assigns ids).
func writeStudyFixture(t *testing.T, m *member, token, p string) {
	t.Helper()
	for _, name := range []string{"patient.json", "observation.json", "diagnosticreport.json", "encounter.json"} {
		raw := mustReadFile(t, filepath.Join(studyFixtureDir, name))
		raw = bytes.ReplaceAll(raw, []byte("https://node1.hospital.example/fhir/Patient/pat-eleanor-7741"), []byte("Patient/"+p))
		var res map[string]any
		if err := json.Unmarshal(bytes.ReplaceAll(raw, []byte("pat-eleanor-7741"), []byte(p)), &res); err != nil {
			t.Fatal(err)
		}
		delete(res, "meta")
		method, path, want := "PUT", "/fhir/Patient/"+p, http.StatusCreated
		if res["resourceType"] != "Patient" {
			delete(res, "id")
			delete(res, "encounter")
			method, path = "POST", "/fhir/"+res["resourceType"].(string)
		}
		body, _ := json.Marshal(res)
		if status, answer := m.fhir(token, method, path, string(body)); status != want {
			t.Fatalf("the fixture's %s for %s: HTTP %d %s", name, p, status, answer)
		}
	}
}

// studyFixtureIdentifiers are the identifiers hidden in the fixture
// (identifiers.txt), but for its resources' own ids, which the node
// replaces.
func studyFixtureIdentifiers(t *testing.T) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(mustReadFile(t, filepath.Join(studyFixtureDir, "identifiers.txt"))))
	for sc.Scan() {
		switch l := strings.TrimSpace(sc.Text()); {
		case l == "", strings.HasPrefix(l, "#"), l == "pat-eleanor-7741", l == "obs-age-1", l == "rep-1", l == "enc-1":
		default:
			out = append(out, l)
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d identifiers in the fixture", len(out))
	}
	return out
}

// identifierIn reports whether id is in text as a whole word, in any case.
func identifierIn(id, text string) bool {
	p := regexp.QuoteMeta(id)
	if regexp.MustCompile(`^\w`).MatchString(id) {
		p = `\b` + p
	}
	if regexp.MustCompile(`\w$`).MatchString(id) {
		p += `\b`
	}
	return regexp.MustCompile(`(?i)` + p).MatchString(text)
}

// researchText is every key and string of a JSON answer (one document or
// several, as ndjson), attachment data decoded, but a Bundle's links (they repeat the
// request).
func researchText(t *testing.T, raw []byte) string {
	t.Helper()
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "link" && x["resourceType"] == "Bundle" {
					continue
				}
				b.WriteString(k + "\n")
				if s, ok := e.(string); ok && k == "data" {
					d, _ := base64.StdEncoding.DecodeString(s)
					b.Write(d)
					b.WriteString("\n")
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x + "\n")
		case json.Number:
			b.WriteString(x.String() + "\n")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("a research answer is not JSON: %v: %s", err, raw)
		}
		walk(v)
	}
	return b.String()
}

// researchEverything is the researcher's $everything of patient p on m's
// node, for research.
func researchEverything(t *testing.T, m *member, token, p string) []byte {
	t.Helper()
	status, body := m.fhir(token, "GET", "/fhir/Patient/"+p+"/$everything", "", "X-Purpose-Of-Use", "research")
	if status != http.StatusOK {
		t.Fatalf("research $everything of %s on %s: HTTP %d %s", p, m.home, status, body)
	}
	return body
}

// researchExport is the researcher's bulk export ($export, FHIR Bulk Data)
// of patient p on m's node, for research: its files, concatenated.
func researchExport(t *testing.T, m *member, token, p string) []byte {
	t.Helper()
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+m.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Purpose-Of-Use", "research")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/fhir/Patient/"+p+"/$export", "Prefer", "respond-async")
	loc, err := url.Parse(resp.Header.Get("Content-Location"))
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("research $export of %s on %s: HTTP %d %v %s", p, m.home, resp.StatusCode, err, body)
	}
	resp, body = get(loc.RequestURI())
	var manifest struct {
		Output []struct{ Type, URL string }
	}
	if err := json.Unmarshal(body, &manifest); resp.StatusCode != http.StatusOK || err != nil || len(manifest.Output) == 0 {
		t.Fatalf("the export's status: HTTP %d %v %s", resp.StatusCode, err, body)
	}
	var files []byte
	for _, o := range manifest.Output {
		u, err := url.Parse(o.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp, f := get(u.RequestURI())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the export's %s file: HTTP %d %s", o.Type, resp.StatusCode, f)
		}
		files = append(files, bytes.TrimSpace(f)...)
		files = append(files, '\n')
	}
	return files
}
