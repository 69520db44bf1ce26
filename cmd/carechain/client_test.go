package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

// TestClientRegisterThroughCLI: an organization's admin registers a SMART
// client acting for its staff with client register, client show reads it,
// another organization's admin is refused, a JWKS with a private key is
// refused before anything is sent, and --revoke ends the client.
func TestClientRegisterThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "client-test", "--org", "hosp:hospital:Hospital",
		"--org", "lab1:lab:Lab One", "--p2p-addr", freeAddr(t), "--http-addr", addr)
	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	flags := []string{"--home", home, "--node", addr}
	with := func(args ...string) []string { return append(args, flags...) }

	mustRun(t, env, "keys", "new", "hosp.svc", "--home", home)
	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", "hosp.svc", "--home", home))
	mustRun(t, env, with("tx", "register", "--as", "hosp/admin", "--id", "hosp/svc", "--role", "physician", "--pubkey", pub)...)

	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwks, err := tx.MarshalJWKS(map[string]crypto.PublicKey{"k1": &ek.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(dir, "app.jwks.json")
	os.WriteFile(jwksFile, jwks, 0o600)
	register := func(as string, extra ...string) (string, error) {
		return run(t, env, with(append([]string{"client", "register", "--as", as, "--id", "hosp/app", "--acts-for", "hosp/svc"}, extra...)...)...)
	}
	scope := []string{"--jwks", jwksFile, "--scope", "system/Observation.rs  system/Patient.rs"}
	if out, err := register("lab1/admin", scope...); err == nil || !strings.Contains(out, "unauthorized") {
		t.Fatalf("another organization's admin: err=%v %s", err, out)
	}
	if out, err := register("hosp/admin", scope...); err != nil || !strings.Contains(out, "committed identity.client") {
		t.Fatalf("register: err=%v %s", err, out)
	}
	var at nodeapi.ClientAt
	if err := json.Unmarshal([]byte(mustRun(t, nil, "client", "show", "hosp/app", "--node", addr)), &at); err != nil {
		t.Fatal(err)
	}
	if at.ActsFor != "hosp/svc" || at.Status != "active" || at.Scopes != "system/Observation.rs system/Patient.rs" || !strings.Contains(string(at.JWKS), `"k1"`) {
		t.Fatalf("client show: %+v", at)
	}

	private := filepath.Join(dir, "private.jwks.json")
	os.WriteFile(private, []byte(strings.Replace(string(jwks), `"kty":"EC"`, `"kty":"EC","d":"AAAA"`, 1)), 0o600)
	if out, err := register("hosp/admin", "--jwks", private, "--scope", "system/*.rs"); err == nil || !strings.Contains(out, "private key material") {
		t.Fatalf("private key material: err=%v %s", err, out)
	}
	if out, err := register("hosp/admin", "--revoke"); err != nil || !strings.Contains(out, "committed identity.client") {
		t.Fatalf("revoke: err=%v %s", err, out)
	}
	json.Unmarshal([]byte(mustRun(t, nil, "client", "show", "hosp/app", "--node", addr)), &at)
	if at.Status != "revoked" || at.RevokedAt == 0 {
		t.Fatalf("after --revoke: %+v", at)
	}
	if out, err := run(t, nil, "client", "show", "hosp/nobody", "--node", addr); err == nil {
		t.Fatalf("show of an unknown client: %s", out)
	}
}
