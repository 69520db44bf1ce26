package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPagesAndCompletion: man writes a page per command, subcommands
// included, and completion prints a script for the shell.
func TestManPagesAndCompletion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	mustRun(t, nil, "man", "--dir", dir)
	for _, page := range []string{"carechain.1", "carechain-start.1", "carechain-gov-propose.1", "carechain-claim-submit.1", "carechain-completion-bash.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), ".nh") || !strings.Contains(string(b), ".SH NAME") {
			t.Errorf("%s is not a man page:\n%.200s", page, b)
		}
	}
	start, _ := os.ReadFile(filepath.Join(dir, "carechain-start.1"))
	if !strings.Contains(string(start), "--audit-max-lag") {
		t.Errorf("carechain-start.1 lacks the flags of start:\n%s", start)
	}
	if out := mustRun(t, nil, "completion", "bash"); !strings.Contains(out, "__start_carechain") {
		t.Errorf("completion bash:\n%.300s", out)
	}
	if _, err := run(t, nil, "man"); err == nil {
		t.Error("man without --dir succeeded")
	}
}
