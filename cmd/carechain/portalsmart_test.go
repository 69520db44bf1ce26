package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/portal"
)

// testApp is a SMART app's redirect URI: a server on 127.0.0.1 that hands
// each query it receives at /callback to the test.
type testApp struct {
	redirect string
	got      chan url.Values
}

func startTestApp(t *testing.T) *testApp {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &testApp{redirect: "http://" + l.Addr().String() + "/callback", got: make(chan url.Values, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		a.got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html lang="en"><title>Test app</title><main><h1>Test app: back from carechain</h1></main></html>`))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return a
}

// callback is the next query the app received.
func (a *testApp) callback(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-a.got:
		return q
	case <-time.After(time.Minute):
		t.Fatal("the app's redirect URI was never called")
		return nil
	}
}

// pkce is a new PKCE code verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))[:64]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestSmartAppLaunchInChromium: St Mary's admin registers an App Launch
// app through the CLI; the app finds the authorization endpoint in the
// SMART configuration and sends a browser to it; the demo patient signs
// in on the portal, unticks one of the requested scopes on the consent
// screen and approves; the app trades the code with its PKCE verifier and
// gets a token without the unticked scope, which reads the patient's
// Observations and is refused (403) on the Patient it was not given; the
// patient's access log shows the reads through the app. The
// code works once: a second use is refused and ends the token. Denying
// sends access_denied back with the state; a request for an unknown app or
// an unregistered redirect URI is answered with a page, never a redirect,
// and a plain PKCE challenge is refused back to the app.
func TestSmartAppLaunchInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo node subprocess and Chromium")
	}
	findChromium(t)
	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)
	p := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr, "--anchor-every", "300ms")
	waitOutput(t, p, "Ctrl-C stops the node", 3*time.Minute)
	base := "http://" + addr
	app := startTestApp(t)
	const id = "st-mary/diary"
	const requested = "launch/patient patient/Observation.rs patient/Patient.rs"
	mustRun(t, passEnv(demo.Passphrase), "client", "register", "--as", "st-mary/admin", "--id", id, "--app",
		"--redirect-uri", app.redirect, "--scope", requested+" patient/Condition.rs", "--home", home, "--node", addr)
	var at nodeapi.ClientAt
	if err := json.Unmarshal([]byte(mustRun(t, nil, "client", "show", id, "--node", addr)), &at); err != nil || len(at.RedirectURIs) != 1 || at.RedirectURIs[0] != app.redirect || at.ActsFor != "" {
		t.Fatalf("client show: %+v %v", at, err)
	}

	var conf struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if status := getJSON(t, base+"/fhir/.well-known/smart-configuration", &conf); status != http.StatusOK || conf.Authorize != base+"/auth/authorize" || conf.Token != base+"/auth/token" {
		t.Fatalf("smart-configuration: %+v", conf)
	}
	verifier, challenge := pkce()
	authorize := func(edit func(url.Values)) string {
		q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {app.redirect}, "scope": {requested},
			"state": {"st-" + rand.Text()}, "aud": {base + "/fhir"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if edit != nil {
			edit(q)
		}
		return conf.Authorize + "?" + q.Encode()
	}
	refusedWithoutRedirect(t, authorize(func(q url.Values) { q.Set("client_id", "st-mary/nobody") }), "no app")
	refusedWithoutRedirect(t, authorize(func(q url.Values) { q.Set("redirect_uri", app.redirect+"x") }), "is not one the app")
	refusedToApp(t, authorize(func(q url.Values) { q.Set("code_challenge_method", "plain"); q.Set("state", "plain-1") }), app.redirect,
		"invalid_request", "plain-1")

	b := newBrowser(t, base)
	approveURL := authorize(func(q url.Values) { q.Set("state", "approve-1") })
	b.do("open the app's authorization request", chromedp.Navigate(approveURL))
	b.want("Passphrase")
	b.do("sign in", chromedp.SendKeys(chromedp.ID("principal"), "patient/demo-09"), chromedp.SendKeys(chromedp.ID("passphrase"), demo.Passphrase))
	b.submit("#signin")
	b.want("Allow "+id, "Read and search your Observation records", "Read and search your Patient records", "Know which patient you are")
	b.screenshot("app-consent")
	b.do("untick Patient", chromedp.Click(chromedp.CSS(`input[name=grant][value="patient/Patient.rs"]`)))
	b.submit("#approve")
	b.want("Test app: back from carechain")
	q := app.callback(t)
	if q.Get("state") != "approve-1" || q.Get("code") == "" {
		t.Fatalf("the app got %v", q)
	}
	tok := exchangeCode(t, conf.Token, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {app.redirect},
		"client_id": {id}, "code_verifier": {verifier}})
	if tok.Status != http.StatusOK || tok.Scope != "launch/patient patient/Observation.rs" || tok.Patient != "demo-09" || tok.TokenType != "Bearer" {
		t.Fatalf("token: %+v", tok)
	}
	var bundle struct {
		Total int `json:"total"`
	}
	if status := getWith(t, base+"/fhir/Observation?patient="+tok.Patient, tok.AccessToken, &bundle); status != http.StatusOK || bundle.Total == 0 {
		t.Fatalf("the patient's Observations through the app: HTTP %d, %d", status, bundle.Total)
	}
	if status := getWith(t, base+"/fhir/Patient/"+tok.Patient, tok.AccessToken, nil); status != http.StatusForbidden {
		t.Fatalf("the unticked Patient scope: HTTP %d, want 403", status)
	}
	seeAppInLog(t, b, id)
	again := exchangeCode(t, conf.Token, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {app.redirect},
		"client_id": {id}, "code_verifier": {verifier}})
	if again.Status != http.StatusBadRequest || again.Error != "invalid_grant" {
		t.Fatalf("the code a second time: %+v", again)
	}
	if status := getWith(t, base+"/fhir/Observation?patient="+tok.Patient, tok.AccessToken, nil); status != http.StatusUnauthorized {
		t.Fatalf("the token of a reused code: HTTP %d, want 401", status)
	}

	formOnly(t, base, app, authorize, verifier)

	// Signed in already: straight to the consent screen; deny.
	b.do("open another request", chromedp.Navigate(authorize(func(q url.Values) { q.Set("state", "deny-1") })))
	b.want("Allow " + id)
	b.submit("#deny")
	if q := app.callback(t); q.Get("error") != "access_denied" || q.Get("state") != "deny-1" || q.Get("code") != "" {
		t.Fatalf("denied: the app got %v", q)
	}
}

// seeAppInLog reloads the patient's access log until it shows a read
// through the app (events appear once the node anchored them).
func seeAppInLog(t *testing.T, b *browser, app string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/portal/log")
		if strings.Contains(b.text(), "through the app "+app) {
			b.screenshot("app-in-access-log")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log shows no read through %s:\n%s", app, b.text())
		}
		time.Sleep(300 * time.Millisecond) // the log is on the ledger: nothing to wait on from here
	}
}

// formOnly drives the launch without a browser: sign-in does not follow
// a next that is not the authorization endpoint, a consent form posted
// with a scope the app did not request (registered, though) or without its
// CSRF token gets it no such scope, and one allowing nothing is a denial.
func formOnly(t *testing.T, base string, app *testApp, authorize func(func(url.Values)) string, verifier string) {
	t.Helper()
	c := newPortalClient(t, base)
	_, page := c.get("/portal/signin?next=" + url.QueryEscape("https://evil.example/"))
	if strings.Contains(page, `name="next"`) {
		t.Fatal("the sign-in form carries an off-site next")
	}
	form := url.Values{"principal": {"patient/demo-09"}, "passphrase": {demo.Passphrase}, "next": {"//evil.example/x"}}
	if resp, _ := c.post("/portal/signin", form, csrfOf(page)); resp.Request.URL.String() != base+"/portal/records" {
		t.Fatalf("sign-in with an off-site next ends at %s", resp.Request.URL)
	}
	u, _ := url.Parse(authorize(func(q url.Values) { q.Set("state", "form-1") }))
	resp, page := c.get(u.Path + "?" + u.RawQuery)
	appOrigin := strings.TrimSuffix(app.redirect, "/callback")
	if csp := resp.Header.Get("Content-Security-Policy"); csp != strings.Replace(portal.ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+appOrigin, 1) {
		t.Fatalf("the consent screen's Content-Security-Policy: %q", csp)
	}
	post := u.Query()
	post.Set("decision", "approve")
	post["grant"] = []string{"patient/Observation.rs", "patient/Condition.rs"}
	if resp, page := c.post("/auth/authorize", post, ""); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "security token") {
		t.Fatalf("consent without its CSRF token: HTTP %d", resp.StatusCode)
	}
	c.post("/auth/authorize", post, csrfOf(page))
	q := app.callback(t)
	tok := exchangeCode(t, base+"/auth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {app.redirect},
		"client_id": {u.Query().Get("client_id")}, "code_verifier": {verifier}})
	if q.Get("state") != "form-1" || tok.Status != http.StatusOK || tok.Scope != "patient/Observation.rs" {
		t.Fatalf("a posted scope the app did not request: callback %v, token %+v", q, tok)
	}
	delete(post, "grant") // allowing nothing is a denial
	post.Set("state", "form-2")
	c.post("/auth/authorize", post, csrfOf(page))
	if q := app.callback(t); q.Get("error") != "access_denied" || q.Get("state") != "form-2" || q.Get("code") != "" {
		t.Fatalf("allowing nothing: the app got %v", q)
	}
}

// noRedirects is an HTTP client that shows redirects instead of following
// them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func refusedWithoutRedirect(t *testing.T, u, says string) {
	t.Helper()
	resp, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 1<<16)
	n, _ := resp.Body.Read(buf)
	body.Write(buf[:n])
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body.String(), says) {
		t.Fatalf("%s: HTTP %d, Location %q, want 400 saying %q", u, resp.StatusCode, resp.Header.Get("Location"), says)
	}
}

func refusedToApp(t *testing.T, u, redirect, code, state string) {
	t.Helper()
	resp, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), redirect+"?") ||
		loc.Query().Get("error") != code || loc.Query().Get("state") != state {
		t.Fatalf("%s: HTTP %d to %q, want %s with state %s", u, resp.StatusCode, loc, code, state)
	}
}

type appToken struct {
	Status      int    `json:"-"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient"`
	Error       string `json:"error"`
}

func exchangeCode(t *testing.T, tokenURL string, form url.Values) appToken {
	t.Helper()
	resp, err := http.PostForm(tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tok := appToken{Status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(&tok)
	return tok
}

// getWith GETs u with bearer token tok ("": none), decoding the body into
// v (nil: not read), and returns the status.
func getWith(t *testing.T, u, tok string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}
