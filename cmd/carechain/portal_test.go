package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/portal"
)

// ScreenshotsEnv names the folder the portal's browser test writes its
// screenshots to: .ci/run sets the repository's docs/screenshots; unset,
// it is carechain-portal-screenshots in the system's temporary folder, so
// a local run leaves the committed screenshots alone.
const ScreenshotsEnv = "CARECHAIN_SCREENSHOTS"

// findChromium is the Chromium (or Chrome) binary the browser tests drive.
// They run only when built with the tag browser
// (go test -tags browser ./cmd/carechain -run Chromium), which .ci/run
// does. Without a browser they skip, except in CI (CI=true), where .ci/run
// installs Debian's chromium and a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	if !browserTests {
		t.Skip("a test in Chromium: run with go test -tags browser ./cmd/carechain -run Chromium")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary in PATH: CI must install it (.ci/run: apt-get install chromium)")
	}
	t.Skip("no chromium binary in PATH: install Debian's chromium (apt-get install chromium) to run the portal's browser tests")
	return ""
}

// browser is one headless Chromium tab on a portal at base, saving a
// screenshot of each page it is asked to.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // folder of screenshots
	n    int    // screenshots taken
	axe  string // axe-core's script ("": no accessibility checks)
	// checked counts the pages axe-core checked.
	checked int
}

// skipUnderRace skips a test that only drives node subprocesses and a
// browser when the tests run under the race detector: neither is built with
// it, so the run without it covers all such a test can find.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("drives subprocesses built without the race detector: the run without -race covers it")
	}
}

// demoForBrowser starts a demo node of its own for a browser test and
// returns it, its home and its address; it skips the test with -short, and
// without Chromium (which fails in CI instead) before starting anything.
func demoForBrowser(t *testing.T) (p *process, home, addr string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a demo node subprocess and Chromium")
	}
	skipUnderRace(t)
	findChromium(t)
	home = filepath.Join(t.TempDir(), "demo")
	addr = freeAddr(t)
	p = startProcess(t, nil, "demo", "--home", home, "--http-addr", addr, "--anchor-every", "300ms")
	waitOutput(t, p, "Ctrl-C stops the node", 3*time.Minute) // the end of what demo prints
	return p, home, addr
}

func newBrowser(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	return newBrowserWithin(t, base, 90*time.Second, extra...)
}

// newBrowserWithin is newBrowser for a test whose browser steps may take
// up to limit in all.
func newBrowserWithin(t *testing.T, base string, limit time.Duration, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(findChromium(t)), chromedp.WindowSize(1200, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "carechain-portal-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &browser{t: t, ctx: ctx, base: base, shot: dir, axe: loadAxe(t)}
}

// do runs steps, failing the test with what was on the page.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage: %s", what, err, b.text())
	}
}

// fill sets the form fields named by ID to their values.
func (b *browser) fill(fields map[string]string) {
	b.t.Helper()
	js, _ := json.Marshal(fields)
	b.do("fill the form", chromedp.Evaluate[chromedp.Void](`for (const [id, v] of Object.entries(`+string(js)+`)) document.getElementById(id).value = v`))
}

// text is the page's visible text.
func (b *browser) text() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// open loads path and returns the main response.
func (b *browser) open(path string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return resp
}

// submit clicks sel and waits for the page it loads.
func (b *browser) submit(sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		b.t.Fatalf("click %s: %v\npage: %s", sel, err, b.text())
	}
}

// want fails unless the page shows every one of texts.
func (b *browser) want(texts ...string) {
	b.t.Helper()
	page := b.text()
	for _, s := range texts {
		if !strings.Contains(page, s) {
			b.t.Fatalf("the page does not show %q:\n%s", s, page)
		}
	}
}

// screenshot saves the whole page as NN-name.png, after checking its
// accessibility.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.checkAccessibility(name)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	if err := os.WriteFile(filepath.Join(b.shot, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in as id with the demo passphrase and waits for the first page.
func (b *browser) signIn(id string) {
	b.t.Helper()
	b.open("/portal/signin")
	b.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("principal"), id), chromedp.SendKeys(chromedp.ID("passphrase"), demo.Passphrase))
	b.submit("#signin")
	b.want("Sign out")
}

func (b *browser) signOut() {
	b.t.Helper()
	b.submit(".signout button")
	b.want("Passphrase")
}

// sessionCookie is the browser's portal session cookie.
func (b *browser) sessionCookie() *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "carechain_session" {
			return c
		}
	}
	b.t.Fatalf("no session cookie among %d", len(res.Cookies))
	return nil
}

// TestPortalInChromium drives the portal of a real demo node in headless
// Chromium through the first acceptance scenario of the portal: the
// patient signs in, sees their records and a chart, grants a physician;
// the physician signs in and reads the chart; the patient revokes; the
// physician is refused; the patient's access log shows both. On the way it
// checks the security headers, the session cookie (HttpOnly,
// SameSite=Strict, rotated at sign-in), that a form posted without its
// CSRF token is refused, and that no plaintext the portal showed reached
// the node's files or output. Then the four signers of the demo's X-ray
// correction approve it on the Approvals page (approveXRayCorrection), and
// a physician of another hospital breaks the glass (breakGlass). Every
// page is saved as a screenshot, after axe-core checked it for serious and
// critical accessibility violations (portalaxe_test.go).
func TestPortalInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	if out := p.output(); !strings.Contains(out, "Portal: "+base+"/") || !strings.Contains(out, "patient/demo-09") {
		t.Fatalf("carechain demo does not print the portal's URL and sign-ins first:\n%s", out)
	}
	const patient, physician, author = "patient/demo-09", "st-mary/dr-chen", "city-general/dr-meyer"
	addHeartRates(t, base, author, "demo-09")

	b := newBrowser(t, base)
	resp := b.open("/")
	if csp, _ := resp.Headers["Content-Security-Policy"].(string); csp != portal.ContentSecurityPolicy || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("Content-Security-Policy %q, want %q (no unsafe-inline)", csp, portal.ContentSecurityPolicy)
	}
	b.want("Passphrase", "use the carechain command-line tool")
	b.screenshot("signin")
	anonymous := b.sessionCookie()
	if !anonymous.HTTPOnly || anonymous.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie: HttpOnly %v, SameSite %q", anonymous.HTTPOnly, anonymous.SameSite)
	}

	// The patient: records, a chart, raw FHIR, a grant.
	b.signIn(patient)
	if c := b.sessionCookie(); c.Value == anonymous.Value {
		t.Fatal("the session ID did not change at sign-in")
	}
	b.want("My records", "Heart rate", "104 beats/minute", "high", "Reference range: 60–100 beats/minute", "Metformin", "Allergy to penicillin", "raw FHIR")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart-svg circle").length`)); err != nil || n < 3 {
		t.Fatalf("chart points: %d, %v", n, err)
	}
	b.screenshot("patient-records")
	b.do("phone width", chromedp.EmulateViewport(390, 844))
	b.screenshot("patient-records-phone")
	b.do("desktop width", chromedp.EmulateViewport(1200, 900))
	b.open("/portal/records?category=lab")
	if b.want("Glucose"); strings.Contains(b.text(), "Metformin") {
		t.Fatal("the lab filter shows a medication")
	}
	b.open("/portal/raw/demo-09-metformin")
	b.want(`"resourceType": "MedicationRequest"`)
	b.screenshot("raw-fhir")

	b.open("/portal/sharing")
	fillGrant := chromedp.Steps(chromedp.SetValue(chromedp.ID("grantee"), "principal:"+physician),
		chromedp.Click(chromedp.CSS(`input[name=category][value="vital-signs"]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value="lab"]`)))
	b.do("fill the grant form", fillGrant)
	b.submit("#grant")
	b.want("Access granted", "Dr. Mei Chen", "active")
	b.screenshot("sharing-granted")

	// A form without its CSRF token is refused.
	b.do("fill the grant form without its token", fillGrant,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#grant").form.querySelector("input[name=csrf]").remove()`))
	b.submit("#grant")
	b.want("security token is missing")
	b.screenshot("csrf-refused")
	b.signOut()

	// The physician reads the chart.
	b.signIn(physician)
	b.do("search by name", chromedp.SendKeys(chromedp.ID("q"), "Liam"))
	b.submit(`form[role=search] button`)
	b.want("patient/demo-10", "Liam O'Connor")
	b.do("search by identifier", chromedp.SetValue(chromedp.ID("q"), "demo-09"))
	b.submit(`form[role=search] button`)
	b.want(patient, "shares records with you")
	b.screenshot("clinician-patients")
	b.submit(`a[href="/portal/patients/demo-09"]`)
	b.want("Chart of "+patient, "Heart rate", "Glucose")
	b.screenshot("clinician-chart")
	b.signOut()

	// The patient revokes; the physician is refused.
	b.signIn(patient)
	b.open("/portal/sharing")
	b.submit(`form[action="/portal/sharing/revoke"] button`)
	b.want("Access revoked", "revoked ")
	b.screenshot("sharing-revoked")
	b.signOut()
	b.signIn(physician)
	if resp := b.open("/portal/patients/demo-09"); resp.Status != http.StatusForbidden {
		t.Fatalf("the physician's chart after the revocation: HTTP %d", resp.Status)
	}
	b.want("Access refused")
	b.screenshot("clinician-refused")
	b.signOut()

	// The patient sees both in the access log.
	b.signIn(patient)
	seeBothInLog(t, b, physician)
	b.screenshot("access-log")
	b.signOut()
	approveXRayCorrection(t, b)
	verifiedHistory(t, b)
	rejectCorrection(t, b, base)
	breakGlass(t, b)
	if b.axe != "" {
		t.Logf("axe-core found no serious or critical violation on %d pages", b.checked)
	}
	noPlaintext(t, home, p.output(), "Aisha", "Metformin", "beats/minute")
}

// addHeartRates writes two more heart rates of patient (one over its
// reference range) through the FHIR API as author, so the chart has a
// line.
func addHeartRates(t *testing.T, base, author, patient string) {
	t.Helper()
	token := demoToken(t, base, author)
	for i, v := range []int{72, 104} {
		body := fmt.Sprintf(`{"resourceType":"Observation","status":"final",
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
			"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/%s"},
			"effectiveDateTime":"2026-11-%02dT09:00:00Z","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},
			"referenceRange":[{"low":{"value":60,"unit":"beats/minute"},"high":{"value":100,"unit":"beats/minute"}}]}`, patient, 15+10*i, v)
		if code := fhirStatus(t, http.MethodPost, base+"/fhir/Observation", token, body); code != http.StatusCreated {
			t.Fatalf("POST Observation: HTTP %d", code)
		}
	}
}

// demoToken signs in to the FHIR API as demo principal who and returns
// the access token.
func demoToken(t *testing.T, base, who string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/auth/login", url.Values{"principal": {who}, "passphrase": {demo.Passphrase}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("login %s: HTTP %d, %v", who, resp.StatusCode, err)
	}
	return tok.AccessToken
}

// seeBothInLog reloads the patient's access log filtered to physician
// until it shows an allowed and a denied access (events appear once the
// node anchored them).
func seeBothInLog(t *testing.T, b *browser, physician string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/portal/log?person=" + url.QueryEscape(physician))
		allowed, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.log tr.allowed").length`))
		denied, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.log tr.denied").length`))
		if allowed > 0 && denied > 0 {
			b.want("Dr. Mei Chen", "allowed", "denied")
			tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02")
			b.open("/portal/log?person=" + url.QueryEscape(physician) + "&from=" + tomorrow)
			if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.log tbody tr").length`)); err != nil || n != 0 {
				t.Fatalf("the log from tomorrow on shows %d entries (%v)", n, err)
			}
			b.open("/portal/log?person=" + url.QueryEscape(physician))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log shows %d allowed and %d denied accesses of %s:\n%s", allowed, denied, physician, b.text())
		}
		time.Sleep(300 * time.Millisecond) // the log is on the ledger: nothing to wait on from here
	}
}

// noPlaintext fails if any of words (health data the portal showed) is in
// a file of the node's home or in its output.
func noPlaintext(t *testing.T, home, output string, words ...string) {
	t.Helper()
	for _, w := range words {
		if strings.Contains(output, w) {
			t.Errorf("the node's output contains %q", w)
		}
	}
	err := filepath.WalkDir(home, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, w := range words {
			if strings.Contains(string(b), w) {
				t.Errorf("%s contains %q", path, w)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
