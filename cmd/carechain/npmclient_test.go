package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// npmClient is a small Node program under clients/ that checks what
// carechain exports with an independent library from npm.
type npmClient struct {
	dir     string // clients/<name>
	marker  string // a file under node_modules that npm ci installs
	script  string // the .mjs to run
	purpose string // for the messages: "the EPCIS validator (clients/epcis)"
}

// run runs c's script on file (made absolute), installing its locked
// dependencies first if they are missing. Without node or npm it says so
// and returns ran false, except in CI, which installs them.
func (c npmClient) run(t *testing.T, file string) (out []byte, ran bool, err error) {
	t.Helper()
	nodeBin, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and npm are needed for %s", c.purpose)
		}
		t.Logf("node or npm is not installed: %s is skipped", c.purpose)
		return nil, false, nil
	}
	if _, err := os.Stat(filepath.Join(c.dir, "node_modules", c.marker)); err != nil {
		install := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		install.Dir = c.dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", c.dir, err, out)
		}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nodeBin, c.script, abs)
	cmd.Dir = c.dir
	out, err = cmd.CombinedOutput()
	return out, true, err
}
