package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/demo"
)

// TestDemoStartsReusesAndStopsCleanly runs `carechain demo` twice on one home:
// it answers /healthz within a minute, seeds the consortium once, and a
// second run continues the same chain with nothing lost.
func TestDemoStartsReusesAndStopsCleanly(t *testing.T) {
	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)
	wantPrincipals := len(demo.Organizations()) + len(demo.StaffMembers()) + demo.PatientCount

	p := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr)
	took := waitHealthy(t, p, addr, time.Minute)
	t.Logf("first demo run answered /healthz after %v", took)
	principals := waitPrincipals(t, addr, wantPrincipals)
	var status struct{ Height int64 }
	getJSON(t, "http://"+addr+"/v1/status", &status)
	p.interrupt(t)
	if !strings.Contains(p.out.String(), "carechain demo is running") {
		t.Fatalf("demo did not print how to use it:\n%s", p.out)
	}

	p2 := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr)
	waitHealthy(t, p2, addr, time.Minute)
	again := waitPrincipals(t, addr, wantPrincipals)
	for i := range principals {
		if principals[i].ID != again[i].ID || !principals[i].PublicKey.Equal(again[i].PublicKey) {
			t.Fatalf("principal %d changed across runs: %+v vs %+v", i, principals[i], again[i])
		}
	}
	var status2 struct{ Height int64 }
	getJSON(t, "http://"+addr+"/v1/status", &status2)
	if status2.Height < status.Height {
		t.Fatalf("second run at height %d, first reached %d: chain started over", status2.Height, status.Height)
	}
	p2.interrupt(t)
	if out := p2.out.String(); !strings.Contains(out, "Reusing the demo consortium") || !strings.Contains(out, "0 identities registered now") {
		t.Fatalf("second run did not reuse the chain:\n%s", out)
	}
}

// waitPrincipals waits until the demo has seeded want principals.
func waitPrincipals(t *testing.T, addr string, want int) []carechain.Principal {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ps []carechain.Principal
		getJSON(t, "http://"+addr+"/v1/principals", &ps)
		if len(ps) == want {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo has %d principals, want %d", len(ps), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
