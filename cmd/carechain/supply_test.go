package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

const supplyGTIN = "00312345678906"

// TestSupplyChainThroughCLI runs a unit's life on a real node through the
// documented CLI: a manufacturer (acme) registers a product and
// commissions units, ships them to a wholesaler (dist), which ships them
// to a pharmacy (pharm); the pharmacy verifies, receives and dispenses.
// It refuses, each with its reason and a non-zero exit: a second
// commissioning, an unknown serial, a genuine serial offered by a second
// seller (rival), an expired unit, a recalled lot, a dispensed unit. The
// competitor rival holds no product key, so it can compute no
// commitment, and no file of the node's home, no node log and no API
// answer to rival holds a plain serial.
func TestSupplyChainThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "supply-test")
	started := time.Now()
	refused := func(want string, args []string) {
		t.Helper()
		out, err := run(t, env, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	serial := func(n string) string { return "QX7Z" + n } // distinctive, to scan the disk for
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg",
		"--form", "capsule", "--strength", "500 mg", "--kind", "drug", "--private=false")...)
	refused("GS1 check digit", sup("acme/admin", "product", "register", "--gtin", "00312345678907", "--name", "x"))
	refused("not a manufacturer", sup("dist/admin", "product", "register", "--gtin", "09506000134352", "--name", "x"))
	if out := mustRun(t, env, sup("pharm/admin", "product", "show", supplyGTIN)...); !strings.Contains(out, `"owner": "acme"`) {
		t.Fatalf("product show: %s", out)
	}

	list := filepath.Join(t.TempDir(), "serials.txt") // outside the node's home
	os.WriteFile(list, []byte(serial("0001")+"\n"+serial("0002")+"\n"+serial("0003")+"\n"), 0o600)
	out := mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "301231", "--serials", list)...)
	if !strings.Contains(out, "commissioned 3 units of "+supplyGTIN+", lot L1, expiring 2030-12-31") {
		t.Fatalf("commission: %s", out)
	}
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "OLD", "--expiry", "2025-01-31", "--serial", serial("0100"))...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L2", "--expiry", "2030-12-31", "--serial", serial("0200"))...)
	refused("already commissioned", sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L3", "--expiry", "2030-12-31", "--serial", serial("0002")))

	mustRun(t, env, sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "dist", "--serials", list)...)
	mustRun(t, env, sup("dist/admin", "receive", "--gtin", supplyGTIN, "--serials", list)...)
	refused("held by acme", sup("dist/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", serial("0200")))
	mustRun(t, env, sup("dist/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", serial("0001"), "--serial", serial("0002"))...)
	refused("no shipment of it is pending", sup("pharm/admin", "receive", "--gtin", supplyGTIN, "--serial", serial("0200")))
	mustRun(t, env, sup("acme/admin", "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", serial("0200"))...)

	verify := func(sn, seller string) []string {
		return sup("pharm/admin", "verify", "--gtin", supplyGTIN, "--serial", sn, "--seller", seller)
	}
	out = mustRun(t, env, append(verify(serial("0001"), "dist"), "--lot", "L1", "--expiry", "301231")...)
	for _, want := range []string{"GENUINE", "Amoxicillin 500 mg (GTIN " + supplyGTIN + ") by acme", "status:    in-transit", "custodian: dist"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify of a genuine unit lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, env, sup("pharm/admin", "receive", "--gtin", supplyGTIN, "--serial", serial("0001"), "--serial", serial("0002"), "--serial", serial("0200"))...)
	mustRun(t, env, verify(serial("0001"), "pharm")...)
	mustRun(t, env, sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", serial("0001"))...)

	for _, tc := range []struct{ name, serial, seller, want string }{
		{"an unknown serial", serial("9999"), "dist", "never commissioned by acme"},
		{"a genuine serial offered by a second seller", serial("0002"), "rival", "held by pharm, not by the seller rival"},
		{"an expired unit", serial("0100"), "acme", "expired on 2025-01-31"},
		{"a dispensed unit", serial("0001"), "pharm", "already dispensed"},
	} {
		refused(tc.want, verify(tc.serial, tc.seller))
		t.Logf("%s: refused (%s)", tc.name, tc.want)
	}
	refused("DO NOT ACCEPT", verify(serial("0002"), "rival"))
	refused("the package says lot L9", append(verify(serial("0002"), "pharm"), "--lot", "L9"))
	refused("already dispensed", sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", serial("0001")))

	refused("belongs to acme", sup("pharm/admin", "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility"))
	if out := mustRun(t, env, sup("acme/admin", "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility failure")...); !strings.Contains(out, "recalled lot L2") {
		t.Fatalf("recall: %s", out)
	}
	refused("lot L2 is recalled (sterility failure)", verify(serial("0200"), "pharm"))
	refused("lot L2 is recalled (sterility failure)", sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", serial("0200")))
	// The pharmacy takes the recalled unit it holds out of the chain.
	mustRun(t, env, sup("pharm/admin", "decommission", "--gtin", supplyGTIN, "--serial", serial("0200"))...)
	refused("the unit was decommissioned", verify(serial("0200"), "pharm"))

	mustRun(t, env, sup("pharm/admin", "flag", "--gtin", supplyGTIN, "--serial", serial("0002"), "--reason", "seal broken")...)
	refused("quarantined", sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", serial("0002")))
	mustRun(t, env, sup("acme/admin", "resolve", "--gtin", supplyGTIN, "--serial", serial("0002"), "--outcome", "clear")...)
	mustRun(t, env, sup("pharm/admin", "dispense", "--gtin", supplyGTIN, "--serial", serial("0002"))...)
	t.Logf("the supply chain through the CLI took %v", time.Since(started).Round(time.Millisecond))

	// The competitor: no product key, so no commitment, and nothing of the
	// partners' units through the API.
	rivalSees := rivalAnswers(t, home, addr)
	refused("rival holds no key of product", sup("rival/admin", "verify", "--gtin", supplyGTIN, "--serial", serial("0003"), "--seller", "dist"))
	p.interrupt(t)
	serials := []string{serial("0001"), serial("0002"), serial("0003"), serial("0100"), serial("0200"), serial("9999")}
	for _, sn := range serials {
		if strings.Contains(rivalSees, sn) || strings.Contains(p.output(), sn) {
			t.Errorf("serial %s is in an API answer to rival or in the node's log", sn)
		}
	}
	noPlaintext(t, home, "", inPlainOrBase64(serials)...)
}

// startSupplyNode makes with init, and starts, one node of a manufacturer
// (acme), two wholesalers (dist and its competitor rival) and a pharmacy
// (pharm), all their keys under testPassphrase; sup builds a supply
// command as a principal: its words (two for "product …"), then the
// flags, so the README check sees the command path.
func startSupplyNode(t *testing.T, chainID string) (home, addr string, env []string, p *process, sup func(as string, args ...string) []string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "node")
	addr = freeAddr(t)
	env = passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", chainID, "--org", "acme:manufacturer:Acme Pharma",
		"--org", "dist:wholesaler:Distri", "--org", "rival:wholesaler:Rival", "--org", "pharm:pharmacy:Corner Pharmacy",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	p = startProcess(t, env, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	sup = func(as string, args ...string) []string {
		n := 1
		if args[0] == "product" {
			n = 2
		}
		cmd := append([]string{"supply"}, args[:n]...)
		return append(append(cmd, "--as", as, "--home", home, "--node", addr), args[n:]...)
	}
	return home, addr, env, p, sup
}

// rivalAnswers is what the node's API answers rival's admin about the
// supply chain.
func rivalAnswers(t *testing.T, home, addr string) string {
	t.Helper()
	return supplyAnswers(t, rivalClient(t, home, addr, testPassphrase), "QX7Z0003")
}

// rivalClient is rival's admin, its key from home's keystore under
// passphrase, talking to addr.
func rivalClient(t *testing.T, home, addr, passphrase string) *nodeapi.Client {
	t.Helper()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Unlock("rival.admin", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	return nodeapi.NewClient(addr).As("rival/admin", k)
}

// supplyAnswers is what cl, a member that never traded product
// supplyGTIN, gets for the supply state, the product and, at paths, more;
// it fails the test unless the state is refused and the commitment of
// serial cannot be computed.
func supplyAnswers(t *testing.T, cl *nodeapi.Client, serial string, paths ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seen strings.Builder
	for _, path := range append([]string{"/v1/state?prefix=supply-", "/v1/state?prefix=supply-unit/", "/v1/supply/products/" + supplyGTIN, "/v1/state?prefix=tx/"}, paths...) {
		b, err := cl.Raw(ctx, path)
		seen.Write(b)
		if err != nil {
			seen.WriteString(err.Error())
		}
	}
	if !strings.Contains(seen.String(), "may not read state") {
		t.Fatalf("rival read the supply state:\n%s", seen.String())
	}
	if _, err := cl.SupplyCommitments(ctx, nodeapi.CommitmentsRequest{GTIN: supplyGTIN, Serials: []string{serial}}); err == nil || !strings.Contains(err.Error(), "holds no key") {
		t.Fatalf("rival computed commitments: %v", err)
	}
	return seen.String()
}

// inPlainOrBase64 are the serials in plain and in base64 at any
// alignment: what a file that holds one would contain. A base64 fragment
// under 8 characters is left out: random base64 in a node's files (its
// keys) holds one by chance now and then, so it would prove nothing.
func inPlainOrBase64(serials []string) []string {
	var out []string
	for _, s := range serials {
		out = append(out, s)
		for off := range 3 {
			e := base64.StdEncoding.EncodeToString(append(make([]byte, off), s...))
			if frag := e[4*((off+2)/3) : len(e)-4]; len(frag) >= 8 {
				out = append(out, frag)
			}
		}
	}
	return out
}
