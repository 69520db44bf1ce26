package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// APIOptions configure API.
type APIOptions struct {
	Patients   int // patients, each with PerPatient Observations loaded (untimed)
	PerPatient int
	// Authors are the practitioners whose clients create, each logged in
	// with its own token; create i is author i%Authors's.
	Authors       int
	Creates       int   // timed POST /fhir/Observation at each concurrency
	CreateClients []int // concurrent clients of each create phase
	Reads         int   // timed GET /fhir/Observation/{id} at each concurrency
	ReadClients   []int // concurrent clients of each read phase
	Bundles       int   // timed POST /fhir of transaction Bundles of BundleSize Observations
	BundleClients int   // concurrent clients of the Bundle phase
}

// DefaultAPIOptions are what `carechain bench all` runs the API with.
func DefaultAPIOptions() APIOptions {
	return APIOptions{Patients: 100, PerPatient: 5, Authors: 4, Creates: 1500, CreateClients: []int{16, 64, 256},
		Reads: 3000, ReadClients: []int{1, 32}, Bundles: 64, BundleClients: 16}
}

// APITiming is one timed phase: requests per second and latency at a
// number of concurrent clients.
type APITiming struct {
	Clients   int
	PerSecond float64
	P50, P99  time.Duration
	Blocks    int64 // committed during the phase
	// CPU is the process's CPU time per request (server, client and node
	// alike, all in this process; zero where not measured).
	CPU time.Duration
}

// APIReport is the outcome of API.
type APIReport struct {
	Options APIOptions
	// Noop is the baseline of the same run: a route of the same server
	// that does nothing, at every concurrency of Creates and Reads.
	Noop    []APITiming
	Creates []APITiming
	Reads   []APITiming
	Bundles APITiming // PerSecond counts Bundles, of BundleSize resources each
}

// NoopAt is the baseline at clients concurrent clients (zero if not run).
func (r APIReport) NoopAt(clients int) APITiming {
	for _, t := range r.Noop {
		if t.Clients == clients {
			return t
		}
	}
	return APITiming{}
}

// API measures the FHIR REST API over loopback HTTP on one node at several
// concurrencies: committed creates by several practitioners for several
// patients (each answered after the read-back the API does), transaction
// Bundles of BundleSize Observations, and reads of one record
// (consent-checked, decrypted, the access event synced to the journal
// before the answer), each against a no-op route of the same server at the
// same concurrency. Access events are anchored between phases, untimed.
func API(ctx context.Context, opts APIOptions) (APIReport, error) {
	rep := APIReport{Options: opts}
	if opts.Patients < 1 || opts.PerPatient < 1 || opts.Authors < 1 || opts.Creates < 1 || opts.Reads < 1 ||
		opts.Bundles < 1 || opts.BundleClients < 1 {
		return rep, fmt.Errorf("bench: need patients, per-patient, authors, creates, reads, bundles and bundle clients >= 1")
	}
	bn, api, ids, err := startFHIR(ctx, "carechain-bench-api", FHIROptions{Patients: opts.Patients, PerPatient: opts.PerPatient}, trust.Bypass{})
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	defer api.Close()
	authors, err := apiAuthors(ctx, bn, api, opts.Authors)
	if err != nil {
		return rep, err
	}
	r := apiRun{ctx: ctx, bn: bn}
	clients := append(slices.Clone(opts.CreateClients), opts.ReadClients...)
	for _, c := range slices.Compact(slices.Sorted(slices.Values(append(clients, opts.BundleClients)))) {
		t, err := r.phase(c, opts.Reads, func(int) error { return api.do(ctx, http.MethodGet, noopPath, nil, http.StatusOK) })
		if err != nil {
			return rep, fmt.Errorf("no-op at %d clients: %w", c, err)
		}
		rep.Noop = append(rep.Noop, t)
	}
	created := opts.PerPatient
	for _, c := range opts.CreateClients {
		t, err := r.phase(c, opts.Creates, func(i int) error {
			body := fhirObservation((created+i)%opts.Patients, created+i)
			return authors[i%len(authors)].do(ctx, http.MethodPost, "/fhir/Observation", body, http.StatusCreated)
		})
		if err != nil {
			return rep, fmt.Errorf("creates at %d clients: %w", c, err)
		}
		rep.Creates, created = append(rep.Creates, t), created+opts.Creates
	}
	if rep.Bundles, err = r.phase(opts.BundleClients, opts.Bundles, func(i int) error {
		return authors[i%len(authors)].do(ctx, http.MethodPost, "/fhir", transactionBundle(i%opts.Patients, created+i*BundleSize), http.StatusOK)
	}); err != nil {
		return rep, fmt.Errorf("transaction bundles: %w", err)
	}
	for _, c := range opts.ReadClients {
		t, err := r.phase(c, opts.Reads, func(i int) error {
			return api.do(ctx, http.MethodGet, "/fhir/Observation/"+ids[i%len(ids)], nil, http.StatusOK)
		})
		if err != nil {
			return rep, fmt.Errorf("reads at %d clients: %w", c, err)
		}
		rep.Reads = append(rep.Reads, t)
	}
	return rep, nil
}

// BundleSize is how many Observations one transaction Bundle of API creates.
const BundleSize = 100

// transactionBundle is a transaction Bundle of BundleSize Observations of
// patient f<patient>, numbered from first.
func transactionBundle(patient, first int) []byte {
	b := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for i := range BundleSize {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"request":{"method":"POST","url":"Observation"},"resource":`...)
		b = append(b, fhirObservation(patient, first+i)...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// apiRun is one run of API: its node, for the phases to count blocks and
// anchor what they logged.
type apiRun struct {
	ctx context.Context
	bn  *recordsNode
}

// phase is timeRequests at clients concurrent clients, summarized with the
// blocks committed meanwhile; then the access events the phase left are
// anchored (untimed).
func (r apiRun) phase(clients, total int, op func(i int) error) (APITiming, error) {
	height := r.bn.node.BlockHeight()
	t, err := timePhase(clients, total, op)
	if err != nil {
		return t, err
	}
	t.Blocks = r.bn.node.BlockHeight() - height
	if err := r.bn.svc.Flush(r.ctx, r.bn.anchorer); err != nil {
		return t, fmt.Errorf("anchor the phase's access events: %w", err)
	}
	return t, nil
}

// apiAuthors registers n physicians and returns a client logged in as each.
func apiAuthors(ctx context.Context, bn *recordsNode, api *fhirClient, n int) ([]*fhirClient, error) {
	signers := make([]records.Signer, n)
	regs := make([]*tx.Register, n)
	for i := range n {
		signers[i], regs[i] = practitioner(fmt.Sprintf("bench/api-dr%d", i), carechain.RolePhysician)
	}
	if err := bn.register(ctx, regs...); err != nil {
		return nil, err
	}
	clients := make([]*fhirClient, n)
	for i, s := range signers {
		c, err := api.as(ctx, s)
		if err != nil {
			return nil, err
		}
		clients[i] = c
	}
	return clients, nil
}

// timePhase is timeRequests at clients concurrent clients, summarized.
func timePhase(clients, total int, op func(i int) error) (APITiming, error) {
	cpu := processCPU()
	lat, el, err := timeRequests(clients, total, op)
	if err != nil {
		return APITiming{}, err
	}
	t := APITiming{Clients: clients, PerSecond: float64(total) / el.Seconds(), CPU: (processCPU() - cpu) / time.Duration(total)}
	t.P50, t.P99 = percentiles(lat)
	return t, nil
}
