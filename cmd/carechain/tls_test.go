package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// TestTLSEndToEnd: a node made with init --tls serves https only, with
// certificates from the CA init made. The CLI finds the CA through --home
// (or --ca), a FHIR client that trusts only that CA gets a token and writes
// a record, plain HTTP is refused, and SIGHUP after tls renew serves a new
// certificate to new connections without dropping the open ones.
func TestTLSEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	out := mustRun(t, env, "init", "--home", home, "--chain-id", "tls-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr, "--tls")
	ca := filepath.Join(home, "tls", "ca.pem")
	if !strings.Contains(out, ca) {
		t.Fatalf("init --tls does not name the CA to trust:\n%s", out)
	}
	keys := []string{"--home", home}
	mustRun(t, env, append([]string{"keys", "new", "hosp.dr-a"}, keys...)...)
	mustRun(t, env, append([]string{"keys", "new", "patient.k7q2m9", "--kind", "patient"}, keys...)...)
	p := startProcess(t, env, "start", "--home", home)
	waitOutput(t, p, "serving https://"+addr, time.Minute)
	hc := trustingOnly(t, ca)
	waitHealthyOver(t, p, hc, "https://"+addr, time.Minute)

	// The CLI: the home's CA, or --ca with an https --node; no CA, no trust.
	if out := mustRun(t, nil, "identity", "orgs", "--home", home); !strings.Contains(out, "hosp") {
		t.Fatalf("identity orgs over TLS: %s", out)
	}
	mustRun(t, nil, "identity", "orgs", "--node", "https://"+addr, "--ca", ca)
	if out, err := run(t, nil, "identity", "orgs", "--node", "https://"+addr); err == nil || !strings.Contains(out, "hint: ") || !strings.Contains(out, "--ca FILE") {
		t.Fatalf("a CLI that does not trust the CA: err=%v %s", err, out)
	}
	pub := func(name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, env, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	for _, args := range [][]string{
		{"--id", "hosp/dr-a", "--role", "physician", "--pubkey", pub("hosp.dr-a")},
		{"--kind", "patient", "--id", "patient/k7q2m9", "--pubkey", pub("patient.k7q2m9"), "--encryption-key", pub("patient.k7q2m9", "--encryption")},
	} {
		if out := mustRun(t, env, append(append([]string{"tx", "register", "--as", "hosp/admin"}, args...), keys...)...); !strings.Contains(out, "committed identity.register") {
			t.Fatalf("tx register over TLS: %s", out)
		}
	}

	// A FHIR client trusting only the CA.
	if code, body := fhirOver(t, hc, "GET", "https://"+addr+"/fhir/metadata", "", ""); code != http.StatusOK || !strings.Contains(body, "https://"+addr) {
		t.Fatalf("GET /fhir/metadata: HTTP %d %s", code, body)
	}
	tok := strings.TrimSpace(mustRun(t, env, append([]string{"token", "--as", "hosp/dr-a"}, keys...)...))
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
 "subject":{"reference":"Patient/k7q2m9"},"valueQuantity":{"value":97,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`
	if code, body := fhirOver(t, hc, "POST", "https://"+addr+"/fhir/Observation", tok, obs); code != http.StatusCreated {
		t.Fatalf("FHIR create over TLS: HTTP %d %s", code, body)
	}

	curlTrustsOnlyTheCA(t, ca, "https://"+addr, tok)

	// Under TLS the portal's session cookie is Secure, host-only (__Host-).
	resp, err := hc.Get("https://" + addr + "/portal/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-carechain_session=") || !strings.Contains(c, "; Secure") || !strings.Contains(c, "HttpOnly") {
		t.Fatalf("the portal's session cookie over TLS: %q", c)
	}

	// Plain HTTP is refused; https responses carry HSTS.
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS listener: HTTP %d", resp.StatusCode)
	}
	tlsReloadOnHangup(t, p, home, addr, ca)
	p.interrupt(t)
}

// TestTLSClientCertificates: a node started with --tls-client-ca serves
// only clients with a certificate from that CA; tls client-cert issues one
// and the CLI presents it with --client-cert and --client-key.
func TestTLSClientCertificates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	mustRun(t, passEnv(testPassphrase), "init", "--home", home, "--chain-id", "mtls-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr, "--tls")
	ca := filepath.Join(home, "tls", "ca.pem")
	p := startProcess(t, nil, "start", "--home", home, "--tls-client-ca", ca)
	waitOutput(t, p, "serving https://"+addr, time.Minute)
	out := mustRun(t, nil, "tls", "client-cert", "dr-jones", "--home", home)
	cert, key := filepath.Join(home, "tls", "clients", "dr-jones.pem"), filepath.Join(home, "tls", "clients", "dr-jones-key.pem")
	if !strings.Contains(out, cert) {
		t.Fatalf("tls client-cert: %s", out)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := nodeapi.ClientTLSConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tc.Certificates = []tls.Certificate{pair}
	waitHealthyOver(t, p, &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, "https://"+addr, time.Minute)
	// Refused in the handshake; with TLS 1.3 the client may see the alert
	// (and a hint) or only its request's write failing.
	if out, err := run(t, nil, "identity", "orgs", "--home", home); err == nil {
		t.Fatalf("a CLI without a client certificate was served: %s", out)
	}
	if out := mustRun(t, nil, "identity", "orgs", "--home", home, "--client-cert", cert, "--client-key", key); !strings.Contains(out, "hosp") {
		t.Fatalf("identity orgs with a client certificate: %s", out)
	}
	p.interrupt(t)
}

// tlsReloadOnHangup: tls renew and SIGHUP make the node serve a new
// certificate to new connections; a connection opened before goes on.
func tlsReloadOnHangup(t *testing.T, p *process, home, addr, ca string) {
	t.Helper()
	tc, err := nodeapi.ClientTLSConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	old, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldR := bufio.NewReader(old)
	get := func() {
		t.Helper()
		fmt.Fprintf(old, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(oldR, nil)
		if err != nil {
			t.Fatalf("the connection opened before the reload: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != nodeapi.HSTS {
			t.Fatalf("GET /healthz: HTTP %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	get()
	mustRun(t, nil, "tls", "renew", "--home", home)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, "TLS certificate reloaded", 10*time.Second)
	renewed, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	renewed.Close()
	if serial(renewed) == serial(old) {
		t.Fatalf("after SIGHUP new connections still get serial %s", serial(old))
	}
	get()
}

// curlTrustsOnlyTheCA: curl, a client built on another TLS stack, reads
// the FHIR API trusting ca, and refuses the node without it. Skipped
// without curl.
func curlTrustsOnlyTheCA(t *testing.T, ca, base, token string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Log("curl is not on PATH: the FHIR API over TLS is checked with Go's client only")
		return
	}
	out, err := exec.Command(curl, "--silent", "--show-error", "--fail", "--cacert", ca,
		"-H", "Authorization: Bearer "+token, base+"/fhir/Observation?patient=Patient/k7q2m9").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2345-7") {
		t.Fatalf("curl --cacert: %v %s", err, out)
	}
	if out, err := exec.Command(curl, "--silent", "--show-error", "--fail", base+"/fhir/metadata").CombinedOutput(); err == nil {
		t.Fatalf("curl without the CA trusted the node: %s", out)
	}
}

// TestInitTLSReusesCA: another node's init --tls-ca-from signs its
// certificate with the first node's CA, so one CA file trusts both.
func TestInitTLSReusesCA(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "n1"), filepath.Join(dir, "n2")
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", first, "--chain-id", "tls-ca", "--org", "hosp:hospital:Hospital", "--tls")
	mustRun(t, env, "init", "--home", second, "--genesis", filepath.Join(first, "config", "genesis.json"),
		"--http-addr", "10.0.0.7:8081", "--tls-ca-from", first, "--tls-host", "node2.example")
	verifiedBy(t, filepath.Join(first, "tls", "ca.pem"), filepath.Join(second, "tls", "node.pem"), "10.0.0.7", "node2.example", "localhost", "127.0.0.1")
	if fi, err := os.Stat(filepath.Join(second, "tls", "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem: %v, mode %v", err, fi.Mode())
	}
}

// TestTestnetTLSOneCA: testnet --tls gives every node a certificate from
// the first node's CA.
func TestTestnetTLSOneCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tn")
	out := mustRun(t, passEnv(testPassphrase), "testnet", "--validators", "2", "--dir", dir, "--base-port", "0", "--tls")
	ca := filepath.Join(dir, "node0", "tls", "ca.pem")
	if !strings.Contains(out, ca) {
		t.Fatalf("testnet --tls does not name the CA to trust:\n%s", out)
	}
	for _, n := range []string{"node0", "node1"} {
		verifiedBy(t, ca, filepath.Join(dir, n, "tls", "node.pem"), "127.0.0.1")
		cfg, err := node.Home(filepath.Join(dir, n)).LoadConfig()
		if err != nil || !cfg.TLS() {
			t.Fatalf("%s's config: TLS off (%v)", n, err)
		}
	}
}

// verifiedBy checks that the certificate of certFile is signed by a CA of
// caFile and valid for hosts.
func verifiedBy(t *testing.T, caFile, certFile string, hosts ...string) {
	t.Helper()
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA %s: %v", caFile, err)
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range hosts {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s for %s: %v", certFile, host, err)
		}
	}
}

// trustingOnly is an HTTP client that trusts only the CAs of caFile.
func trustingOnly(t *testing.T, caFile string) *http.Client {
	t.Helper()
	tc, err := nodeapi.ClientTLSConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

// waitHealthyOver is waitHealthy for a node at base (a URL) through hc.
func waitHealthyOver(t *testing.T, p *process, hc *http.Client, base string, limit time.Duration) {
	t.Helper()
	p.waitFor(t, limit, "200 from /readyz", func() error {
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// fhirOver sends a FHIR request through hc and returns its status and body.
func fhirOver(t *testing.T, hc *http.Client, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
