package nodeapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// TLS on the node's HTTP listener. The server's certificate is read from PEM
// files by a CertReloader, which the node reloads on SIGHUP: a renewed
// certificate is served to new handshakes at once, and connections already
// open keep the one they agreed on, so nothing is dropped.

// HSTS is the Strict-Transport-Security value a TLS listener sends with every
// response: browsers (the portal) then refuse plain HTTP to the node for a year.
const HSTS = "max-age=31536000"

// CertReloader holds the server certificate of a TLS listener, read from a
// certificate and a key file (PEM), and reads them again on Reload.
type CertReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewCertReloader reads the certificate (with its chain) and key of
// certFile and keyFile.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the certificate and key files again. If they do not make a
// valid pair, the certificate served so far stays and the error says why.
func (r *CertReloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

// Certificate is the certificate served now.
func (r *CertReloader) Certificate() *tls.Certificate { return r.cert.Load() }

// descCertExpiry describes the certificate's expiry, for CarechainCertificateExpiry.
var descCertExpiry = prometheus.NewDesc("carechain_tls_certificate_expiry_timestamp_seconds",
	"When (Unix seconds) the TLS certificate the node serves expires; it follows a reload.", nil, nil)

// Describe implements prometheus.Collector: the served certificate's expiry.
func (r *CertReloader) Describe(ch chan<- *prometheus.Desc) { ch <- descCertExpiry }

// Collect implements prometheus.Collector.
func (r *CertReloader) Collect(ch chan<- prometheus.Metric) {
	c := r.cert.Load()
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if leaf != nil {
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
	}
}

// GetCertificate is tls.Config.GetCertificate: each handshake takes the
// certificate loaded last.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// ServerTLSConfig is the TLS configuration of a node's listener: TLS 1.2 or
// later, the certificate of certs, and, if clientCAFile is not empty, client
// certificates required and verified against the CAs it holds (PEM). A
// client without a certificate from those CAs cannot connect at all, so
// client-certificate auth is for consortiums whose every client has one;
// requests are still signed or token-authorized as without it.
func ServerTLSConfig(certs *CertReloader, clientCAFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	if clientCAFile != "" {
		pool, err := LoadCertPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadCertPool reads the CA certificates of a PEM file.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ClientTLSConfig is the TLS configuration of a client of a node: it trusts
// the CAs of caFile (PEM; empty: the system's), and presents the certificate
// of certFile and keyFile if given, for a node that requires client
// certificates.
func ClientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := LoadCertPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// hsts wraps h to send the HSTS header with every response.
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTS)
		h.ServeHTTP(w, r)
	})
}
