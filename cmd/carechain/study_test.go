package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/fhirjson"
)

// TestStudyThroughCLI: on a node made by init, a university sponsors a
// study under City General's ethics board, through the documented CLI.
// Reporting a primary endpoint that was never registered is refused, so
// is leaving the registered one out; switching the primary endpoint is an
// amendment that changes nothing until the board decides: rejected, the
// old protocol stays in force; proposed again and approved, the report
// against it is accepted. study show lists every version with its status,
// reason and changes.
func TestStudyThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env := filepath.Join(t.TempDir(), "node"), freeAddr(t), passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "studies", "--org", "uni:research:University",
		"--org", "city:hospital:City General", "--p2p-addr", freeAddr(t), "--http-addr", addr)
	p := startProcess(t, env, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	as := func(who string, args ...string) []string {
		return append(append([]string{"study"}, args...), "--as", who, "--home", home)
	}
	refused := func(want string, args []string) {
		t.Helper()
		if out, err := run(t, env, args...); err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	results := file("results.txt", "the trial's results")
	mustRun(t, env, as("uni/admin", "register", "--id", "dm-1", "--title", "Quorvex in type 2 diabetes", "--ethics-board", "city",
		"--protocol", file("protocol.txt", "protocol v1"), "--analysis-plan", file("sap.txt", "analysis plan v1"),
		"--eligibility", "Adults 18-75 with type 2 diabetes, HbA1c 7-10%",
		"--endpoint", "primary:hba1c-12m:HbA1c change at 12 months", "--endpoint", "secondary:weight-12m:Weight change at 12 months",
		"--arm", "drug:Quorvex 10 mg", "--arm", "placebo:Placebo")...)
	refused("endpoint fpg-12m is not registered in the protocol", as("uni/admin", "report", "dm-1", "--endpoint", "fpg-12m", "--endpoint", "hba1c-12m", "--results", results))
	refused("leaves out primary endpoint hba1c-12m", as("uni/admin", "report", "dm-1", "--endpoint", "weight-12m", "--results", results))
	refused("its sponsor uni's admin does", as("city/admin", "amend", "dm-1", "--reason", "x", "--eligibility", "Adults"))

	switchPrimary := func() []string {
		return as("uni/admin", "amend", "dm-1", "--reason", "HbA1c assay withdrawn",
			"--endpoint", "primary:fpg-12m:Fasting glucose at 12 months", "--endpoint", "secondary:weight-12m:Weight change at 12 months")
	}
	if out := mustRun(t, env, switchPrimary()...); !strings.Contains(out, "amendment 2 of study dm-1 drops primary endpoint hba1c-12m; adds primary endpoint fpg-12m") {
		t.Fatalf("amend: %s", out)
	}
	refused("not registered", as("uni/admin", "report", "dm-1", "--endpoint", "fpg-12m", "--results", results))
	refused("its ethics board city's admin does", as("uni/admin", "decide", "dm-1", "--version", "2"))
	mustRun(t, env, as("city/admin", "decide", "dm-1", "--version", "2", "--reject", "--reason", "no justification for switching the primary outcome")...)
	refused("not registered", as("uni/admin", "report", "dm-1", "--endpoint", "fpg-12m", "--results", results))
	mustRun(t, env, switchPrimary()...)
	mustRun(t, env, as("city/admin", "decide", "dm-1", "--version", "3", "--reason", "the assay's withdrawal is documented")...)
	mustRun(t, env, as("uni/admin", "report", "dm-1", "--endpoint", "fpg-12m", "--endpoint", "weight-12m", "--results", results)...)

	out := mustRun(t, env, as("city/admin", "show", "dm-1")...)
	for _, want := range []string{"protocol in force: version 3", "version 1: approved", "version 2: rejected",
		"decision: no justification for switching the primary outcome", "version 3: approved", "reason: HbA1c assay withdrawn",
		"changes: drops primary endpoint hba1c-12m; adds primary endpoint fpg-12m", "report 1 against version 3 by uni/admin"} {
		if !strings.Contains(out, want) {
			t.Fatalf("study show lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, env, as("uni/admin", "show", "dm-1", "--json")...); !strings.Contains(out, `"status": "rejected"`) {
		t.Fatalf("study show --json: %s", out)
	}

	// FHIR: the protocol in force as an R4 ResearchStudy, and the rejected version by vread.
	c := &consortium{t: t, home: home, addr: addr, env: env}
	tok := c.token("city/admin")
	for path, wants := range map[string][]string{
		"/fhir/ResearchStudy/dm-1":            {`"versionId": "3"`, `fpg-12m: Fasting glucose at 12 months`, `"code": "primary"`, `"valueCode": "approved"`},
		"/fhir/ResearchStudy/dm-1/_history/2": {`"versionId": "2"`, `"valueCode": "rejected"`, "HbA1c assay withdrawn (drops primary endpoint hba1c-12m"},
	} {
		status, body := c.fhir(tok, "GET", path, "")
		if _, err := fhirjson.Parse(body); status != http.StatusOK || err != nil {
			t.Fatalf("GET %s: HTTP %d, R4: %v\n%s", path, status, err, body)
		}
		for _, w := range wants {
			if !strings.Contains(string(body), w) {
				t.Fatalf("GET %s lacks %s:\n%s", path, w, body)
			}
		}
	}
	if status, _ := c.fhir(tok, "GET", "/fhir/ResearchStudy/dm-1/_history/9", ""); status != http.StatusNotFound {
		t.Fatalf("a version that does not exist: HTTP %d", status)
	}
}
