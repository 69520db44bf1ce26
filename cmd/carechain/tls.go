package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// TLS of the node's HTTP listener, and of the CLI's requests to it.
//
// A node serves TLS when its config (tls_cert, tls_key; init --tls writes
// them) or start's --tls-cert and --tls-key name a certificate; on SIGHUP it
// reads the files again. The CLI talks https to a node given as https://…,
// to any node when --ca is given, and to --home's node when that home's
// config turns TLS on; it trusts the CAs of --ca, else the home's
// tls/ca.pem, else the system's.

// tlsFlags are start's TLS flags; empty ones take the home's config.
type tlsFlags struct{ cert, key, clientCA string }

func (f *tlsFlags) register(cmd *cobra.Command) {
	pathVar(cmd.Flags(), &f.cert, "tls-cert", "", "TLS certificate (PEM, with its chain) of the HTTP listener: serve https only (default: tls_cert in the home's config)")
	pathVar(cmd.Flags(), &f.key, "tls-key", "", "key (PEM) of --tls-cert (default: tls_key in the home's config)")
	pathVar(cmd.Flags(), &f.clientCA, "tls-client-ca", "", "require client certificates signed by a CA of this PEM file (default: tls_client_ca in the home's config)")
}

// listenerTLS is the reloader of the certificate of h's HTTP listener and
// the file of the CAs of its client certificates: from f, else from cfg.
// The reloader is nil when neither names a certificate: plain HTTP.
func listenerTLS(h node.Home, cfg node.Config, f tlsFlags) (*nodeapi.CertReloader, string, error) {
	cert, key, clientCA := f.cert, f.key, f.clientCA
	if cert == "" && key == "" {
		cert, key = h.Path(cfg.TLSCert), h.Path(cfg.TLSKey)
	}
	if clientCA == "" {
		clientCA = h.Path(cfg.TLSClientCA)
	}
	if cert == "" && key == "" {
		if clientCA != "" {
			return nil, "", fmt.Errorf("client certificates (%s) need TLS: give --tls-cert and --tls-key", clientCA)
		}
		return nil, "", nil
	}
	if cert == "" || key == "" {
		return nil, "", fmt.Errorf("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	certs, err := nodeapi.NewCertReloader(cert, key)
	if err != nil {
		return nil, "", err
	}
	return certs, clientCA, nil
}

// reloadOnHangup reloads certs on each SIGHUP until ctx is done. A failed
// reload is logged and the certificate served so far stays.
func reloadOnHangup(ctx context.Context, certs *nodeapi.CertReloader, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if err := certs.Reload(); err != nil {
				logger.Error("TLS certificate not reloaded; the previous one is still served", "err", err)
				continue
			}
			leaf := certs.Certificate().Leaf
			logger.Info("TLS certificate reloaded", "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
		}
	}()
}

// nodeURL is the base URL of the node a command talks to (nodeOf), with
// its scheme: as given, else https if --ca is given or home's config turns
// TLS on, else http.
func (c *cli) nodeURL(flag, home string) string {
	addr := nodeOf(flag, home)
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	if c.caFile != "" || homeTLS(home) {
		return "https://" + addr
	}
	return "http://" + addr
}

// homeTLS reports whether home's config turns TLS on.
func homeTLS(home string) bool {
	if home == "" {
		return false
	}
	cfg, err := node.Home(home).LoadConfig()
	return err == nil && cfg.TLS()
}

// homeCA is the CA file of home (tls/ca.pem, as init --tls makes) if its
// config turns TLS on and it has one; a home with certificates from
// elsewhere has none, and the system's CAs are trusted.
func homeCA(home string) string {
	if !homeTLS(home) {
		return ""
	}
	ca := filepath.Join(node.Home(home).TLSDir(), node.CAFile)
	if _, err := os.Stat(ca); err != nil {
		return ""
	}
	return ca
}

// httpClient is the HTTP client of the CLI's requests to a node: it trusts
// --ca, else home's CA (homeCA), else the system's, and presents
// --client-cert if given.
func (c *cli) httpClient(home string) (*http.Client, error) {
	ca := c.caFile
	if ca == "" {
		ca = homeCA(home)
	}
	if ca == "" && c.clientCert == "" && c.clientKey == "" {
		return http.DefaultClient, nil
	}
	tc, err := nodeapi.ClientTLSConfig(ca, c.clientCert, c.clientKey)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// nodeClient is a client of the node a command talks to (nodeURL) over
// httpClient.
func (c *cli) nodeClient(flag, home string) (*nodeapi.Client, error) {
	hc, err := c.httpClient(home)
	if err != nil {
		return nil, err
	}
	cl := nodeapi.NewClient(c.nodeURL(flag, home))
	cl.HTTP = hc
	return cl, nil
}

// tlsCmd is carechain tls: certificates of a home made with init --tls.
func (c *cli) tlsCmd() *cobra.Command {
	var home string
	var hosts []string
	cmd := &cobra.Command{Use: "tls", Short: "Certificates of the HTTP listener (of a home made with init --tls)"}
	renew := &cobra.Command{
		Use:   "renew",
		Short: "Issue the node a new server certificate from the home's CA; a running node serves it after SIGHUP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := node.Home(home)
			if err := node.RenewTLS(h, hosts); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "Renewed %s. A running node serves it after: kill -HUP <its pid>\n", filepath.Join(h.TLSDir(), node.TLSCertFile))
			return nil
		},
	}
	pathVar(renew.Flags(), &home, "home", defaultHome("node"), "node home directory")
	renew.Flags().StringSliceVar(&hosts, "tls-host", nil, tlsHostUsage)
	clientCert := &cobra.Command{
		Use:   "client-cert NAME",
		Short: "Issue a client certificate from the home's CA, for a node started with --tls-client-ca",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cert, key, err := node.IssueClientCert(node.Home(home), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "Client certificate %s, key %s: carechain --client-cert %s --client-key %s\n", cert, key, cert, key)
			return nil
		},
	}
	pathVar(clientCert.Flags(), &home, "home", defaultHome("node"), "node home directory (its tls/ca.pem signs)")
	cmd.AddCommand(renew, clientCert)
	return cmd
}

// tlsHostUsage documents --tls-host of init and tls renew.
const tlsHostUsage = "more host names or IP addresses the server certificate is for (localhost, 127.0.0.1, ::1 and the --http-addr host always are)"
