package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPatientMergeCLI: one person registered twice at hospital hosp's desk
// (patient/m1 and patient/m2, both with self-held keys on the person's
// device). The clerk proposes with patient merge; the merge takes effect
// only after approve-merge as m2 (the survivor), then as m1. Then m2 reads
// m1's record on the device, a physician's new write for m1 is refused
// naming m2, and a second merge of m1 is refused. Each refusal is a
// message and a non-zero exit.
func TestPatientMergeCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	c.cli("keys", "new", "hosp.clerk")
	c.register("hosp/admin", "--id", "hosp/clerk", "--role", "registration-clerk", "--pubkey", c.pub("hosp.clerk"))
	device := filepath.Join(t.TempDir(), "device-keys")
	penv := passEnv("the person's own passphrase")
	patient := func(args ...string) (string, error) {
		return run(t, penv, append(args, "--keys-dir", device, "--node", c.addr)...)
	}
	for _, id := range []string{"m1", "m2"} {
		mustRun(t, penv, "keys", "new", "patient."+id, "--kind", "patient", "--keys-dir", device)
		pub := func(extra ...string) string {
			return strings.TrimSpace(mustRun(t, penv, append([]string{"keys", "export-public", "patient." + id, "--keys-dir", device}, extra...)...))
		}
		c.register("hosp/clerk", "--kind", "patient", "--id", "patient/"+id, "--pubkey", pub(), "--encryption-key", pub("--encryption"))
	}
	rec := c.observation("patient/m1", 97)

	refused := func(what, want string, out string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("%s: want a non-zero exit saying %q, got %v:\n%s", what, want, err, out)
		}
	}
	out, err := run(t, c.env, "patient", "merge", "patient/m1", "patient/m2", "--as", "hosp/dr-a", "--home", c.home)
	refused("a physician proposes", "needs an admin or registration-clerk", out, err)
	out, err = run(t, c.env, "patient", "merge", "patient/m1", "patient/m1", "--as", "hosp/clerk", "--home", c.home)
	refused("a patient merged into themself", "not a duplicate of themself", out, err)
	if out := c.cli("patient", "merge", "patient/m1", "patient/m2", "--as", "hosp/clerk"); !strings.Contains(out, "proposed: patient/m1 is a duplicate of patient/m2") {
		t.Fatalf("propose: %s", out)
	}
	out, err = patient("patient", "approve-merge", "patient/m1", "--as", "patient/m1")
	refused("the duplicate approves before the survivor", "patient/m2 accepts the merge first", out, err)
	if out, err := patient("patient", "approve-merge", "patient/m1", "--as", "patient/m2"); err != nil || !strings.Contains(out, "merge of patient/m1: accepted") {
		t.Fatalf("the survivor accepts: %v %s", err, out)
	}
	if out, err := run(t, penv, "record", "get", rec, "--as", "patient/m2", "--keys-dir", device, "--node", c.addr); err == nil {
		t.Fatalf("m2 reads m1's record before m1 signs: %s", out)
	}
	if out, err := patient("patient", "approve-merge", "patient/m1", "--as", "patient/m1"); err != nil || !strings.Contains(out, "merge of patient/m1: done") {
		t.Fatalf("the duplicate approves: %v %s", err, out)
	}
	if out, err := run(t, penv, "record", "get", rec, "--as", "patient/m2", "--keys-dir", device, "--node", c.addr); err != nil || !strings.Contains(out, "97") {
		t.Fatalf("m2 reads m1's record after the merge: %v %s", err, out)
	}
	if status, body := c.fhir(c.token("hosp/dr-a"), "POST", "/fhir/Observation", c.observationJSON("patient/m1", 98)); status != http.StatusConflict || !strings.Contains(string(body), "merged into patient/m2") {
		t.Fatalf("a write for the replaced patient: HTTP %d %s", status, body)
	}
	out, err = run(t, c.env, "patient", "merge", "patient/m1", "patient/m2", "--as", "hosp/clerk", "--home", c.home)
	refused("a second merge", "a merge is never undone", out, err)
	out, err = patient("patient", "decline-merge", "patient/m1", "--as", "patient/m2")
	refused("declining a done merge", "a merge is never undone", out, err)
}
