package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
)

// TestDemoStartsReusesAndStopsCleanly runs `carechain demo` twice on one home:
// it answers /healthz within a minute, seeds the consortium once, and a
// second run, after two runs of `carechain verify`, continues the same chain
// with nothing lost.
func TestDemoStartsReusesAndStopsCleanly(t *testing.T) {
	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)
	wantPrincipals := len(demo.Organizations()) + 1 + len(demo.StaffMembers()) + demo.PatientCount // admins, the node, staff, patients

	p := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr)
	took := waitHealthy(t, p, addr, time.Minute)
	t.Logf("first demo run answered /healthz after %v", took)
	principals := waitPrincipals(t, p, home, addr, wantPrincipals)
	waitOutput(t, p, "carechain demo is running", 3*time.Minute)
	checkDemoRecords(t, p, home, addr)
	var status struct{ Height int64 }
	getJSON(t, "http://"+addr+"/v1/status", &status)
	p.interrupt(t)
	if !strings.Contains(p.out.String(), "carechain demo is running") {
		t.Fatalf("demo did not print how to use it:\n%s", p.out)
	}
	// The README's "stop, verify, start": verify writes nothing.
	verifyTwiceChangesNothing(t, home)

	p2 := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr)
	waitHealthy(t, p2, addr, time.Minute)
	if again := waitPrincipals(t, p2, home, addr, wantPrincipals); !slices.Equal(principals, again) {
		t.Fatalf("principals changed across runs:\n%s\nvs\n%s", principals, again)
	}
	var status2 struct{ Height int64 }
	getJSON(t, "http://"+addr+"/v1/status", &status2)
	if status2.Height < status.Height {
		t.Fatalf("second run at height %d, first reached %d: chain started over", status2.Height, status.Height)
	}
	checkProofCommands(t, home, addr) // registers an auditor: after the principals are compared
	p2.interrupt(t)
	if out := p2.out.String(); !strings.Contains(out, "Reusing the demo consortium") || !strings.Contains(out, "0 identities registered now") {
		t.Fatalf("second run did not reuse the chain:\n%s", out)
	}
}

// checkDemoRecords reads demo records as the demo's users would: the patient
// lists their records, a granted physician reads for treatment and is
// refused for billing by the grant's CEL condition, and the patient's access
// log shows those attempts.
func checkDemoRecords(t *testing.T, demoRun *process, home, addr string) {
	t.Helper()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	as := func(id string) *nodeapi.Client {
		k, err := ks.Unlock(demo.KeyName(id), []byte(demo.Passphrase))
		if err != nil {
			t.Fatal(err)
		}
		return nodeapi.NewClient(addr).As(id, k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p1 := demo.PatientID(1)
	heads, err := as(p1).Records(ctx, p1, "treatment")
	if err != nil || len(heads) < 4 {
		t.Fatalf("patient's records: %+v %v", heads, err)
	}
	rec, err := as("st-mary/dr-chen").Record(ctx, "demo-01-glucose", 0, "treatment")
	if err != nil || rec.ResourceType != "Observation" || !strings.Contains(string(rec.Resource), "2345-7") {
		t.Fatalf("granted read: %+v %v", rec, err)
	}
	if _, err := as("st-mary/dr-chen").Record(ctx, "demo-01-glucose", 0, "billing"); err == nil || !strings.Contains(err.Error(), "record not found") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("billing read: %v", err)
	}
	// The README's FHIR path: a token from the CLI, then a search.
	tok := strings.TrimSpace(mustRun(t, passEnv(demo.Passphrase), "token", "--as", "st-mary/dr-chen", "--home", home, "--node", addr))
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/fhir/Observation?patient=Patient/demo-02", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		ResourceType string
		Total        int
	}
	json.NewDecoder(resp.Body).Decode(&bundle)
	resp.Body.Close()
	if resp.StatusCode != 200 || bundle.ResourceType != "Bundle" || bundle.Total < 2 {
		t.Fatalf("FHIR search with a CLI token: HTTP %d %+v", resp.StatusCode, bundle)
	}
	// A token of narrower scopes (README): Observations only, read and search.
	status := func(tok, path string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	obsOnly := strings.TrimSpace(mustRun(t, passEnv(demo.Passphrase), "token", "--as", "st-mary/dr-chen", "--scope", "system/Observation.rs", "--home", home, "--node", addr))
	if a, b := status(obsOnly, "/fhir/Observation?patient=Patient/demo-02"), status(obsOnly, "/fhir/Patient/demo-02"); a != 200 || b != 403 {
		t.Fatalf("with system/Observation.rs: Observation search %d, Patient read %d", a, b)
	}
	if out, err := run(t, passEnv(demo.Passphrase), "token", "--as", "st-mary/dr-chen", "--scope", "system/Observation.sr", "--home", home, "--node", addr); err == nil || !strings.Contains(out, "invalid_scope") {
		t.Fatalf("token with a malformed scope: %v %s", err, out)
	}
	// The demo's open correction: four signers through the CLI commit it.
	// Proposals name a patient, a record and a category: only their
	// reviewers see them.
	pass := passEnv(demo.Passphrase)
	amend := func(args ...string) string {
		return mustRun(t, pass, append(append([]string{"amend"}, args...), "--home", home, "--node", addr)...)
	}
	waiting := strings.Fields(amend("list", "--as", "st-mary/ms-reyes", "--waiting"))
	if len(waiting) < 7 || !strings.HasPrefix(waiting[6], "am-") {
		t.Fatalf("amend list --waiting for the hospital authority: %q", waiting)
	}
	id := waiting[6]
	if out := amend("list", "--as", "northlab/tech-kim"); strings.Contains(out, id) {
		t.Fatalf("a lab technician lists the X-ray's proposal: %s", out)
	}
	if _, err := nodeapi.NewClient(addr).Proposals(ctx, false); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("unsigned proposal list: %v", err)
	}
	for _, which := range []string{id, "am-000000000000"} {
		out, err := run(t, pass, "amend", "show", which, "--as", "northlab/tech-kim", "--home", home, "--node", addr)
		if err == nil || !strings.Contains(out, "proposal not found (HTTP 404)") {
			t.Fatalf("a lab technician shows proposal %s: err=%v %s", which, err, out)
		}
	}
	for i, signer := range []string{"st-mary/ms-reyes", "st-mary/dr-novak", "st-mary/dr-ito", "patient/demo-04"} {
		if out := amend("approve", id, "--as", signer); !strings.Contains(out, "committed amend.approve") {
			t.Fatalf("approval %d: %s", i, out)
		}
	}
	if out := amend("show", id, "--as", "patient/demo-04"); !strings.Contains(out, `"status": "committed"`) {
		t.Fatalf("after four approvals: %s", out)
	}
	if out := amend("list", "--as", "st-mary/dr-ito"); !strings.Contains(out, "committed") || !strings.Contains(out, "4/4") {
		t.Fatalf("amend list: %s", out)
	}
	// The access events are anchored in the background.
	var events []records.Event
	demoRun.waitFor(t, 30*time.Second, "3 events in the access log", func() error {
		events, err = as(p1).AuditLog(ctx, p1)
		if err == nil && len(events) < 3 {
			err = fmt.Errorf("%d events", len(events))
		}
		return err
	})
	if events[0].Decision != "deny" || events[0].Requester != "st-mary/dr-chen" || !strings.Contains(events[0].Reason, "condition") {
		t.Fatalf("newest event %+v", events[0])
	}
}

// checkProofCommands fetches a record's proof as the README says: unsigned
// it is refused as if absent; signed by the patient, and by an auditor an
// admin registered with "tx register --role auditor", it verifies offline.
func checkProofCommands(t *testing.T, home, addr string) {
	t.Helper()
	dir := t.TempDir()
	vals := filepath.Join(dir, "validators.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", vals)
	if out, err := run(t, nil, "proof", "record", "demo-01-glucose", "--node", addr); err == nil || !strings.Contains(out, "no such log entry") || !strings.Contains(out, "HTTP 404") {
		t.Fatalf("unsigned proof of a record: err=%v %s", err, out)
	}
	pass := passEnv(demo.Passphrase)
	mustRun(t, pass, "keys", "new", "st-mary.auditor", "--home", home)
	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", "st-mary.auditor", "--home", home))
	mustRun(t, pass, "tx", "register", "--as", "st-mary/admin", "--id", "st-mary/auditor", "--role", "auditor", "--pubkey", pub, "--home", home, "--node", addr)
	for _, as := range []string{"patient/demo-01", "st-mary/auditor"} {
		file := filepath.Join(dir, "glucose.proof.json")
		mustRun(t, pass, "proof", "record", "demo-01-glucose", "--as", as, "--home", home, "--node", addr, "-o", file)
		if out := mustRun(t, nil, "verify-proof", file, "--validators", vals); !strings.Contains(out, "verified: record demo-01-glucose/") {
			t.Fatalf("proof fetched as %s: %s", as, out)
		}
	}
	// The log at an earlier height is a prefix of the log at a later one.
	file := filepath.Join(dir, "c.json")
	mustRun(t, nil, "proof", "consistency", "--from", "2", "--to", "4", "--node", addr, "-o", file)
	if out := mustRun(t, nil, "verify-proof", file, "--validators", vals); !strings.Contains(out, "verified") {
		t.Fatalf("consistency proof: %s", out)
	}
}

// waitPrincipals waits until the demo has seeded want principals.
func waitPrincipals(t *testing.T, demoRun *process, home, addr string, want int) []string {
	t.Helper()
	var ps []string
	demoRun.waitFor(t, time.Minute, fmt.Sprintf("%d principals", want), func() error {
		// Patients are listed only to signed requests of staff, admins and nodes.
		out, err := run(t, passEnv(demo.Passphrase), "identity", "list", "--as", "st-mary/admin", "--home", home, "--node", addr)
		if err != nil {
			return fmt.Errorf("identity list: %v: %s", err, out)
		}
		ps = strings.Split(strings.TrimSpace(out), "\n")[1:] // ID, kind, org, roles, status, key
		if len(ps) != want {
			return fmt.Errorf("demo has %d principals", len(ps))
		}
		return nil
	})
	return ps
}
