package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsSayWhatToDoNext: the common mistakes end in a hint naming the
// next step, and a non-zero exit.
func TestErrorsSayWhatToDoNext(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	mustRun(t, passEnv(testPassphrase), "keys", "new", "hosp.dr-a", "--keys-dir", dir)
	cases := []struct {
		name string
		env  []string
		args []string
		hint string
	}{
		{"wrong passphrase", passEnv("not the passphrase"), []string{"keys", "show", "hosp.dr-a", "--check", "--keys-dir", dir}, "use the one the key was made with"},
		{"no such key", passEnv(testPassphrase), []string{"keys", "show", "hosp.dr-b", "--keys-dir", dir}, "carechain keys list"},
		{"no node", passEnv(testPassphrase), []string{"consent", "list", "--as", "hosp/dr-a", "--key", "hosp.dr-a", "--keys-dir", dir, "--node", freeAddr(t)}, "carechain start"},
	}
	for _, c := range cases {
		out, err := run(t, c.env, c.args...)
		if err == nil || !strings.Contains(out, "hint: ") || !strings.Contains(out, c.hint) {
			t.Errorf("%s: err=%v, output %q lacks the hint %q", c.name, err, out, c.hint)
		}
	}
}

// TestIdentifiedGrantIsForResearch: consent grant --identified without the
// purpose research is refused before any key is opened, saying why.
func TestIdentifiedGrantIsForResearch(t *testing.T) {
	out, err := run(t, passEnv(testPassphrase), "consent", "grant", "--as", "patient/k7q2m9", "--to", "uni-lab/dr-park",
		"--category", "*", "--identified", "--keys-dir", t.TempDir())
	if err == nil || !strings.Contains(out, "identified is for research grants") {
		t.Errorf("identified treatment grant: err=%v %s", err, out)
	}
}
