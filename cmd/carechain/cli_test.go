package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
)

func TestKeysEncryptedAtRestAndWrongPassphrase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out := mustRun(t, passEnv(testPassphrase), "keys", "new", "alice", "--keys-dir", dir)
	if !strings.Contains(out, "public key") {
		t.Fatalf("keys new: %s", out)
	}
	file := filepath.Join(dir, "alice.key")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(file)

	out, err = run(t, passEnv("wrong"), "keys", "show", "alice", "--check", "--keys-dir", dir)
	if err == nil || !strings.Contains(out, "wrong passphrase") {
		t.Fatalf("wrong passphrase: err=%v out=%s", err, out)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatal("a failed unlock changed the key file")
	}
	mustRun(t, passEnv(testPassphrase), "keys", "show", "alice", "--check", "--keys-dir", dir)

	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", "alice", "--keys-dir", dir))
	if list := mustRun(t, nil, "keys", "list", "--keys-dir", dir); !strings.Contains(list, pub) {
		t.Fatalf("list does not show %s:\n%s", pub, list)
	}
	if out, err := run(t, passEnv(testPassphrase), "keys", "new", "alice", "--keys-dir", dir); err == nil {
		t.Fatalf("creating alice twice succeeded: %s", out)
	}
	if out, err := run(t, nil, "keys", "new", "bob", "--keys-dir", dir); err == nil || !strings.Contains(out, PassphraseEnv) {
		t.Fatalf("no passphrase and no terminal: err=%v out=%s", err, out)
	}
}

// TestIdentityLifecycleThroughCLI drives a node with the commands an operator
// would type: register staff, query at a height, rotate, revoke, and see a
// revoked key refused.
func TestIdentityLifecycleThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "cli-test", "--org", "hosp:hospital:Hospital",
		"--org", "lab1:lab:Lab One", "--p2p-addr", freeAddr(t), "--http-addr", addr)
	if out, err := run(t, env, "init", "--home", home, "--org", "x:hospital"); err == nil {
		t.Fatalf("second init on the same home succeeded: %s", out)
	}
	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)

	keys := []string{"--home", home}
	node := []string{"--node", addr}
	mustRun(t, env, append([]string{"keys", "new", "hosp.dr-a"}, keys...)...)
	mustRun(t, env, append([]string{"keys", "new", "dr-a-2"}, keys...)...)
	pub := strings.TrimSpace(mustRun(t, nil, append([]string{"keys", "export-public", "hosp.dr-a"}, keys...)...))

	out := mustRun(t, env, append(append([]string{"tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-a",
		"--role", "physician", "--name", "Dr A", "--pubkey", pub}, keys...), node...)...)
	if !strings.Contains(out, "committed identity.register") {
		t.Fatalf("register: %s", out)
	}
	var at struct {
		Principal carechain.Principal
		Height    int64
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "identity", "show", "hosp/dr-a", "--node", addr)), &at); err != nil {
		t.Fatal(err)
	}
	if at.Principal.Org != "hosp" || !at.Principal.HasRole(carechain.RolePhysician) {
		t.Fatalf("identity show: %+v", at)
	}
	registeredAt := at.Principal.RegisteredAt

	// Unauthorized: the lab's admin may not register the hospital's staff.
	out, err := run(t, env, append(append([]string{"tx", "register", "--as", "lab1/admin", "--id", "hosp/dr-b", "--pubkey", pub}, keys...), node...)...)
	if err == nil || !strings.Contains(out, "unauthorized") {
		t.Fatalf("lab admin registering hospital staff: err=%v %s", err, out)
	}

	mustRun(t, env, append(append([]string{"tx", "rotate", "--as", "hosp/dr-a", "--new-key", "dr-a-2"}, keys...), node...)...)
	if err := json.Unmarshal([]byte(mustRun(t, nil, "identity", "show", "hosp/dr-a", "--node", addr)), &at); err != nil {
		t.Fatal(err)
	}
	if at.Principal.KeyVersion != 2 {
		t.Fatalf("after rotate: %+v", at.Principal)
	}
	// History: at the registration height the first key is still shown.
	var old struct{ Principal carechain.Principal }
	json.Unmarshal([]byte(mustRun(t, nil, "identity", "show", "hosp/dr-a", "--node", addr, "--height", itoa(registeredAt))), &old)
	if old.Principal.KeyVersion != 1 {
		t.Fatalf("at height %d: %+v", registeredAt, old.Principal)
	}

	// The old key no longer signs.
	out, err = run(t, env, append(append([]string{"tx", "revoke", "--as", "hosp/dr-a", "--key", "hosp.dr-a", "--id", "hosp/dr-a"}, keys...), node...)...)
	if err == nil || !strings.Contains(out, "bad_signature") {
		t.Fatalf("old key after rotation: err=%v %s", err, out)
	}
	mustRun(t, env, append(append([]string{"tx", "revoke", "--as", "hosp/admin", "--id", "hosp/dr-a", "--reason", "left"}, keys...), node...)...)
	out, err = run(t, env, append(append([]string{"tx", "revoke", "--as", "hosp/dr-a", "--key", "dr-a-2", "--id", "hosp/dr-a"}, keys...), node...)...)
	if err == nil || !strings.Contains(out, "revoked_signer") {
		t.Fatalf("revoked key: err=%v %s", err, out)
	}
	if list := mustRun(t, nil, "identity", "list", "--node", addr, "--org", "hosp"); !strings.Contains(list, "revoked") {
		t.Fatalf("identity list:\n%s", list)
	}
	p.interrupt(t)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
