package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carechain/carechain/node"
)

// TestListenerTLSFlagsAndConfig: start's TLS flags override the home's
// config; a certificate without its key, or client certificates without
// TLS, are refused; no certificate anywhere is plain HTTP.
func TestListenerTLSFlagsAndConfig(t *testing.T) {
	plain := node.Home(t.TempDir())
	tlsHome := node.Home(t.TempDir())
	cfg := node.DefaultConfig("c", "n")
	if err := node.InitTLS(tlsHome, &cfg, "", nil); err != nil {
		t.Fatal(err)
	}
	cert, key := tlsHome.Path(cfg.TLSCert), tlsHome.Path(cfg.TLSKey)
	ca := filepath.Join(tlsHome.TLSDir(), node.CAFile)
	for _, tc := range []struct {
		name    string
		h       node.Home
		cfg     node.Config
		flags   tlsFlags
		wantTLS bool
		wantErr string
	}{
		{name: "plain", h: plain, cfg: node.DefaultConfig("c", "n")},
		{name: "config", h: tlsHome, cfg: cfg, wantTLS: true},
		{name: "flags", h: plain, cfg: node.DefaultConfig("c", "n"), flags: tlsFlags{cert: cert, key: key, clientCA: ca}, wantTLS: true},
		{name: "flags override config", h: tlsHome, cfg: node.Config{TLSCert: "missing.pem", TLSKey: "missing-key.pem"}, flags: tlsFlags{cert: cert, key: key}, wantTLS: true},
		{name: "bad config files", h: tlsHome, cfg: node.Config{TLSCert: "missing.pem", TLSKey: "missing-key.pem"}, wantErr: "missing.pem"},
		{name: "cert without key", h: plain, flags: tlsFlags{cert: cert}, wantErr: "both"},
		{name: "client CA without TLS", h: plain, flags: tlsFlags{clientCA: ca}, wantErr: "need TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, _, err := listenerTLS(tc.h, tc.cfg, tc.flags)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case (certs != nil) != tc.wantTLS:
				t.Fatalf("TLS %v, want %v", certs != nil, tc.wantTLS)
			}
		})
	}
}

// TestCLIFindsTheNodesScheme: the CLI talks https to a URL that says so, to
// any node with --ca, and to a home whose config turns TLS on (trusting its
// CA); plain http otherwise, with Go's default client.
func TestCLIFindsTheNodesScheme(t *testing.T) {
	plain := node.Home(t.TempDir())
	if err := plain.SaveConfig(node.DefaultConfig("c", "n")); err != nil {
		t.Fatal(err)
	}
	tlsHome := node.Home(t.TempDir())
	cfg := node.DefaultConfig("c", "n")
	cfg.HTTPAddr = "0.0.0.0:8443"
	if err := node.InitTLS(tlsHome, &cfg, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := tlsHome.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ownCA := node.Home(t.TempDir()) // TLS from certificates of another CA: no tls/ca.pem
	own := node.DefaultConfig("c", "n")
	own.TLSCert, own.TLSKey = "/etc/ssl/node.pem", "/etc/ssl/node-key.pem"
	if err := ownCA.SaveConfig(own); err != nil {
		t.Fatal(err)
	}
	c := &cli{in: strings.NewReader(""), out: io.Discard, err: io.Discard}
	withCA := &cli{caFile: filepath.Join(tlsHome.TLSDir(), node.CAFile)}
	for _, tc := range []struct {
		c          *cli
		flag, home string
		want       string
		ownClient  bool
	}{
		{c: c, home: string(plain), want: "http://127.0.0.1:8080"},
		{c: c, flag: "10.0.0.1:80", want: "http://10.0.0.1:80"},
		{c: c, flag: "https://node.example/", want: "https://node.example"},
		{c: c, home: string(tlsHome), want: "https://127.0.0.1:8443", ownClient: true},
		{c: c, home: string(ownCA), want: "https://127.0.0.1:8080"},
		{c: withCA, flag: "10.0.0.1:443", want: "https://10.0.0.1:443", ownClient: true},
	} {
		if got := tc.c.nodeURL(tc.flag, tc.home); got != tc.want {
			t.Errorf("nodeURL(%q, %q) = %q, want %q", tc.flag, tc.home, got, tc.want)
		}
		hc, err := tc.c.httpClient(tc.home)
		if err != nil {
			t.Fatal(err)
		}
		if own := hc != http.DefaultClient; own != tc.ownClient {
			t.Errorf("%s: a client of its own: %v, want %v", tc.want, own, tc.ownClient)
		}
	}
}
