package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPortalStudyFormsOnInitConsortium drives the sponsor's and the
// site's study forms over plain HTTP on a consortium made with init. The
// laboratory's admin, who sponsors nothing yet, registers a study through
// the portal (a registration without the analysis plan, or with a
// malformed endpoint, is refused with the reason and registers nothing);
// the ledger holds the SHA-256 of the uploaded protocol and the criteria;
// an amendment that changes nothing is refused, one that adds an endpoint
// is proposed and awaits the board; a dataset locked through the portal
// passes `study check-lock` with the same file. After the sponsor commits
// its randomization (CLI), the hospital's physician enrols a consenting,
// eligible patient on the site's page and is refused an ineligible one
// with the criterion that failed. A form without the CSRF token is
// refused, a visitor's upload sent to sign in; a practitioner is refused
// the sponsor's page and a registration (nothing registered), an admin the
// site's page and an enrolment.
func TestPortalStudyFormsOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	d := c.device("the patients' passphrase")
	for _, p := range []string{"f1", "f2"} {
		d.registerPatient("patient/" + p)
	}
	c.observation("patient/f1", 140)
	c.observation("patient/f2", 95)
	signIn := func(id string) (*portalClient, string) {
		t.Helper()
		cl := newPortalClient(t, "http://"+c.addr)
		_, page := cl.get("/portal/signin")
		_, page = cl.post("/portal/signin", url.Values{"principal": {id}, "passphrase": {testPassphrase}}, csrfOf(page))
		return cl, csrfOf(page)
	}
	want := func(what string, resp *http.Response, page string, status int, texts ...string) {
		t.Helper()
		for _, w := range texts {
			if resp.StatusCode != status || !strings.Contains(page, w) {
				t.Fatalf("%s: HTTP %d (want %d), lacks %q:\n%s", what, resp.StatusCode, status, w, page)
			}
		}
	}

	sponsor, csrf := signIn("lab/admin")
	resp, page := sponsor.get("/portal/studies/sponsor")
	want("the sponsor's page", resp, page, http.StatusOK, "Your organization sponsors no study yet.", "Register a study", `<option value="hosp">Hospital (hosp)</option>`)
	form := url.Values{"id": {"gl-2"}, "title": {"Glucose lowering 2"}, "ethics_board": {"hosp"}, "eligibility": {"Fasting glucose of 126 mg/dL or more"},
		"endpoints": {"primary: glucose-6m: Glucose change at 6 months\n"}, "arms": {"drug: Drug\nplacebo: Placebo"},
		"criteria": {`glucose: "2345-7" in observations && observations["2345-7"] >= 126.0`}, "categories": {"lab"}, "data_until": {"2099-01-01"}}
	protocol := map[string]string{"protocol.pdf": "the protocol, version 1"}
	resp, page = sponsor.postFiles("/portal/studies/register", form, map[string]map[string]string{"protocol": protocol}, csrf)
	want("a registration without the analysis plan", resp, page, http.StatusUnprocessableEntity, "Not done: attach the protocol document and the statistical analysis plan", `value="Glucose lowering 2"`)
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("endpoints", "glucose at 6 months")
	docs := map[string]map[string]string{"protocol": protocol, "analysis_plan": {"sap.pdf": "the plan"}}
	resp, page = sponsor.postFiles("/portal/studies/register", bad, docs, csrf)
	want("a malformed endpoint", resp, page, http.StatusUnprocessableEntity, `Not done: endpoint &#34;glucose at 6 months&#34;: want KIND:ID:DESCRIPTION`)
	if out, err := run(t, c.env, "study", "show", "gl-2", "--as", "hosp/admin", "--home", c.home); err == nil {
		t.Fatalf("a refused registration registered the study:\n%s", out)
	}
	if resp, page := sponsor.postFiles("/portal/studies/register", form, docs, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a registration without the CSRF token: HTTP %d\n%s", resp.StatusCode, page)
	}
	// A visitor is sent to sign in before the portal reads the upload.
	if resp, _ := newPortalClient(t, "http://"+c.addr).postFiles("/portal/studies/lock", url.Values{"study": {"gl-2"}}, docs, "x"); resp.Request.URL.Path != "/portal/signin" {
		t.Fatalf("a visitor's upload ended at %s (HTTP %d), want the sign-in page", resp.Request.URL.Path, resp.StatusCode)
	}
	sum := sha256.Sum256([]byte(protocol["protocol.pdf"]))
	resp, page = sponsor.postFiles("/portal/studies/register", form, docs, csrf)
	want("the registration", resp, page, http.StatusOK, fmt.Sprintf("Registered study gl-2: protocol version 1 is locked on the ledger, protocol document SHA-256 %x.", sum),
		"Glucose lowering 2 (gl-2)", "Hospital (hosp)", "version 1", "Propose an amendment of gl-2")
	shown := c.cli("study", "show", "gl-2", "--as", "hosp/admin", "--json")
	for _, w := range []string{base64.StdEncoding.EncodeToString(sum[:]), `"glucose-6m"`, `"placebo"`, `observations[\"2345-7\"] \u003e= 126.0`, `"data_categories": [`} {
		if !strings.Contains(shown, w) {
			t.Fatalf("study show lacks %q:\n%s", w, shown)
		}
	}

	amend := url.Values{"study": {"gl-2"}, "reason": {"weight matters"}, "endpoints": {"primary: glucose-6m: Glucose change at 6 months"},
		"arms": {"drug: Drug\nplacebo: Placebo"}, "eligibility": form["eligibility"], "criteria": form["criteria"], "categories": {"lab"}, "data_until": {"2099-01-01"}}
	resp, page = sponsor.postFiles("/portal/studies/amend", amend, nil, csrf)
	want("an amendment that changes nothing", resp, page, http.StatusUnprocessableEntity, "Not done: the amendment changes nothing of version 1")
	if !regexp.MustCompile(`<textarea id="study-endpoints"[^>]*></textarea>`).MatchString(page) {
		t.Fatalf("a refused amendment's fields fill the registration form:\n%s", page)
	}
	amend.Set("endpoints", "primary: glucose-6m: Glucose change at 6 months\nsecondary: weight-6m: Weight change")
	resp, page = sponsor.postFiles("/portal/studies/amend", amend, nil, csrf)
	want("the amendment", resp, page, http.StatusOK, "Proposed amendment 2 of study gl-2: it adds secondary endpoint weight-6m. It is in force once the ethics board approves it.",
		"amendment 2 awaits the ethics board")

	dataset := `{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":140}}` + "\n" +
		`{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":95}}` + "\n"
	resp, page = sponsor.postFiles("/portal/studies/lock", url.Values{"study": {"gl-2"}, "name": {"interim"}}, map[string]map[string]string{"dataset": {"interim.ndjson": dataset}}, csrf)
	want("the data lock", resp, page, http.StatusOK, "Locked dataset interim of study gl-2: 2 resources, Merkle root")
	file := filepath.Join(t.TempDir(), "interim.ndjson")
	writeFile(t, file, dataset)
	c.cli("study", "check-lock", "--study", "gl-2", "--name", "interim", "--dataset", file, "--as", "hosp/admin")
	if err := os.WriteFile(file, []byte(strings.Replace(dataset, "95", "96", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, c.env, "study", "check-lock", "--study", "gl-2", "--name", "interim", "--dataset", file, "--as", "hosp/admin", "--home", c.home); err == nil {
		t.Fatalf("check-lock of a changed dataset passed:\n%s", out)
	}

	for _, p := range []string{"f1", "f2"} {
		d.must("consent", "grant", "--study", "gl-2", "--as", "patient/"+p)
	}
	site, siteCSRF := signIn("hosp/dr-a")
	resp, page = site.get("/portal/studies/site")
	want("the site's page before the randomization", resp, page, http.StatusOK, "No study is open for enrolment")
	c.cli("study", "randomize", "--study", "gl-2", "--seed-file", filepath.Join(t.TempDir(), "gl-2.seed"), "--as", "lab/admin")
	resp, page = site.get("/portal/studies/site")
	want("the site's page", resp, page, http.StatusOK, "Glucose lowering 2 (gl-2)", "Study enrolment", `glucose: &#34;2345-7&#34; in observations`)
	resp, page = site.post("/portal/studies/enrol", url.Values{"study": {"gl-2"}, "patient": {"f2"}}, siteCSRF)
	want("an ineligible patient", resp, page, http.StatusUnprocessableEntity, "Not enrolled: patient/f2 is not eligible for study gl-2", "criterion glucose", "Nothing was put on the ledger.")
	resp, page = site.post("/portal/studies/enrol", url.Values{"study": {"gl-2"}, "patient": {"patient/f1"}}, siteCSRF)
	want("the enrolment", resp, page, http.StatusOK, "Enrolled patient/f1 in study gl-2 as subject gl-2.1: the criteria of protocol version 1 found them eligible.")
	if out := c.cli("study", "allocations", "--study", "gl-2", "--as", "hosp/admin"); !strings.Contains(out, "1 enrolments; blinded") {
		t.Fatalf("allocations after the portal's enrolment: %s", out)
	}

	if resp, _ := site.get("/portal/studies/sponsor"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a practitioner's sponsor page: HTTP %d", resp.StatusCode)
	}
	form.Set("id", "gl-3")
	if resp, _ := site.postFiles("/portal/studies/register", form, docs, siteCSRF); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a practitioner's registration: HTTP %d", resp.StatusCode)
	}
	if out, err := run(t, c.env, "study", "show", "gl-3", "--as", "hosp/admin", "--home", c.home); err == nil {
		t.Errorf("a practitioner's refused registration registered the study:\n%s", out)
	}
	if resp, _ := sponsor.post("/portal/studies/enrol", url.Values{"study": {"gl-2"}, "patient": {"f1"}}, csrf); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an admin's enrolment: HTTP %d", resp.StatusCode)
	}
	if resp, _ := sponsor.get("/portal/studies/site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an admin's site page: HTTP %d", resp.StatusCode)
	}
}
