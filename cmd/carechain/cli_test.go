package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
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
	rolePolicyThroughCLI(t, home, addr)
	p.interrupt(t)
}

// rolePolicyThroughCLI: init gave each organization the default role
// policy, in the genesis file and on the ledger; its admin, and only its
// admin, replaces it; a misspelt policy file is refused before it is signed.
func rolePolicyThroughCLI(t *testing.T, home, addr string) {
	env := passEnv(testPassphrase)
	genesis, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil || !bytes.Contains(genesis, []byte(`"role_policy"`)) {
		t.Fatalf("genesis has no role policies (%v)", err)
	}
	// init gave each founding organization an encryption key: its public
	// key in the genesis, its private key in the home's keystore.
	var doc struct {
		AppState ledger.Genesis `json:"app_state"`
	}
	if err := json.Unmarshal(genesis, &doc); err != nil || len(doc.AppState.Organizations) != 2 {
		t.Fatalf("genesis app state: %v", err)
	}
	keys := mustRun(t, nil, "keys", "list", "--home", home)
	for _, o := range doc.AppState.Organizations {
		if len(o.EncryptionKey) == 0 || !strings.Contains(keys, o.ID+".enc") {
			t.Fatalf("organization %s: encryption key %d bytes in the genesis; keystore:\n%s", o.ID, len(o.EncryptionKey), keys)
		}
	}
	var st ledger.RolePolicyState
	if err := json.Unmarshal([]byte(mustRun(t, nil, "role-policy", "show", "hosp", "--node", addr)), &st); err != nil || st.Version != 1 {
		t.Fatalf("role-policy show: %+v %v", st, err)
	}
	if ok, _ := st.Policy.Permits(&carechain.Principal{Org: "hosp", Roles: []carechain.Role{carechain.RoleRegistrationClerk}},
		consent.ActionRead, "mental-health", consent.PurposeBilling, false); ok {
		t.Fatal("the default policy lets a clerk read mental-health records")
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, []byte(mustRun(t, nil, "role-policy", "default")), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFlags, node := []string{"--home", home}, []string{"--node", addr}
	set := func(as string, f string) (string, error) {
		return run(t, env, append(append([]string{"role-policy", "set", "--as", as, "--org", "hosp", "--file", f}, keyFlags...), node...)...)
	}
	if out, err := set("lab1/admin", file); err == nil || !strings.Contains(out, "only an admin of hosp") {
		t.Fatalf("another organization's admin set the policy: err=%v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"rules":[{"role":"nurse","raed":["lab"],"purposes":["treatment"]}]}`), 0o600)
	if out, err := set("hosp/admin", bad); err == nil || !strings.Contains(out, `unknown field "raed"`) {
		t.Fatalf("misspelt policy: err=%v %s", err, out)
	}
	if out := mustRun(t, env, append([]string{"role-policy", "set", "--as", "hosp/admin", "--org", "hosp", "--file", file}, append(keyFlags, node...)...)...); !strings.Contains(out, "committed role.policy") {
		t.Fatalf("role-policy set: %s", out)
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "role-policy", "show", "hosp", "--node", addr)), &st); err != nil || st.Version != 2 {
		t.Fatalf("role-policy show after set: %+v %v", st, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestMaxConnectionsFlag: start and demo take --max-connections; a value
// below 1 is refused with the reason before anything is created.
func TestMaxConnectionsFlag(t *testing.T) {
	for _, command := range []string{"start", "demo"} {
		home := filepath.Join(t.TempDir(), command)
		out, err := run(t, nil, command, "--home", home, "--max-connections", "0")
		if err == nil || !strings.Contains(out, "--max-connections 0: want at least 1") {
			t.Errorf("%s --max-connections 0: err=%v\n%s", command, err, out)
		}
		if _, err := os.Stat(home); !os.IsNotExist(err) {
			t.Errorf("%s --max-connections 0 created %s", command, home)
		}
		if help := mustRun(t, nil, command, "--help"); !strings.Contains(help, "--max-connections int") {
			t.Errorf("%s --help does not document --max-connections:\n%s", command, help)
		}
	}
}

// TestCORSOriginFlag: start refuses a --cors-origin that is not
// scheme://host[:port] (a wildcard included) before anything is created.
func TestCORSOriginFlag(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	out, err := run(t, nil, "start", "--home", home, "--cors-origin", "*")
	if err == nil || !strings.Contains(out, "--cors-origin: origin \"*\": want scheme://host[:port]") {
		t.Errorf("start --cors-origin '*': err=%v\n%s", err, out)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("start --cors-origin '*' created %s", home)
	}
	if help := mustRun(t, nil, "start", "--help"); !strings.Contains(help, "--cors-origin strings") {
		t.Errorf("start --help does not document --cors-origin:\n%s", help)
	}
}

// TestVersionNamesTheCommit: version prints the VCS revision recorded in
// the binary's build info ("unknown" when the build stamped none, as with
// -buildvcs=false).
func TestVersionNamesTheCommit(t *testing.T) {
	info, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "(commit unknown)"
	for _, line := range strings.Split(string(info), "\n") {
		if rev, ok := strings.CutPrefix(strings.TrimSpace(line), "build\tvcs.revision="); ok {
			want = "(commit " + rev
		}
	}
	if out := mustRun(t, nil, "version"); !strings.HasPrefix(out, "carechain ") || !strings.Contains(out, want) {
		t.Fatalf("version = %q, want %q", out, want)
	}
}
