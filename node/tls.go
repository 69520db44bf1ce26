package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Certificates for the TLS of a node's HTTP listener. init makes a
// self-signed CA for a test consortium (HOME/tls/ca.pem, its key
// ca-key.pem) and a server certificate signed by it (HOME/tls/node.pem,
// node-key.pem); other nodes of the consortium reuse that CA, so clients
// trust one file. A production consortium uses certificates from its own
// CA instead: the node only needs the PEM files named in its config.

// Validity of the certificates init makes.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 365 * 24 * time.Hour
)

// TLS file names in a home's TLS directory.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	TLSCertFile = "node.pem"
	TLSKeyFile  = "node-key.pem"
)

// TLSDir holds the node's TLS certificates and keys.
func (h Home) TLSDir() string { return filepath.Join(string(h), "tls") }

// Path is p, a path from h's config, made absolute: a relative path is
// relative to the home, so a home can move.
func (h Home) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(string(h), p)
}

// TLS reports whether c turns TLS on for the HTTP listener.
func (c Config) TLS() bool { return c.TLSCert != "" }

// InitTLS gives h a CA and a server certificate for hosts (IP addresses or
// DNS names; localhost, 127.0.0.1 and ::1 are always included) and records
// them in c. The CA is caFrom's (another home of the consortium, whose
// ca.pem and ca-key.pem it copies) or, if caFrom is empty, a new one.
func InitTLS(h Home, c *Config, caFrom Home, hosts []string) error {
	dir := h.TLSDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("TLS directory: %w", err)
	}
	var caCert *x509.Certificate
	var caKey *ecdsa.PrivateKey
	var err error
	if caFrom != "" {
		caCert, caKey, err = copyCA(caFrom.TLSDir(), dir)
	} else {
		caCert, caKey, err = newCA(dir, c.ChainID)
	}
	if err != nil {
		return err
	}
	if err := issueServerCert(dir, caCert, caKey, c.Moniker, append(hosts, httpHost(c.HTTPAddr))); err != nil {
		return err
	}
	c.TLSCert = filepath.Join("tls", TLSCertFile)
	c.TLSKey = filepath.Join("tls", TLSKeyFile)
	return nil
}

// RenewTLS issues h a new server certificate from the CA in its TLS
// directory, replacing the one it has: for the hosts of the old one, the
// host of the config's HTTP address and hosts. A running node serves it
// after SIGHUP.
func RenewTLS(h Home, hosts []string) error {
	caCert, caKey, err := readCA(h.TLSDir())
	if err != nil {
		return err
	}
	c, err := h.LoadConfig()
	if err != nil {
		return err
	}
	hosts = append(hosts, httpHost(c.HTTPAddr))
	if old, err := tls.LoadX509KeyPair(filepath.Join(h.TLSDir(), TLSCertFile), filepath.Join(h.TLSDir(), TLSKeyFile)); err == nil {
		hosts = append(hosts, old.Leaf.DNSNames...)
		for _, ip := range old.Leaf.IPAddresses {
			hosts = append(hosts, ip.String())
		}
	}
	return issueServerCert(h.TLSDir(), caCert, caKey, c.Moniker, hosts)
}

// httpHost is the host of an HTTP address ("" if it has none).
func httpHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}

// newCA makes a self-signed CA in dir.
func newCA(dir, chainID string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "carechain CA " + chainID, Organization: []string{"carechain test consortium"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	if err := writePEM(dir, CAKeyFile, key, nil); err != nil {
		return nil, nil, err
	}
	return cert, key, writePEM(dir, CAFile, nil, der)
}

// issueServerCert writes a server certificate and key signed by the CA to dir.
func issueServerCert(dir string, caCert *x509.Certificate, caKey *ecdsa.PrivateKey, name string, hosts []string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, host := range hosts {
		switch ip := net.ParseIP(host); {
		case host == "" || host == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()):
		case ip != nil && slices.ContainsFunc(tmpl.IPAddresses, ip.Equal), slices.Contains(tmpl.DNSNames, host):
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	return issue(dir, TLSCertFile, TLSKeyFile, tmpl, caCert, caKey)
}

// IssueClientCert issues a client certificate for name (its common name)
// from the CA of h's TLS directory, for a node that requires client
// certificates (tls_client_ca); it returns the certificate and key files,
// HOME/tls/clients/NAME.pem and NAME-key.pem.
func IssueClientCert(h Home, name string) (certFile, keyFile string, err error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", "", fmt.Errorf("client certificate name %q: want a plain file name", name)
	}
	caCert, caKey, err := readCA(h.TLSDir())
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(h.TLSDir(), "clients")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("client certificate directory: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := issue(dir, name+".pem", name+"-key.pem", tmpl, caCert, caKey); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"), nil
}

// issue signs tmpl, given a serial number, a validity and its key usage
// here, with the CA for a new key, and writes both to dir.
func issue(dir, certName, keyName string, tmpl, caCert *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("TLS key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("TLS certificate %s: %w", certName, err)
	}
	// The key first: a certificate without its key would not load.
	if err := writePEM(dir, keyName, key, nil); err != nil {
		return err
	}
	return writePEM(dir, certName, nil, der)
}

// copyCA copies the CA of the TLS directory from into to.
func copyCA(from, to string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cert, key, err := readCA(from)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(to, CAKeyFile, key, nil); err != nil {
		return nil, nil, err
	}
	return cert, key, writePEM(to, CAFile, nil, cert.Raw)
}

// readCA reads the CA certificate and key of a TLS directory.
func readCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("CA of %s: %w", dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("CA of %s: the key is not ECDSA", dir)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("CA of %s: %w", dir, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("CA of %s: %s is not a CA certificate", dir, CAFile)
	}
	return cert, key, nil
}

// writePEM writes key (mode 0600) or the certificate der (0644) to dir/name.
func writePEM(dir, name string, key *ecdsa.PrivateKey, der []byte) error {
	block, mode := &pem.Block{Type: "CERTIFICATE", Bytes: der}, os.FileMode(0o644)
	if key != nil {
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		block, mode = &pem.Block{Type: "PRIVATE KEY", Bytes: b}, 0o600
	}
	if err := writeFileAtomic(filepath.Join(dir, name), pem.EncodeToMemory(block), mode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// randomSerial is a 128-bit certificate serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, errors.New("certificate serial: no randomness")
	}
	return n, nil
}
