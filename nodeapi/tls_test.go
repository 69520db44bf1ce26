package nodeapi_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// tlsHome is a home with a test CA and a server certificate (node.InitTLS).
func tlsHome(t *testing.T) (node.Home, node.Config) {
	t.Helper()
	h := node.Home(t.TempDir())
	cfg := node.DefaultConfig("tls-test", "node0")
	if err := node.InitTLS(h, &cfg, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return h, cfg
}

// serveTLS serves ok over TLS with h's certificate (client certificates from
// clientCA's CAs required, if given) and returns the address and the reloader.
func serveTLS(t *testing.T, h node.Home, cfg node.Config, clientCA string) (string, *nodeapi.CertReloader) {
	t.Helper()
	certs, err := nodeapi.NewCertReloader(h.Path(cfg.TLSCert), h.Path(cfg.TLSKey))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := nodeapi.ServerTLSConfig(certs, clientCA)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	return serve(t, ok, nodeapi.ServerOptions{TLS: tc}), certs
}

// dialTLS opens a TLS connection trusting only h's CA and returns it with
// the serial number of the certificate the server presented.
func dialTLS(t *testing.T, h node.Home, addr string, cert *tls.Certificate) (*tls.Conn, string) {
	t.Helper()
	tc, err := nodeapi.ClientTLSConfig(filepath.Join(h.TLSDir(), node.CAFile), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertReloadKeepsConnections: after Reload, new handshakes get the new
// certificate and a kept-alive connection made before goes on working; a
// reload of files that are no certificate keeps the one served.
func TestCertReloadKeepsConnections(t *testing.T) {
	h, cfg := tlsHome(t)
	addr, certs := serveTLS(t, h, cfg, "")
	old, first := dialTLS(t, h, addr, nil)
	oldR := bufio.NewReader(old)
	resp := roundTrip(t, old, oldR, "/")
	if got := resp.Header.Get("Strict-Transport-Security"); got != nodeapi.HSTS {
		t.Errorf("Strict-Transport-Security %q, want %q", got, nodeapi.HSTS)
	}

	if err := node.RenewTLS(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	_, second := dialTLS(t, h, addr, nil)
	if second == first {
		t.Fatalf("after Reload the server still presents serial %s", first)
	}
	if resp := roundTrip(t, old, oldR, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the connection made before the reload: HTTP %d", resp.StatusCode)
	}

	if err := os.WriteFile(h.Path(cfg.TLSCert), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := certs.Reload(); err == nil {
		t.Fatal("Reload of a broken certificate file succeeded")
	}
	if _, third := dialTLS(t, h, addr, nil); third != second {
		t.Fatalf("after a failed reload the server presents serial %s, want %s still", third, second)
	}
}

// TestTLSListenerRefusesPlainHTTPAndOldTLS: plain HTTP to the TLS port is
// answered 400 and closed; TLS 1.1 does not handshake.
func TestTLSListenerRefusesPlainHTTPAndOldTLS(t *testing.T) {
	h, cfg := tlsHome(t)
	addr, _ := serveTLS(t, h, cfg, "")
	c := dial(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: node\r\n\r\n")
	answer, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes: %v", err)
	}
	if !strings.Contains(string(answer), " 400 ") || !strings.Contains(string(answer), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP answered %q", answer)
	}
	tc, err := nodeapi.ClientTLSConfig(filepath.Join(h.TLSDir(), node.CAFile), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tc.MinVersion, tc.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", addr, tc); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}

// TestClientCertificateRequired: with a client CA, a client without a
// certificate from it is refused and one with such a certificate is served.
func TestClientCertificateRequired(t *testing.T) {
	h, cfg := tlsHome(t)
	addr, _ := serveTLS(t, h, cfg, filepath.Join(h.TLSDir(), node.CAFile))
	tc, err := nodeapi.ClientTLSConfig(filepath.Join(h.TLSDir(), node.CAFile), "", "")
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	if resp, err := cl.Get("https://" + addr + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
	cert := clientCert(t, h)
	c, _ := dialTLS(t, h, addr, &cert)
	if resp := roundTrip(t, c, bufio.NewReader(c), "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a client with a certificate: HTTP %d", resp.StatusCode)
	}
}

// clientCert is a client certificate signed by h's CA.
func clientCert(t *testing.T, h node.Home) tls.Certificate {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(h.TLSDir(), node.CAFile), filepath.Join(h.TLSDir(), node.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertExpiryMetric: the reloader exports the served certificate's
// expiry (CarechainCertificateExpiry alerts on it), and a reload updates it.
func TestCertExpiryMetric(t *testing.T) {
	h, cfg := tlsHome(t)
	certs, err := nodeapi.NewCertReloader(h.Path(cfg.TLSCert), h.Path(cfg.TLSKey))
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(h.Path(cfg.TLSCert), h.Path(cfg.TLSKey))
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(certs)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(families) != 1 || families[0].GetName() != "carechain_tls_certificate_expiry_timestamp_seconds" ||
			families[0].GetMetric()[0].GetGauge().GetValue() != float64(pair.Leaf.NotAfter.Unix()) {
			t.Errorf("metrics %v, want the expiry %v", families, pair.Leaf.NotAfter)
		}
	}
	check()
	if err := node.RenewTLS(h, nil); err != nil {
		t.Fatal(err)
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	check()
}
