//go:build !notrust

package main

import (
	"strings"
	"testing"
)

// TestBenchTrustRefusesWithoutTheTag: `carechain bench trust` of a build
// without -tags notrust fails, starting no node, and names the command
// that measures the row.
func TestBenchTrustRefusesWithoutTheTag(t *testing.T) {
	out, err := run(t, nil, "bench", "trust")
	if err == nil {
		t.Fatalf("bench trust ran without the notrust tag:\n%s", out)
	}
	if want := "go run -tags notrust ./cmd/carechain bench trust"; !strings.Contains(out, want) {
		t.Errorf("bench trust says %q, want %q", out, want)
	}
}
