package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stoppedHome makes a node home with `carechain init`, runs `carechain start`
// on it until /healthz answers and stops it with Ctrl-C, as an operator
// would before `carechain verify`, once it has committed a block. It returns the home and its HTTP address.
func stoppedHome(t *testing.T) (home, addr string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home = filepath.Join(t.TempDir(), "node")
	addr = freeAddr(t)
	mustRun(t, passEnv(testPassphrase), "init", "--home", home, "--chain-id", "home-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	p.waitFor(t, time.Minute, "the first block", func() error {
		var st struct{ Height int64 }
		if code := getJSON(t, "http://"+addr+"/v1/status", &st); code != http.StatusOK || st.Height < 1 {
			return fmt.Errorf("HTTP %d, height %d", code, st.Height)
		}
		return nil
	})
	p.interrupt(t)
	return home, addr
}

// homeFiles describes every file under dir: its path, size and SHA-256.
func homeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// verifyTwiceChangesNothing runs `carechain verify` twice on a stopped
// node's home; both must pass and leave every file under the home as it
// was: same names, sizes and contents.
func verifyTwiceChangesNothing(t *testing.T, home string) {
	t.Helper()
	before := homeFiles(t, home)
	for i := range 2 {
		if out := mustRun(t, nil, "verify", "--home", home); !strings.Contains(out, "verified") {
			t.Fatalf("verify run %d: %s", i+1, out)
		}
	}
	after := homeFiles(t, home)
	for name, was := range before {
		if now, ok := after[name]; !ok {
			t.Errorf("verify removed %s", name)
		} else if now != was {
			t.Errorf("verify changed %s: %s, was %s", name, now, was)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("verify added %s", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestVerifyIsReadOnly: the README's "stop, verify, start" on a home made
// by init (TestDemoStartsReusesAndStopsCleanly does the same on the
// demo's); verify of a running node's home is refused.
func TestVerifyIsReadOnly(t *testing.T) {
	home, addr := stoppedHome(t)
	verifyTwiceChangesNothing(t, home)
	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	// A running node's home is refused, with what to do.
	if out, err := run(t, nil, "verify", "--home", home); err == nil || !strings.Contains(out, "stop the node") {
		t.Fatalf("verify of a running node's home: %v\n%s", err, out)
	}
	p.interrupt(t)
}

// TestDamagedStoreIsNamed damages the ledger's Pebble store of a stopped
// node, with and without the manifest of its clean stop (without, as after
// a crash, Pebble's own checks must find it), and CometBFT's block store.
// verify and start must each exit with status 1 and a message that names
// the file and says what to do, never a Go panic.
func TestDamagedStoreIsNamed(t *testing.T) {
	template, _ := stoppedHome(t)
	dataFile := func(h, dir string, match func(string) bool) string {
		entries, err := os.ReadDir(filepath.Join(h, "data", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if match(e.Name()) {
				return filepath.Join(h, "data", dir, e.Name())
			}
		}
		t.Fatalf("no such file in %s/data/%s", h, dir)
		return ""
	}
	flip := func(f string) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flipTable := func(h string) string {
		f := dataFile(h, "state", func(n string) bool { return strings.HasSuffix(n, ".sst") })
		flip(f)
		return filepath.Base(f)
	}
	// A small block store holds its blocks in its journal only; without
	// it, the block store is behind the state store.
	removeBlockJournal := func(h string) string {
		if err := os.Remove(dataFile(h, "blockstore.db", func(n string) bool { return strings.HasSuffix(n, ".log") })); err != nil {
			t.Fatal(err)
		}
		return "blockstore.db"
	}
	removeManifest := func(h string) string {
		f := dataFile(h, "state", func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") })
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(f)
	}
	for _, tc := range []struct {
		name   string
		damage func(h string) string // returns the name of the file it damaged
		crash  bool                  // no clean-stop manifest (files.sha256)
	}{
		{"flipped byte in a table", flipTable, false},
		{"flipped byte in a table after a crash", flipTable, true},
		{"MANIFEST removed", removeManifest, false},
		{"MANIFEST removed after a crash", removeManifest, true},
		{"block store journal removed after a crash", removeBlockJournal, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := filepath.Join(t.TempDir(), "node")
			if err := os.CopyFS(h, os.DirFS(template)); err != nil {
				t.Fatal(err)
			}
			if tc.crash {
				if err := os.Remove(filepath.Join(h, "data", "files.sha256")); err != nil {
					t.Fatal(err)
				}
			}
			file := tc.damage(h)
			for _, cmd := range []string{"verify", "start"} {
				out, err := run(t, nil, cmd, "--home", h)
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("%s on a damaged store: %v, want exit status 1\n%s", cmd, err, out)
				}
				if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
					t.Fatalf("%s panicked:\n%s", cmd, out)
				}
				if !strings.Contains(out, file) || !strings.Contains(out, "restore it from a backup") {
					t.Fatalf("%s: the message does not name %s and say what to do:\n%s", cmd, file, out)
				}
				t.Logf("%s: %s", cmd, lastLines(out, 2))
			}
		})
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestRelativeHome runs every command that takes a home or a directory
// with a relative one, from the test's own working directory.
func TestRelativeHome(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node subprocesses")
	}
	t.Chdir(t.TempDir())
	env := passEnv(testPassphrase)
	addr := freeAddr(t)
	mustRun(t, env, "init", "--home", "h1", "--chain-id", "rel-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	mustRun(t, env, "keys", "new", "hosp.dr-a", "--home", "h1")
	mustRun(t, env, "keys", "new", "other", "--keys-dir", "h1/keys")
	if list := mustRun(t, nil, "keys", "list", "--home", "h1"); !strings.Contains(list, "hosp.dr-a") || !strings.Contains(list, "other") {
		t.Fatalf("keys list --home h1:\n%s", list)
	}
	p := startProcess(t, nil, "start", "--home", "h1")
	waitHealthy(t, p, addr, time.Minute)
	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", "hosp.dr-a", "--home", "h1"))
	mustRun(t, env, "tx", "register", "--home", "h1", "--node", addr, "--as", "hosp/admin", "--id", "hosp/dr-a",
		"--role", "physician", "--pubkey", pub)
	p.interrupt(t)
	mustRun(t, nil, "verify", "--home", "h1")

	// A second node joins with the first one's genesis, named relatively.
	mustRun(t, env, "init", "--home", "h2", "--genesis", "h1/config/genesis.json", "--p2p-addr", freeAddr(t), "--http-addr", freeAddr(t))

	mustRun(t, env, "testnet", "--validators", "1", "--dir", "tn", "--chain-id", "rel-tn", "--base-port", "0")
	tn := startProcess(t, nil, "start", "--home", "tn/node0")
	waitOutput(t, tn, "serving http://", time.Minute)
	tn.interrupt(t)

	demoAddr := freeAddr(t)
	d := startProcess(t, nil, "demo", "--home", "demo", "--http-addr", demoAddr)
	waitHealthy(t, d, demoAddr, time.Minute)
	d.interrupt(t)
}

// TestStartFailureIsAnError: a start that fails after the ledger's state is
// open (here CometBFT cannot read the genesis) exits with the reason, not a
// nil-pointer panic of its cleanup.
func TestStartFailureIsAnError(t *testing.T) {
	home, _ := stoppedHome(t)
	if err := os.Remove(filepath.Join(home, "config", "genesis.json")); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "start", "--home", home)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || strings.Contains(out, "panic") || !strings.Contains(out, "genesis.json") {
		t.Fatalf("start without a genesis: %v, want exit status 1 naming genesis.json\n%s", err, out)
	}
}
