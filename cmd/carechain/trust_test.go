package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notrustMarker is trust.Marker, read from trust/notrust.go: the release
// build does not compile that file, so this test cannot name the constant.
func notrustMarker(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("../../trust/notrust.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^const Marker = "([^"]+)"$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("trust/notrust.go declares no const Marker")
	}
	return m[1]
}

// buildSettings are the build settings `go version -m` reads from bin
// ("-tags=notrust", "CGO_ENABLED=0").
func buildSettings(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	var settings []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "build" {
			settings = append(settings, f[1])
		}
	}
	return settings
}

// hasNotrustTag reports whether settings name the notrust build tag.
func hasNotrustTag(settings []string) bool {
	for _, s := range settings {
		if tags, ok := strings.CutPrefix(s, "-tags="); ok && strings.Contains(","+tags+",", ",notrust,") {
			return true
		}
	}
	return false
}

// TestReleaseBinaryLacksTrustBypass: the release binary, built as the
// Dockerfile and .ci/deploy-check build it (scripts/build-static), has no
// trust bypass: its build settings name no notrust tag, it does not hold
// the marker only trust/notrust.go declares, and its `bench trust` refuses,
// naming the build that has the row. (TestNotrustBinaryHasBypass, in the
// run with -tags notrust, shows that the same checks find the bypass in a
// binary that has it.)
func TestReleaseBinaryLacksTrustBypass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary")
	}
	skipUnderRace(t)
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUN scripts/build-static `).Match(dockerfile) {
		t.Fatal("the Dockerfile does not build with scripts/build-static: this test builds the release binary as it does")
	}
	bin := filepath.Join(t.TempDir(), "carechain")
	if out, err := exec.Command("../../scripts/build-static", bin).CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-static: %v\n%s", err, out)
	}
	settings := buildSettings(t, bin)
	if !strings.Contains(strings.Join(settings, " "), "CGO_ENABLED=0") {
		t.Fatalf("go version -m shows no CGO_ENABLED=0 of scripts/build-static: %v", settings)
	}
	if hasNotrustTag(settings) {
		t.Errorf("the release binary is built with the notrust tag: %v", settings)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if marker := notrustMarker(t); bytes.Contains(data, marker) {
		t.Errorf("the release binary holds %q, the trust bypass's marker", marker)
	}
	out, err := exec.Command(bin, "bench", "trust").CombinedOutput()
	if err == nil {
		t.Fatalf("release binary's bench trust ran:\n%s", out)
	}
	if want := "has no trust bypass: the cost-of-trust row needs go run -tags notrust ./cmd/carechain bench trust"; !strings.Contains(string(out), want) {
		t.Errorf("release binary's bench trust says %q, want %q", out, want)
	}
}
