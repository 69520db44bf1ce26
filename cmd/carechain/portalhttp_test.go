package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/portal"
)

// TestPortalOnInitConsortium runs the portal of a node of a consortium made
// with init (not the demo), over plain HTTP: the security headers and
// cookie flags, a form without its CSRF token refused, a wrong passphrase
// answered with the CLI hint, a custodial patient (keys under their own
// passphrase) signed in with a new session ID, their records, and sign-out
// taking their keys out of the node's memory again (the FHIR API can no
// longer open their access log).
func TestPortalOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	base := "http://" + addr
	nodeEnv, patientEnv := passEnv(testPassphrase), passEnv("the patient's own passphrase")
	keys := []string{"--home", home}
	mustRun(t, nodeEnv, "init", "--home", home, "--chain-id", "portal", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	mustRun(t, patientEnv, append([]string{"keys", "new", "patient.p7", "--kind", "patient"}, keys...)...)
	p := startProcess(t, nodeEnv, "start", "--home", home, "--anchor-every", "100ms")
	waitHealthy(t, p, addr, time.Minute)
	pub := func(env []string, name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, env, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	mustRun(t, nodeEnv, append([]string{"tx", "register", "--as", "hosp/admin", "--kind", "patient", "--id", "patient/p7",
		"--pubkey", pub(patientEnv, "patient.p7"), "--encryption-key", pub(patientEnv, "patient.p7", "--encryption")}, keys...)...)
	mustRun(t, nodeEnv, append([]string{"keys", "new", "hosp.dr-a"}, keys...)...)
	mustRun(t, nodeEnv, append([]string{"tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-a", "--role", "physician",
		"--pubkey", pub(nodeEnv, "hosp.dr-a")}, keys...)...)
	doctor := strings.TrimSpace(mustRun(t, nodeEnv, append([]string{"token", "--as", "hosp/dr-a"}, keys...)...))
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},
 "subject":{"reference":"Patient/p7"},"effectiveDateTime":"2026-11-02","valueQuantity":{"value":97,"unit":"mg/dL"}}`
	if code := fhirStatus(t, "POST", base+"/fhir/Observation", doctor, obs); code != http.StatusCreated {
		t.Fatalf("POST Observation: HTTP %d", code)
	}
	patientToken := strings.TrimSpace(mustRun(t, patientEnv, append([]string{"token", "--as", "patient/p7"}, keys...)...))
	patientKeysHeld := func() bool {
		return fhirStatus(t, "GET", base+"/fhir/AuditEvent?patient=Patient/p7", patientToken, "") == http.StatusOK
	}
	if patientKeysHeld() {
		t.Fatal("the node opened the patient's log before the patient signed in")
	}

	c := newPortalClient(t, base)
	resp, page := c.get("/")
	for h, want := range map[string]string{"Content-Security-Policy": portal.ContentSecurityPolicy, "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	anonymous := c.cookie()
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(resp.Header.Get("Set-Cookie"), "SameSite=Strict") {
		t.Fatalf("session cookie: %q", resp.Header.Get("Set-Cookie"))
	}
	form := url.Values{"principal": {"patient/p7"}, "passphrase": {"the patient's own passphrase"}}
	if resp, page := c.post("/portal/signin", form, ""); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "security token") {
		t.Fatalf("sign-in without the CSRF token: HTTP %d\n%s", resp.StatusCode, page)
	}
	wrong := url.Values{"principal": {"patient/p7"}, "passphrase": {testPassphrase}}
	if resp, page := c.post("/portal/signin", wrong, csrfOf(page)); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "use the carechain CLI") {
		t.Fatalf("sign-in with the node's passphrase: HTTP %d\n%s", resp.StatusCode, page)
	}
	resp, page = c.post("/portal/signin", form, csrfOf(page))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/portal/records" || !strings.Contains(page, "97 mg/dL") {
		t.Fatalf("the patient's records after sign-in: HTTP %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	if c.cookie() == anonymous {
		t.Fatal("the session ID did not change at sign-in")
	}
	if !patientKeysHeld() {
		t.Fatal("the patient's sign-in did not unlock their keys")
	}
	if resp, _ := c.post("/portal/signout", nil, csrfOf(page)); resp.Request.URL.Path != "/portal/signin" {
		t.Fatalf("sign-out ends at %s", resp.Request.URL)
	}
	if patientKeysHeld() {
		t.Fatal("the patient's keys stay in memory after sign-out")
	}
	if resp, _ := c.get("/portal/records"); resp.Request.URL.Path != "/portal/signin" {
		t.Fatalf("records after sign-out: %s", resp.Request.URL)
	}
	p.interrupt(t)
}

// portalClient is a browser-like HTTP client: it keeps cookies and follows
// redirects.
type portalClient struct {
	t    *testing.T
	base *url.URL
	http *http.Client
}

func newPortalClient(t *testing.T, base string) *portalClient {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	return &portalClient{t: t, base: u, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *portalClient) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.base.String() + path)
	return c.read(resp, err)
}

// post posts form with csrf (none if empty).
func (c *portalClient) post(path string, form url.Values, csrf string) (*http.Response, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if csrf != "" {
		form.Set("csrf", csrf)
	}
	resp, err := c.http.PostForm(c.base.String()+path, form)
	return c.read(resp, err)
}

func (c *portalClient) read(resp *http.Response, err error) (*http.Response, string) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, string(b)
}

// cookie is the session cookie's value.
func (c *portalClient) cookie() string {
	for _, k := range c.http.Jar.Cookies(c.base) {
		if k.Name == "carechain_session" {
			return k.Value
		}
	}
	return ""
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token of a page's forms.
func csrfOf(page string) string {
	if m := csrfField.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// fhirStatus is the status of a FHIR request with a bearer token.
func fhirStatus(t *testing.T, method, u, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// postFiles posts form with csrf as multipart/form-data, with files: each
// field's files by name to content.
func (c *portalClient) postFiles(path string, form url.Values, files map[string]map[string]string, csrf string) (*http.Response, string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf) // first, as a browser sends a form's hidden token field
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for field, byName := range files {
		for name, content := range byName {
			fw, err := mw.CreateFormFile(field, name)
			if err != nil {
				c.t.Fatal(err)
			}
			io.WriteString(fw, content)
		}
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.http.Post(c.base.String()+path, mw.FormDataContentType(), &body)
	return c.read(resp, err)
}
