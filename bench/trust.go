package bench

import (
	"context"
	"fmt"
	"net/http"

	"github.com/carechain/carechain/trust"
)

// TrustOptions configure Trust.
type TrustOptions struct {
	Patients   int // patients, each with PerPatient Observations loaded (untimed)
	PerPatient int
	Authors    int // practitioners creating, each with its own token
	Creates    int // timed POST /fhir/Observation
	// CreateClients and ReadClients are the concurrent clients of the
	// create and the read phase.
	CreateClients int
	Reads         int // timed GET /fhir/Observation/{id}
	ReadClients   int
}

// DefaultTrustOptions are what `carechain bench trust` and `bench all` run
// the cost-of-trust row with.
func DefaultTrustOptions() TrustOptions {
	return TrustOptions{Patients: 100, PerPatient: 5, Authors: 4, Creates: 1500, CreateClients: 64, Reads: 3000, ReadClients: 1}
}

// TrustPaths are one node's timed FHIR create and read phases.
type TrustPaths struct {
	Create, Read APITiming
}

// TrustReport is the outcome of Trust: the same paths on two fresh nodes
// of one run.
type TrustReport struct {
	Options TrustOptions
	On      TrustPaths // signed, encrypted, every read's access event synced
	Off     TrustPaths // trust switched off (package trust)
}

// Trust measures the cost of trust: the FHIR create and read paths of API
// (over loopback HTTP, creates committed and read back, reads of one
// record) on a node as every build runs it, then the same on a fresh node
// whose trust is switched off: its transactions carry no signature and are
// admitted unchecked, its records are stored unencrypted and its reads
// leave no access event. The switch exists only in a build with -tags
// notrust; in any other build Trust returns trust.ErrNotBuilt.
func Trust(ctx context.Context, opts TrustOptions) (TrustReport, error) {
	rep := TrustReport{Options: opts}
	off, err := trust.Switched()
	if err != nil {
		return rep, err
	}
	if opts.Patients < 1 || opts.PerPatient < 1 || opts.Authors < 1 || opts.Creates < 1 || opts.Reads < 1 ||
		opts.CreateClients < 1 || opts.ReadClients < 1 {
		return rep, fmt.Errorf("bench: need patients, per-patient, authors, creates, reads and clients >= 1")
	}
	if rep.On, err = trustPaths(ctx, opts, trust.Bypass{}); err != nil {
		return rep, fmt.Errorf("trust on: %w", err)
	}
	if rep.Off, err = trustPaths(ctx, opts, off); err != nil {
		return rep, fmt.Errorf("trust off: %w", err)
	}
	return rep, nil
}

// trustPaths times the create and read phases on a fresh node under bypass.
func trustPaths(ctx context.Context, opts TrustOptions, bypass trust.Bypass) (TrustPaths, error) {
	var p TrustPaths
	bn, api, ids, err := startFHIR(ctx, "carechain-bench-trust", FHIROptions{Patients: opts.Patients, PerPatient: opts.PerPatient}, bypass)
	if err != nil {
		return p, err
	}
	defer bn.Close()
	defer api.Close()
	authors, err := apiAuthors(ctx, bn, api, opts.Authors)
	if err != nil {
		return p, err
	}
	r := apiRun{ctx: ctx, bn: bn}
	if p.Create, err = r.phase(opts.CreateClients, opts.Creates, func(i int) error {
		body := fhirObservation((opts.PerPatient+i)%opts.Patients, opts.PerPatient+i)
		return authors[i%len(authors)].do(ctx, http.MethodPost, "/fhir/Observation", body, http.StatusCreated)
	}); err != nil {
		return p, fmt.Errorf("creates: %w", err)
	}
	if p.Read, err = r.phase(opts.ReadClients, opts.Reads, func(i int) error {
		return api.do(ctx, http.MethodGet, "/fhir/Observation/"+ids[i%len(ids)], nil, http.StatusOK)
	}); err != nil {
		return p, fmt.Errorf("reads: %w", err)
	}
	return p, nil
}

// trustBaseline names the baseline of the cost-of-trust rows.
const trustBaseline = "trust off (notrust)"

// Rows are the cost-of-trust rows: each path with trust on, against the
// same path with trust off; the ratio is what trust leaves of it.
func (r TrustReport) Rows() []Row {
	cc, rc := clientsOf(r.Options.CreateClients), clientsOf(r.Options.ReadClients)
	row := func(name, unit string, on, off float64) Row {
		return Row{Name: "cost of trust: " + name, Unit: unit, Measured: on, Baseline: off, BaselineName: trustBaseline}
	}
	return []Row{
		row("FHIR create, "+cc, "req/s", r.On.Create.PerSecond, r.Off.Create.PerSecond),
		row("FHIR create p50, "+cc, "ms", ms(r.On.Create.P50), ms(r.Off.Create.P50)),
		row("FHIR read, "+rc, "req/s", r.On.Read.PerSecond, r.Off.Read.PerSecond),
		row("FHIR read p50, "+rc, "ms", ms(r.On.Read.P50), ms(r.Off.Read.P50)),
	}
}
