package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/carechain/carechain/trust"
)

// AllOptions configure All: the options of each benchmark it runs.
type AllOptions struct {
	Ledger LedgerOptions
	// Validators4 is the ledger run on four validators in this process.
	Validators4 LedgerOptions
	Records     RecordsOptions
	API         APIOptions
	Search      SearchOptions
	Supply      SupplyOptions
	// Trust is the cost-of-trust row, measured only in a build with -tags
	// notrust (package trust).
	Trust TrustOptions
}

// DefaultAllOptions are what `carechain bench all` runs with: sizes that keep
// the whole run to a few minutes on a 2-core machine.
func DefaultAllOptions() AllOptions {
	return AllOptions{
		Ledger:      LedgerOptions{Txs: 8000, Signers: 8, Window: 1000, MempoolSize: 20000},
		Validators4: LedgerOptions{Txs: 4000, Signers: 8, Window: 500, MempoolSize: 20000, Validators: 4},
		Records:     RecordsOptions{Puts: 4000, Authors: 8, Patients: 4, Reads: 1000, Window: 200},
		API:         DefaultAPIOptions(),
		Search:      SearchOptions{Patients: 1000, Records: 20, Granted: 0.5, Queries: 200, Clients: 1, Loaders: 16},
		Supply:      SupplyOptions{Serials: 20000, Batch: 1000, Verifications: 2000, Clients: 4},
		Trust:       DefaultTrustOptions(),
	}
}

// Scaled is o with every count of transactions, requests and patients
// multiplied by f (at least what each benchmark needs); concurrency and
// windows stay as they are.
func (o AllOptions) Scaled(f float64) AllOptions {
	n := func(v, least int) int { return max(least, int(float64(v)*f)) }
	o.Ledger.Txs = n(o.Ledger.Txs, o.Ledger.Signers)
	o.Validators4.Txs = n(o.Validators4.Txs, o.Validators4.Signers)
	o.Records.Puts = n(o.Records.Puts, o.Records.Authors)
	o.Records.Reads = n(o.Records.Reads, 1)
	o.API.Patients = n(o.API.Patients, 1)
	o.API.Creates = n(o.API.Creates, 1)
	o.API.Reads = n(o.API.Reads, 1)
	o.API.Bundles = n(o.API.Bundles, 1)
	o.Search.Patients = n(o.Search.Patients, 2)
	o.Search.Queries = n(o.Search.Queries, 1)
	o.Supply.Serials = n(o.Supply.Serials, 1)
	o.Supply.Verifications = n(o.Supply.Verifications, 10)
	o.Trust.Patients = n(o.Trust.Patients, 1)
	o.Trust.Creates = n(o.Trust.Creates, 1)
	o.Trust.Reads = n(o.Trust.Reads, 1)
	return o
}

// Goal is an issue's target for a row: a bound on the measure or, if
// OfRatio, on its ratio to the same-run baseline. A zero Goal is none.
type Goal struct {
	Value   float64
	Below   bool // the measure must stay below Value (latencies), else reach it
	OfRatio bool
}

// String is the goal as printed: "ratio >= 0.50", "< 50", "-".
func (g Goal) String() string {
	if g.Value == 0 {
		return "-"
	}
	op := ">="
	if g.Below {
		op = "<"
	}
	if g.OfRatio {
		return fmt.Sprintf("ratio %s %.2f", op, g.Value)
	}
	return fmt.Sprintf("%s %g", op, g.Value)
}

// Row is one measure of All with its same-run baseline.
type Row struct {
	Name     string
	Unit     string // of Measured and Baseline: "tx/s", "req/s", "ms"
	Measured float64
	Baseline float64
	// BaselineName says what Baseline is: a ceiling of the same setup or a
	// cheaper request of the same run.
	BaselineName string
	Goal         Goal
}

// Ratio is Measured over Baseline.
func (r Row) Ratio() float64 { return r.Measured / r.Baseline }

// Met says whether the row reaches its goal (true for no goal).
func (r Row) Met() bool {
	v := r.Measured
	if r.Goal.OfRatio {
		v = r.Ratio()
	}
	switch {
	case r.Goal.Value == 0:
		return true
	case r.Goal.Below:
		return v < r.Goal.Value
	default:
		return v >= r.Goal.Value
	}
}

// AllReport is the outcome of All: every row, measured in one run, and the
// machine it ran on.
type AllReport struct {
	Options     AllOptions
	CPUs        int // runtime.NumCPU
	GOMAXPROCS  int
	GoVersion   string
	Platform    string // GOOS/GOARCH
	Elapsed     time.Duration
	Ledger      LedgerReport
	Validators4 LedgerReport
	Records     RecordsReport
	API         APIReport
	Search      SearchReport
	Supply      SupplyReport
	Trust       TrustReport
	// TrustMissing says why the cost-of-trust rows are not in Rows (this
	// binary was built without -tags notrust); empty when they are.
	TrustMissing string
	Rows         []Row
}

// All runs Ledger, Records, API, Search, Supply and (in a build with -tags
// notrust) Trust in turn, each in its own temporary node, and reports every
// measure as a row against its baseline from the same run.
func All(ctx context.Context, opts AllOptions) (AllReport, error) {
	rep := AllReport{Options: opts, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	begin := time.Now()
	var err error
	if rep.Ledger, err = Ledger(ctx, opts.Ledger); err != nil {
		return rep, fmt.Errorf("ledger: %w", err)
	}
	if rep.Validators4, err = Ledger(ctx, opts.Validators4); err != nil {
		return rep, fmt.Errorf("ledger, 4 validators: %w", err)
	}
	if rep.Records, err = Records(ctx, opts.Records); err != nil {
		return rep, fmt.Errorf("records: %w", err)
	}
	if rep.API, err = API(ctx, opts.API); err != nil {
		return rep, fmt.Errorf("api: %w", err)
	}
	if rep.Search, err = Search(ctx, opts.Search); err != nil {
		return rep, fmt.Errorf("search: %w", err)
	}
	if rep.Supply, err = Supply(ctx, opts.Supply); err != nil {
		return rep, fmt.Errorf("supply: %w", err)
	}
	var trustRows []Row
	switch rep.Trust, err = Trust(ctx, opts.Trust); {
	case errors.Is(err, trust.ErrNotBuilt):
		rep.TrustMissing = err.Error()
	case err != nil:
		return rep, fmt.Errorf("cost of trust: %w", err)
	default:
		trustRows = rep.Trust.Rows()
	}
	rep.Elapsed = time.Since(begin)
	rep.Rows = slices.Concat(rep.ledgerRows(), rep.apiRows(), rep.searchRows(), rep.supplyRows(), trustRows)
	return rep, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

func (rep AllReport) ledgerRows() []Row {
	l, l4, r := rep.Ledger, rep.Validators4, rep.Records
	return []Row{
		{Name: "ledger: signed txs committed", Unit: "tx/s", Measured: l.Ledger.TxPerSecond(),
			Baseline: l.Ceiling.TxPerSecond(), BaselineName: "accept-all app", Goal: Goal{Value: 0.5, OfRatio: true}},
		{Name: "ledger: signed txs committed, 4 validators", Unit: "tx/s", Measured: l4.Ledger.TxPerSecond(),
			Baseline: l4.Ceiling.TxPerSecond(), BaselineName: "accept-all app (4)", Goal: Goal{Value: 0.5, OfRatio: true}},
		{Name: "records: record.put committed", Unit: "tx/s", Measured: r.PutsPerSecond,
			Baseline: r.Ceiling.TxPerSecond(), BaselineName: "no-op ledger", Goal: Goal{Value: 0.5, OfRatio: true}},
	}
}

// clientsOf is "1 client", "16 clients".
func clientsOf(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

// The goals of the create and read rows are the targets by concurrency.
var (
	createRateGoals = map[int]float64{256: 5000}
	createP50Goals  = map[int]float64{16: 50}
	readRateGoals   = map[int]float64{32: 10000}
	readP50Goals    = map[int]float64{1: 1}
)

func (rep AllReport) apiRows() []Row {
	var rows []Row
	add := func(what string, ts []APITiming, rate, p50 map[int]float64) {
		for _, t := range ts {
			noop := rep.API.NoopAt(t.Clients)
			rows = append(rows,
				Row{Name: fmt.Sprintf("FHIR %s, %s", what, clientsOf(t.Clients)), Unit: "req/s", Measured: t.PerSecond,
					Baseline: noop.PerSecond, BaselineName: "no-op HTTP route", Goal: Goal{Value: rate[t.Clients]}},
				Row{Name: fmt.Sprintf("FHIR %s p50, %s", what, clientsOf(t.Clients)), Unit: "ms", Measured: ms(t.P50),
					Baseline: ms(noop.P50), BaselineName: "no-op HTTP route", Goal: Goal{Value: p50[t.Clients], Below: true}})
		}
	}
	add("create", rep.API.Creates, createRateGoals, createP50Goals)
	b := rep.API.Bundles
	rows = append(rows, Row{Name: fmt.Sprintf("FHIR transaction Bundles of %d, %s", BundleSize, clientsOf(b.Clients)), Unit: "resources/s",
		Measured: b.PerSecond * BundleSize, Baseline: rep.API.NoopAt(b.Clients).PerSecond, BaselineName: "no-op HTTP route",
		Goal: Goal{Value: bundleGoal}})
	add("read", rep.API.Reads, readRateGoals, readP50Goals)
	return rows
}

// bundleGoal is the target of resources per second written in
// transaction Bundles.
const bundleGoal = 10000

// searchGoals are the p50 and p99 targets of a search within one
// patient (the second timing of Search).
var searchGoals = [2]float64{10, 50}

func (rep AllReport) searchRows() []Row {
	ts := rep.Search.Timings
	if len(ts) == 0 {
		return nil
	}
	base := ts[0]
	var rows []Row
	for i, t := range ts[1:] {
		var goals [2]float64
		if i == 0 {
			goals = searchGoals
		}
		rows = append(rows,
			Row{Name: "search p50: " + t.Name, Unit: "ms", Measured: ms(t.P50), Baseline: ms(base.P50),
				BaselineName: "read of a Patient", Goal: Goal{Value: goals[0], Below: true}},
			Row{Name: "search p99: " + t.Name, Unit: "ms", Measured: ms(t.P99), Baseline: ms(base.P99),
				BaselineName: "read of a Patient", Goal: Goal{Value: goals[1], Below: true}})
	}
	return rows
}

// supplyGoals are issue 22's targets of a verification with its proofs: a
// rate and a p50 in ms.
var supplyGoals = [2]float64{5000, 2}

func (rep AllReport) supplyRows() []Row {
	s := rep.Supply
	clients := clientsOf(rep.Options.Supply.Clients)
	return []Row{
		{Name: "supply: verify with bundle, " + clients, Unit: "req/s", Measured: s.Proved.PerSecond, Baseline: s.Plain.PerSecond,
			BaselineName: "verify, no proof", Goal: Goal{Value: supplyGoals[0]}},
		{Name: "supply: verify with bundle p50, " + clients, Unit: "ms", Measured: ms(s.Proved.P50), Baseline: ms(s.Plain.P50),
			BaselineName: "verify, no proof", Goal: Goal{Value: supplyGoals[1], Below: true}},
	}
}
