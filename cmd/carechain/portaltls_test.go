package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/node"
)

// spkiPin is the base64 SHA-256 of the public key of the certificate in
// file: what Chromium's --ignore-certificate-errors-spki-list trusts, and
// nothing else (the browser has no way to take the test's CA).
func spkiPin(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: no PEM", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestPortalOverTLSInChromium: on a node made by init --tls, a patient
// signs in to the portal in Chromium over https (the node's certificate
// pinned), sees their record, and the session cookie is __Host-,
// Secure, HttpOnly and SameSite=Strict; sign-out ends it. Plain http is
// not served.
func TestPortalOverTLSInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess and Chromium")
	}
	skipUnderRace(t)
	findChromium(t)
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env, penv := passEnv(testPassphrase), passEnv("the patient's own passphrase")
	mustRun(t, env, "init", "--home", home, "--chain-id", "portal-tls", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr, "--tls")
	keys := []string{"--home", home}
	mustRun(t, penv, append([]string{"keys", "new", "patient.p7", "--kind", "patient"}, keys...)...)
	mustRun(t, env, append([]string{"keys", "new", "hosp.dr-a"}, keys...)...)
	p := startProcess(t, env, "start", "--home", home)
	waitOutput(t, p, "serving https://"+addr, time.Minute)
	hc := trustingOnly(t, filepath.Join(node.Home(home).TLSDir(), node.CAFile))
	waitHealthyOver(t, p, hc, "https://"+addr, time.Minute)
	pub := func(e []string, name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, e, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	mustRun(t, env, append([]string{"tx", "register", "--as", "hosp/admin", "--kind", "patient", "--id", "patient/p7",
		"--pubkey", pub(penv, "patient.p7"), "--encryption-key", pub(penv, "patient.p7", "--encryption")}, keys...)...)
	mustRun(t, env, append([]string{"tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--pubkey", pub(env, "hosp.dr-a")}, keys...)...)
	doctor := strings.TrimSpace(mustRun(t, env, append([]string{"token", "--as", "hosp/dr-a"}, keys...)...))
	req, _ := http.NewRequest("POST", "https://"+addr+"/fhir/Observation", strings.NewReader(`{"resourceType":"Observation","status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p7"},
	  "effectiveDateTime":"2026-11-02","valueQuantity":{"value":97,"unit":"mg/dL"}}`))
	req.Header.Set("Authorization", "Bearer "+doctor)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST Observation over TLS: %v %v", resp, err)
	}
	resp.Body.Close()

	base := "https://" + addr
	b := newBrowser(t, base, chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, filepath.Join(node.Home(home).TLSDir(), node.TLSCertFile))))
	b.open("/portal/signin")
	b.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("principal"), "patient/p7"), chromedp.SendKeys(chromedp.ID("passphrase"), "the patient's own passphrase"))
	b.submit("#signin")
	b.want("Sign out", "97 mg/dL")
	b.screenshot("tls-patient-records")
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "carechain_session") {
			session = c
		}
	}
	if session == nil || session.Name != "__Host-carechain_session" || !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("the session cookie over TLS: %+v", session)
	}
	b.submit(".signout button")
	b.want("Passphrase")
	b.open("/portal/records")
	b.want("Passphrase") // signed out: back to the sign-in page
	if resp, err := http.Get("http://" + addr + "/portal/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http to the portal of a TLS node: HTTP %d, want 400", resp.StatusCode)
		}
	}
}
