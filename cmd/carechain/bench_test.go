package main

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/trust"
)

// TestBenchSyncReportsACaughtUpNode: `carechain bench sync` at a small size
// reports the joined node at the validator's height with its app hash, and
// the rates.
func TestBenchSyncReportsACaughtUpNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	out := mustRun(t, nil, "bench", "sync", "--records", "100", "--authors", "2")
	for _, want := range []string{
		`chain: 108 records .* in \d+ blocks`,
		`write \(validator, 100 record.puts\): +\S+ +\d+ records/s`,
		`sync \(joining node, whole chain\): +\S+ +\d+ records/s +[\d.]+ blocks/s`,
		`joined node at height \d+: app hash [0-9A-F]{64}, as the validator's`,
		`ratio sync/write \(records/s\): +\d+\.\d\d`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchBackupReportsTheRatio: `carechain bench backup` at a small size
// backs a node up, restores it and reports the times and the ratio.
func TestBenchBackupReportsTheRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	out := mustRun(t, nil, "bench", "backup", "--records", "100")
	for _, want := range []string{
		`chain: \d+ records in \d+ blocks, data directory [\d.]+ MB; backup file [\d.]+ MB`,
		`backup of the running node: +\S+ +[\d.]+ MB/s`,
		`first start of the restored node: +\S+`,
		`ratio backup/copy: +\d+\.\d\d`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchSearchReportsRatiosToARead: `carechain bench search` at a tiny
// size loads the patients, and reports each kind of request with its count,
// its matches (a read finds its one record; searches across patients find
// only what the patients who granted let through) and p50 <= p99, as
// ratios to the read's.
func TestBenchSearchReportsRatiosToARead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	out := mustRun(t, nil, "bench", "search", "--patients", "20", "--records", "3", "--queries", "12", "--loaders", "4")
	for _, want := range []string{
		`data: 20 patients x 3 records = 60 records \(a Patient and 2 Observations each; 1 panel codes, ~20 records each\); 10 patients grant read access`,
		`load: registrations \S+; records \S+ \(\d+ records/s, a batch per patient, 4 authors\); grants \S+; index caught up \S+ later`,
		`disk: search index [\d.]+ MB, node home [\d.]+ MB`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// request, queries, results, p50, p99, p50/read, p99/read
	row := regexp.MustCompile(`(?m)^(.+?) +(\d+) +([\d.]+) +(\S+) +(\S+) +([\d.]+) +([\d.]+)$`)
	results := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		p50, err1 := time.ParseDuration(m[4])
		p99, err2 := time.ParseDuration(m[5])
		r50, _ := strconv.ParseFloat(m[6], 64)
		r99, _ := strconv.ParseFloat(m[7], 64)
		if m[2] != "12" || err1 != nil || err2 != nil || p50 <= 0 || p50 > p99 || r50 <= 0 || r99 <= 0 {
			t.Errorf("%s: want 12 queries, 0 < p50 <= p99 and ratios > 0:\n%s", m[1], m[0])
		}
		results[m[1]] = m[3]
	}
	for name, want := range map[string]string{
		"read Patient/{id} (baseline)":            "1.0",
		"one patient: Observation?patient=&code=": "1.0",  // the one Observation with a LOINC code
		"index: Patient?identifier=":              "0.5",  // half of the patients granted
		"index: Patient?family=&birthdate=":       "0.5",  // one Patient each, likewise
		"index: Observation?code= (panel)":        "10.0", // every patient's panel Observation, of those who granted
	} {
		if got, ok := results[name]; !ok || got != want {
			t.Errorf("%s: %q results per request, want %s:\n%s", name, got, want, out)
		}
	}
}

// TestBenchAllPrintsEveryRow: `carechain bench all` at a tiny scale prints
// the machine, the configuration and every row with a measure, its same-run
// baseline, their ratio and the target. No figure is checked against a
// time: these are measurements.
func TestBenchAllPrintsEveryRow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several nodes")
	}
	out := mustRun(t, nil, "bench", "all", "--scale", "0.01", "--create-clients", "4,8", "--read-clients", "1,8", "--bundle-clients", "2")
	for _, want := range []string{
		`machine: \d+ CPUs, GOMAXPROCS=\d+, go\S+ \S+/\S+; whole run \S+`,
		`config: 1 validator per benchmark`,
		`process CPU per tx: ledger \d[^ ]*s \(accept-all \d[^ ]*s, ratio \d+\.\d\d\); record\.put \d[^ ]*s \(no-op ledger \d[^ ]*s, ratio \d+\.\d\d\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// row (unit), measured, baseline, baseline is, ratio, target, met
	row := regexp.MustCompile(`(?m)^(.+?) \((tx/s|req/s|resources/s|ms)\) +(\d+\.\d\d) +(\d+\.\d\d) +(.+?) +(\d+\.\d{3}) +(-|ratio [<>=]+ [\d.]+|[<>=]+ [\d.]+) +(yes|no|-)$`)
	got := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		measured, _ := strconv.ParseFloat(m[3], 64)
		baseline, _ := strconv.ParseFloat(m[4], 64)
		if measured <= 0 || baseline <= 0 {
			t.Errorf("%s: want a measure and a baseline above zero:\n%s", m[1], m[0])
		}
		got[m[1]] = true
	}
	for _, name := range []string{
		"ledger: signed txs committed",
		"ledger: signed txs committed, 4 validators",
		"records: record.put committed",
		"FHIR create, 4 clients", "FHIR create p50, 4 clients", "FHIR create, 8 clients", "FHIR create p50, 8 clients",
		"FHIR transaction Bundles of 100, 2 clients",
		"FHIR read, 1 client", "FHIR read p50, 1 client", "FHIR read, 8 clients", "FHIR read p50, 8 clients",
		"search p50: one patient: Observation?patient=&code=", "search p99: one patient: Observation?patient=&code=",
		"search p50: index: Patient?identifier=", "search p99: index: Observation?code= (panel)",
		"supply: verify with bundle, 4 clients", "supply: verify with bundle p50, 4 clients",
	} {
		if !got[name] {
			t.Errorf("no row %q:\n%s", name, out)
		}
	}
	checkTrustRows(t, out, got)
}

// checkTrustRows checks the cost-of-trust rows of bench all's output (rows
// got): in a build with -tags notrust, each path at the default
// concurrencies against trust off; in any other, none, and a line that
// says the rows need that build.
func checkTrustRows(t *testing.T, out string, got map[string]bool) {
	t.Helper()
	names := []string{"cost of trust: FHIR create, 64 clients", "cost of trust: FHIR create p50, 64 clients",
		"cost of trust: FHIR read, 1 client", "cost of trust: FHIR read p50, 1 client"}
	missing := "cost of trust: not measured: this binary has no trust bypass: the cost-of-trust row needs go run -tags notrust ./cmd/carechain bench trust"
	for _, name := range names {
		if got[name] != trust.Built {
			t.Errorf("row %q printed: %v, want %v (notrust build):\n%s", name, got[name], trust.Built, out)
		}
	}
	if strings.Contains(out, missing) == trust.Built {
		t.Errorf("line %q printed: %v, want %v (notrust build):\n%s", missing, !trust.Built, !trust.Built, out)
	}
}

// TestBenchSupplyReports: `carechain bench supply --private` at a small size
// commissions and ships the serials in batches and reports the rates, the
// state bytes per serial, the verifications without and with bundles
// (p50 <= p99) with their ratios, and the offline check; then, for a
// private product on a fresh node, every figure above zero with its ratio,
// and every scan of a commissioned unit judged genuine.
func TestBenchSupplyReports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	out := mustRun(t, nil, "bench", "supply", "--serials", "2000", "--batch", "1000", "--verifications", "200", "--clients", "2", "--private")
	for _, want := range []string{
		`serials: 2000 in batches of 1000`,
		`commission: +\d+ serials/s`,
		`ship: +\d+ serials/s`,
		`state store per serial: +\d+ bytes \(data directory \d+ bytes\)`,
		`verify \(baseline, no proof\): +p50 +[\d.]+ ms +p99 +[\d.]+ ms +\d+ verifications/s \(2 clients\)`,
		`verify with bundle: +p50 +[\d.]+ ms +p99 +[\d.]+ ms +\d+ verifications/s \(\d+-byte bundle\)`,
		`ratio with bundle/baseline: +p50 +[\d.]+ +p99 +[\d.]+ +rate [\d.]+`,
		`offline check of a bundle: +\d+ bundles/s \(each checkpoint.s signatures verified\)`,
		`checkpoints remembered: +\d+ bundles/s \(ratio [\d.]+\)`,
		`private product \(a fresh node; \d+ batches in flight through the node's path; ratio private/ordinary\):`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`verify with bundle: +p50 +([\d.]+) ms +p99 +([\d.]+) ms`).FindStringSubmatch(out); m != nil {
		a, _ := strconv.ParseFloat(m[1], 64)
		if b, _ := strconv.ParseFloat(m[2], 64); a > b {
			t.Errorf("p50 %v above p99 %v", a, b)
		}
	}
	checkPrivateSupplyFigures(t, out)
}

// checkPrivateSupplyFigures checks every line of `bench supply --private`'s
// private product: each figure present and above zero (but the receive's
// change of the store, which may shrink), p50 <= p99, and the verdicts all
// genuine.
func checkPrivateSupplyFigures(t *testing.T, out string) {
	t.Helper()
	n := `([\d.]+)`
	verify := func(phase, how, tail string) string {
		return `verify ` + phase + ` +` + how + `: +p50 +` + n + ` ms +p99 +` + n + ` ms +` + n + ` verifications/s \(` + tail + `; rate ratio ` + n + `\)`
	}
	for _, want := range []string{
		`  commission: +` + n + ` serials/s \(ratio ` + n + `\)`,
		`  ship \(two rounds, sealed\): +` + n + ` serials/s \(ratio ` + n + `\)`,
		`  receive at the hospital: +` + n + ` serials/s`,
		`  state store per serial: +` + n + ` bytes \(ratio ` + n + `; data directory ` + n + ` bytes, ratio ` + n + `\)`,
		`  supply journal per serial: +` + n + ` bytes`,
		verify("in transit", `\(no proof\)`, `2 clients`),
		verify("in transit", "with bundle", n+`-byte bundle`),
		verify("received", `\(no proof\)`, `2 clients`),
		verify("received", "with bundle", n+`-byte bundle`),
		`  offline check, in transit: +` + n + ` bundles/s \(ratio ` + n + `\); checkpoints remembered ` + n + ` bundles/s \(ratio ` + n + `\)`,
	} {
		m := regexp.MustCompile(want).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("output lacks %q:\n%s", want, out)
			continue
		}
		v := make([]float64, len(m)-1)
		for i, f := range m[1:] {
			if v[i], _ = strconv.ParseFloat(f, 64); v[i] <= 0 {
				t.Errorf("figure #%d of %q is %s, want above zero", i+1, m[0], f)
			}
		}
		if strings.Contains(want, "p50") && v[0] > v[1] {
			t.Errorf("p50 %v above p99 %v in %q", v[0], v[1], m[0])
		}
	}
	// A receive deletes the shipments' entries: the store may shrink.
	if !regexp.MustCompile(`  receive, per serial: +-?[\d.]+ bytes of state store \(data directory -?[\d.]+ bytes\)`).MatchString(out) {
		t.Errorf("output lacks the receive's bytes per serial:\n%s", out)
	}
	m := regexp.MustCompile(`verdicts: (\d+) of (\d+) scans of commissioned units genuine in every verification .*; (\d+) scans of serials never commissioned refused`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] != "180" || m[3] != "20" {
		t.Errorf("verdicts %q, want 180 of 180 genuine and 20 refused:\n%s", m, out)
	}
}

// TestBenchScaleReports: `carechain bench scale` at two small sizes prints
// a row per size, smallest first, with every column (rates and times above
// zero, p50 <= p99, the growth of the stores, the memory), then each size's
// per-record figures over the smallest's. No figure is checked against a
// time: these are measurements.
func TestBenchScaleReports(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four nodes")
	}
	out := mustRun(t, nil, "bench", "scale", "--records", "400,200", "--reads", "100")
	if want := `config: each size on its own fresh one-validator node \(timeout_commit=0s\), smallest first; 8 authors x window 200, 32 patients; ` +
		`record.put of a \d+-byte Observation \(tx \d+ bytes\); 100 random reads per size`; !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	// records, write/s, read p50, read p99, state B/rec, data B/rec, RSS MB, heap MB, verify s, verify us/rec, sync s, sync/s
	row := regexp.MustCompile(`(?m)^ +(\d+)((?: +(?:[\d.]+|n/a)){11})$`)
	var sizes []string
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		sizes = append(sizes, m[1])
		f := strings.Fields(m[2])
		v := make([]float64, len(f))
		for i, s := range f {
			v[i], _ = strconv.ParseFloat(s, 64)
		}
		rssKnown := runtime.GOOS == "linux"
		if (f[6] == "n/a") == rssKnown {
			t.Errorf("%s records: RSS %q on %s", m[1], f[6], runtime.GOOS)
		}
		for i, name := range []string{"write/s", "read p50", "read p99", "state B/rec", "data B/rec", "RSS MB", "heap MB", "verify s", "verify us/rec", "sync s", "sync/s"} {
			if v[i] <= 0 && (i != 5 || rssKnown) {
				t.Errorf("%s records: %s %s, want above zero:\n%s", m[1], name, f[i], m[0])
			}
		}
		if v[1] > v[2] {
			t.Errorf("%s records: read p50 %s above p99 %s", m[1], f[1], f[2])
		}
	}
	if got := strings.Join(sizes, ","); got != "200,400" {
		t.Errorf("rows for %s records, want 200,400:\n%s", got, out)
	}
	_, ratios, ok := strings.Cut(out, "per record, relative to 200 records (1.00 is flat):\n")
	if !ok {
		t.Fatalf("no ratios:\n%s", out)
	}
	// records, write/s, read p50, read p99, state B/rec, data B/rec, verify us/rec, sync/s
	ratio := regexp.MustCompile(`(?m)^ +(200|400)((?: +\d+\.\d\d){7})$`)
	ms := ratio.FindAllStringSubmatch(ratios, -1)
	if len(ms) != 2 || ms[0][1] != "200" || ms[1][1] != "400" {
		t.Fatalf("want ratio rows for 200 and 400 records:\n%s", ratios)
	}
	if f := strings.Fields(ms[0][2]); strings.Join(f, " ") != "1.00 1.00 1.00 1.00 1.00 1.00 1.00" {
		t.Errorf("the smallest size over itself: %v, want 1.00 each", f)
	}
	for _, s := range strings.Fields(ms[1][2]) {
		if v, _ := strconv.ParseFloat(s, 64); v <= 0 {
			t.Errorf("400 records: ratio %s, want above zero:\n%s", s, ms[1][0])
		}
	}
}
