//go:build notrust

package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestNotrustBinaryHasBypass: the binary built with -tags notrust (as
// TestMain builds it in this run) carries the notrust tag in its build
// settings and holds the bypass's marker: what
// TestReleaseBinaryLacksTrustBypass finds absent from the release binary.
func TestNotrustBinaryHasBypass(t *testing.T) {
	if !hasNotrustTag(buildSettings(t, binary)) {
		t.Errorf("go version -m %s names no notrust tag", binary)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if marker := notrustMarker(t); !bytes.Contains(data, marker) {
		t.Errorf("the notrust binary does not hold the marker %q", marker)
	}
}

// TestBenchTrustPrintsTheCostOfTrust: `carechain bench trust` of a notrust
// build, at a tiny size, warns that the binary has the bypass and prints
// each path with trust on and off and their ratio. No figure is checked
// against a time.
func TestBenchTrustPrintsTheCostOfTrust(t *testing.T) {
	out := mustRun(t, nil, "bench", "trust", "--patients", "2", "--authors", "2", "--creates", "8", "--create-clients", "2", "--reads", "8")
	if !regexp.MustCompile(`(?m)^WARNING: carechain-notrust-bypass-built-in: .*never deploy it$`).MatchString(out) {
		t.Errorf("no warning of the bypass:\n%s", out)
	}
	row := regexp.MustCompile(`(?m)^cost of trust: (.+?) \((req/s|ms)\) +(\d+\.\d\d) +(\d+\.\d\d) +(\d+\.\d{3})$`)
	got := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		on, _ := strconv.ParseFloat(m[3], 64)
		off, _ := strconv.ParseFloat(m[4], 64)
		if on <= 0 || off <= 0 {
			t.Errorf("%s: want both measures above zero: %s", m[1], m[0])
		}
		got[m[1]] = true
	}
	for _, name := range []string{"FHIR create, 2 clients", "FHIR create p50, 2 clients", "FHIR read, 1 client", "FHIR read p50, 1 client"} {
		if !got[name] {
			t.Errorf("no row %q:\n%s", name, out)
		}
	}
	if !regexp.MustCompile(`(?m)^process CPU per request \(server, client and node\): create \S+ on, \S+ off; read \S+ on, \S+ off$`).MatchString(out) {
		t.Errorf("no CPU per request:\n%s", out)
	}
}
