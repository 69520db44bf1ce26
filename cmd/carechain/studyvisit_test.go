package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/study"
)

// TestStudyVisitCaptureLockAmend: on a consortium made by init, the lab
// sponsors a study under the hospital's ethics board, and the hospital's
// physician enrols two patients. The site captures a subject's visit data
// through the CLI (tagged with the study, the subject and the visit, inside
// the sealed resource), a FHIR client likewise with the extensions; a
// resource about another patient, an unknown subject, a practitioner of
// another organization and a withdrawn subject are refused. The site locks
// the visit: only the visit's tagged records are locked, once, and the
// study's visits list it. Then a FHIR PUT or DELETE of a locked record is
// a 409 OperationOutcome naming the visit, nothing written; a correction
// proposed with a reason commits only once the sponsor's admin and the
// ethics board's admin both approved; the new version is locked again and
// the old one stays readable.
func TestStudyVisitCaptureLockAmend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	d := c.device("the patients' passphrase")
	for _, p := range []string{"v1", "v2"} {
		d.registerPatient("patient/" + p)
	}
	untagged := c.observation("patient/v1", 141)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "protocol.txt"), "protocol v1")
	writeFile(t, filepath.Join(dir, "sap.txt"), "analysis plan v1")
	c.cli("study", "register", "--as", "lab/admin", "--id", "vs-1", "--title", "Visits", "--ethics-board", "hosp",
		"--protocol", filepath.Join(dir, "protocol.txt"), "--analysis-plan", filepath.Join(dir, "sap.txt"),
		"--eligibility", "Anyone", "--criterion", `any:true`, "--data-category", "lab", "--data-until", "2099-01-01",
		"--endpoint", "primary:glucose-6m:Glucose change at 6 months", "--arm", "drug:Drug", "--arm", "placebo:Placebo")
	d.must("consent", "grant", "--study", "vs-1", "--as", "patient/v1")
	d.must("consent", "grant", "--study", "vs-1", "--as", "patient/v2")
	c.cli("study", "randomize", "--study", "vs-1", "--seed-file", filepath.Join(dir, "vs-1.seed"), "--as", "lab/admin")
	c.cli("study", "enrol", "--study", "vs-1", "--patient", "patient/v1", "--as", "hosp/dr-a")
	c.cli("study", "enrol", "--study", "vs-1", "--patient", "patient/v2", "--as", "hosp/dr-a")

	refused := func(want string, args ...string) {
		t.Helper()
		if out, err := run(t, c.env, append(args, "--home", c.home)...); err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	obs := func(name, patient string, value int64) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, c.observationJSON(patient, value))
		return path
	}
	capture := func(subject, file, as string) []string {
		return []string{"study", "capture", "--study", "vs-1", "--subject", subject, "--visit", "baseline", "--file", file, "--as", as}
	}
	created := regexp.MustCompile(`captured Observation/(\S+) for subject vs-1\.1, visit baseline`)
	var ids []string
	for _, v := range []int64{130, 128} {
		out := c.cli(capture("1", obs("obs.json", "patient/v1", v), "hosp/dr-a")...)
		m := created.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("study capture: %s", out)
		}
		ids = append(ids, m[1])
	}
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"resourceType":"Observation","code":{"text":"glucose"},"subject":{"reference":"Patient/v1"}}`)
	refused("Observation.status", capture("1", bad, "hosp/dr-a")...)
	refused("not subject vs-1.1's patient: nothing was written", capture("1", obs("other.json", "patient/v2", 99), "hosp/dr-a")...)
	refused("study vs-1 has no subject vs-1.9 that your organization enrolled", capture("9", obs("obs.json", "patient/v1", 1), "hosp/dr-a")...)
	refused("study vs-1 has no subject vs-1.1 that your organization enrolled", capture("1", obs("obs.json", "patient/v1", 1), "lab/dr-b")...)
	subjectAnswers(t, c, d, "patient/v1", "the patients' passphrase")
	// A FHIR client captures with the extensions: here, visit week-4.
	physician := c.token("hosp/dr-a")
	week4, err := study.Tag([]byte(c.observationJSON("patient/v1", 120)), study.Capture{Study: "vs-1", Subject: 1, Visit: "week-4"})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := c.fhir(physician, "POST", "/fhir/Observation", string(week4)); status != http.StatusCreated {
		t.Fatalf("FHIR capture: HTTP %d %s", status, body)
	}
	fhirCapture := func(patient string, subject uint64, want string) {
		t.Helper()
		res := must(study.Tag([]byte(c.observationJSON(patient, 99)), study.Capture{Study: "vs-1", Subject: subject, Visit: "week-4"}))
		if status, body := c.fhir(physician, "POST", "/fhir/Observation", string(res)); status/100 != 4 || !strings.Contains(string(body), want) {
			t.Fatalf("FHIR capture of subject %d about %s: HTTP %d %s", subject, patient, status, body)
		}
	}
	fhirCapture("patient/v1", 2, "case report data of subject vs-1.2 are about its patient, not patient/v1")
	fhirCapture("patient/v1", 7, "study vs-1 has no subject vs-1.7")

	lockVisit := func(visit string) []string {
		return []string{"study", "lock-visit", "--study", "vs-1", "--subject", "1", "--visit", visit, "--as", "hosp/dr-a"}
	}
	out := c.cli(lockVisit("baseline")...)
	if !strings.Contains(out, "locked visit baseline of subject vs-1.1 at height") || !strings.Contains(out, "2 records") ||
		!strings.Contains(out, ids[0]+" v1") || !strings.Contains(out, ids[1]+" v1") || strings.Contains(out, untagged) {
		t.Fatalf("lock-visit baseline locks its two tagged records only: %s", out)
	}
	if out := c.cli(lockVisit("week-4")...); !strings.Contains(out, "locked visit week-4 of subject vs-1.1") || !strings.Contains(out, "1 records") {
		t.Fatalf("lock-visit week-4: %s", out)
	}
	refused("visit baseline of subject vs-1.1 is locked already", lockVisit("baseline")...)
	refused("study vs-1 has no subject vs-1.1 that your organization enrolled", "study", "lock-visit", "--study", "vs-1", "--subject", "1", "--visit", "week-8", "--as", "lab/dr-b")
	visits := c.cli("study", "visits", "--study", "vs-1", "--as", "lab/admin")
	if !strings.Contains(visits, "study vs-1: 2 locked visits") || !regexp.MustCompile(`vs-1\.1\s+baseline\s+\S+ v1, \S+ v1\s+hosp/dr-a`).MatchString(visits) {
		t.Fatalf("study visits: %s", visits)
	}

	// The sponsor locks the dataset of the locked visits; the ethics board checks it.
	if out := c.cli("study", "lock", "--study", "vs-1", "--name", "visits", "--visits", "--as", "lab/admin"); !strings.Contains(out, "locked dataset visits of study vs-1: 2 locked visits, 3 records") {
		t.Fatalf("study lock --visits: %s", out)
	}
	if out := c.cli("study", "check-lock", "--study", "vs-1", "--name", "visits", "--visits", "--as", "hosp/admin"); !strings.Contains(out, "the dataset matches lock 1 (visits) of study vs-1") {
		t.Fatalf("study check-lock --visits: %s", out)
	}

	// After the lock: a direct change is refused, naming the visit.
	locked := ids[0]
	changed := strings.Replace(string(must(study.Tag([]byte(c.observationJSON("patient/v1", 131)), study.Capture{Study: "vs-1", Subject: 1, Visit: "baseline"}))),
		`"resourceType":"Observation"`, `"resourceType":"Observation","id":"`+locked+`"`, 1)
	for _, method := range []string{"PUT", "DELETE"} {
		body := changed
		if method == "DELETE" {
			body = ""
		}
		status, answer := c.fhir(physician, method, "/fhir/Observation/"+locked, body)
		if status != http.StatusConflict || !strings.Contains(string(answer), `"resourceType": "OperationOutcome"`) ||
			!strings.Contains(string(answer), "is in visit baseline of subject vs-1.1 of study vs-1") || !strings.Contains(string(answer), "propose an amendment") {
			t.Fatalf("%s of a locked record: HTTP %d %s", method, status, answer)
		}
	}
	version := func(want string) {
		t.Helper()
		status, body := c.fhir(physician, "GET", "/fhir/Observation/"+locked, "")
		if status != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: want %s: HTTP %d %s", locked, want, status, body)
		}
	}
	version(`"versionId": "1"`)

	// A correction: proposed with its reason, committed by both approvers.
	writeFile(t, filepath.Join(dir, "corrected.json"), changed)
	out = c.cli("amend", "propose", locked, "--file", filepath.Join(dir, "corrected.json"), "--reason", "transcription error", "--as", "hosp/dr-a")
	m := regexp.MustCompile(`proposed (am-[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("amend propose: %s", out)
	}
	refused("fills no open term", "amend", "approve", m[1], "--as", "hosp/dr-a")
	c.cli("amend", "approve", m[1], "--as", "hosp/admin")
	version(`"versionId": "1"`)
	c.cli("amend", "approve", m[1], "--as", "lab/admin")
	version(`"versionId": "2"`)
	version(`"value": 131`)
	if status, body := c.fhir(physician, "GET", "/fhir/Observation/"+locked+"/_history/1", ""); status != http.StatusOK || !strings.Contains(string(body), `"value": 130`) {
		t.Fatalf("the old version stays: HTTP %d %s", status, body)
	}
	if status, body := c.fhir(physician, "PUT", "/fhir/Observation/"+locked, changed); status != http.StatusConflict {
		t.Fatalf("the amended version is locked too: HTTP %d %s", status, body)
	}

	// A subject who withdrew gets no new data.
	d.must("study", "withdraw", "--study", "vs-1", "--as", "patient/v2")
	refused("subject vs-1.2 withdrew from study vs-1", "study", "capture", "--study", "vs-1", "--subject", "2", "--visit", "baseline",
		"--file", obs("v2.json", "patient/v2", 101), "--as", "hosp/dr-a")
	fhirCapture("patient/v2", 2, "subject vs-1.2 withdrew from study vs-1")
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// subjectAnswers checks GET /v1/studies/vs-1/subjects/1 beyond the site's
// practitioners: subject 1's own patient is answered as if it were absent
// (the pseudonym hides the patient, whoever asks), an anonymous caller is
// asked to authenticate.
func subjectAnswers(t *testing.T, c *consortium, d *patientDevice, patient, passphrase string) {
	t.Helper()
	ks, err := keystore.Open(d.dir, keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Unlock(strings.ReplaceAll(patient, "/", "."), []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sub, err := nodeapi.NewClient(c.addr).As(patient, k).StudySubject(ctx, "vs-1", 1); err == nil ||
		!strings.Contains(err.Error(), "study vs-1 has no subject vs-1.1 that your organization enrolled") {
		t.Fatalf("%s's own subject: %+v %v", patient, sub, err)
	}
	var se *nodeapi.StatusError
	if sub, err := nodeapi.NewClient(c.addr).StudySubject(ctx, "vs-1", 1); !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous: %+v %v", sub, err)
	}
}
