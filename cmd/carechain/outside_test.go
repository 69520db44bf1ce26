package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecordsOutsideTheDemo: a consortium founded with init, no demo code.
// init made the organization's encryption key; keys new --kind patient makes
// a patient's signing and encryption keys, and tx register carries the
// encryption key; a physician then writes a record through FHIR and the
// patient reads it with the CLI. The commands find the node from --home's
// config (its HTTP port is not the default): no --node.
func TestRecordsOutsideTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "outside", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	keys := []string{"--home", home}
	mustRun(t, env, append([]string{"keys", "new", "hosp.dr-a"}, keys...)...)
	if out := mustRun(t, env, append([]string{"keys", "new", "patient.k7q2m9", "--kind", "patient"}, keys...)...); !strings.Contains(out, "patient.k7q2m9.enc") {
		t.Fatalf("keys new --kind patient: %s", out)
	}
	if out, err := run(t, env, append([]string{"keys", "new", "k7q2m9", "--kind", "patient"}, keys...)...); err == nil || !strings.Contains(out, "patient.<pseudonym>") {
		t.Fatalf("a patient key not named patient.<pseudonym>: err=%v %s", err, out)
	}
	// The node holds the staff key, but not the patient's: those open only
	// when the patient signs in (TestCustodyAndKeysAddedLater).
	p := startProcess(t, env, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)

	pub := func(name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, env, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	reg := func(args ...string) {
		t.Helper()
		out := mustRun(t, env, append(append([]string{"tx", "register", "--as", "hosp/admin"}, args...), keys...)...)
		if !strings.Contains(out, "committed identity.register") {
			t.Fatalf("register %v: %s", args, out)
		}
	}
	reg("--id", "hosp/dr-a", "--role", "physician", "--pubkey", pub("hosp.dr-a"))
	reg("--kind", "patient", "--id", "patient/k7q2m9", "--pubkey", pub("patient.k7q2m9"), "--encryption-key", pub("patient.k7q2m9", "--encryption"))

	tok := strings.TrimSpace(mustRun(t, env, append([]string{"token", "--as", "hosp/dr-a"}, keys...)...))
	id := writeObservation(t, addr, tok)
	got := mustRun(t, env, append([]string{"record", "get", id, "--as", "patient/k7q2m9"}, keys...)...)
	if !strings.Contains(got, "2345-7") {
		t.Fatalf("the patient reads their record: %s", got)
	}
	p.interrupt(t)
}
