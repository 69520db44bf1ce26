package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestStatus starts a node with its records API, runs `carechain status`
// against it, and checks that every metric the alerting rules and the
// Grafana dashboard (deploy/) name is in its real /metrics. Once the node
// is stopped, status fails.
func TestStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "status-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	p := startProcess(t, env, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)

	out := mustRun(t, nil, "status", "--home", home)
	for _, want := range []string{"chain           status-test", "node principal  hosp/", "catching up     no",
		"block times     proposer's clock (PBTS) from height 1",
		"single validator", "access log", "disk (home)", "/healthz        ok", "/readyz         ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	t.Logf("carechain status:\n%s", out)
	scraped := scrapeNames(t, "http://"+addr+"/metrics")
	for _, name := range deployedMetrics(t) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !scraped[name] && !scraped[base] && !notScraped[name] {
			t.Errorf("deploy/ names metric %s, which a node's /metrics lacks", name)
		}
	}

	p.interrupt(t)
	if out, err := run(t, nil, "status", "--node", addr); err == nil {
		t.Errorf("status of a stopped node succeeded:\n%s", out)
	}
}

// notScraped are the metrics deploy/ may name that this test's node does
// not export: up is Prometheus's own; the certificate's expiry comes only
// from a node serving TLS (nodeapi TestCertExpiryMetric).
var notScraped = map[string]bool{
	"up": true,
	"carechain_tls_certificate_expiry_timestamp_seconds": true,
}

// scrapeNames returns the metric names in url's Prometheus exposition.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	return names
}

// deployedMetrics returns every metric named in the expressions of the
// alerting rules and the dashboard's targets.
func deployedMetrics(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..", "deploy")
	b, err := os.ReadFile(filepath.Join(root, "prometheus", "carechain.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("rules: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	if b, err = os.ReadFile(filepath.Join(root, "grafana", "carechain.json")); err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	var names []string
	for _, e := range exprs {
		names = append(names, promqlMetrics(e)...)
	}
	if len(exprs) < 20 || len(names) < 20 {
		t.Fatalf("read only %d expressions naming %d metrics from deploy/", len(exprs), len(names))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	// Parts of a PromQL expression that name no metric: label matchers and
	// strings, range selectors, grouping clauses, function calls.
	promqlNoise = regexp.MustCompile(`\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\b[a-z_]+\s*\(`)
	promqlIdent = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// promqlMetrics returns the metric names expr selects.
func promqlMetrics(expr string) []string {
	var names []string
	for stripped := ""; stripped != expr; { // until no noise is left (sum by (…) (rate(…)))
		stripped, expr = expr, promqlNoise.ReplaceAllString(expr, " ")
	}
	for _, id := range promqlIdent.FindAllString(expr, -1) {
		if !promqlWords[id] {
			names = append(names, id)
		}
	}
	return names
}
