package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// FHIROptions configure FHIR.
type FHIROptions struct {
	Patients   int // patients to load
	PerPatient int // observations loaded per patient
	Creates    int // timed POST /fhir/Observation
	Reads      int // timed GET /fhir/Observation/{id}
	Searches   int // timed GET /fhir/Observation?patient=…
}

// DefaultFHIROptions are what `carechain bench fhir` runs with.
func DefaultFHIROptions() FHIROptions {
	return FHIROptions{Patients: 1000, PerPatient: 20, Creates: 2000, Reads: 5000, Searches: 500}
}

// FHIRReport is the outcome of FHIR.
type FHIRReport struct {
	Options              FHIROptions
	CreatesPerSecond     float64 // POST /fhir/Observation, committed
	ReadsPerSecond       float64 // GET /fhir/Observation/{id}
	ReadP50, ReadP99     time.Duration
	SearchP50, SearchP99 time.Duration // GET /fhir/Observation?patient=…
	// Anchored is how many access events the reads left to anchor, and
	// AnchoredPerSecond how fast one flush put them on the ledger (signed
	// batches split under the transaction limit, each waiting for its commit).
	Anchored          int
	AnchoredPerSecond float64
}

// fhirWorkers is how many HTTP clients run concurrently in each timed phase.
const fhirWorkers = 16

// FHIR measures the FHIR API over HTTP on one node: it loads patients ×
// perPatient Observations (through record.batch, untimed), then times
// concurrent creates, reads and patient searches over loopback HTTP.
func FHIR(ctx context.Context, opts FHIROptions) (FHIRReport, error) {
	rep := FHIRReport{Options: opts}
	if opts.Patients < 1 || opts.PerPatient < 1 {
		return rep, fmt.Errorf("bench: need patients >= 1 and per-patient >= 1")
	}
	bn, api, ids, err := startFHIR(ctx, "carechain-bench-fhir", opts, trust.Bypass{})
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	defer api.Close()

	_, el, err := timeRequests(fhirWorkers, opts.Creates, func(i int) error {
		return api.do(ctx, http.MethodPost, "/fhir/Observation", fhirObservation(i%opts.Patients, opts.PerPatient+i), http.StatusCreated)
	})
	if err != nil {
		return rep, err
	}
	rep.CreatesPerSecond = float64(opts.Creates) / el.Seconds()
	lat, el, err := timeRequests(fhirWorkers, opts.Reads, func(i int) error {
		return api.do(ctx, http.MethodGet, "/fhir/Observation/"+ids[i%len(ids)], nil, http.StatusOK)
	})
	if err != nil {
		return rep, err
	}
	rep.ReadsPerSecond = float64(opts.Reads) / el.Seconds()
	rep.ReadP50, rep.ReadP99 = percentiles(lat)
	rep.Anchored = bn.svc.Pending()
	start := time.Now()
	if err := bn.svc.Flush(ctx, bn.anchorer); err != nil {
		return rep, fmt.Errorf("anchor the reads' access events: %w", err)
	}
	rep.AnchoredPerSecond = float64(rep.Anchored) / time.Since(start).Seconds()
	lat, _, err = timeRequests(fhirWorkers, opts.Searches, func(i int) error {
		subject := url.QueryEscape(fmt.Sprintf("Patient/f%d", (i*7)%opts.Patients))
		return api.do(ctx, http.MethodGet, "/fhir/Observation?patient="+subject, nil, http.StatusOK)
	})
	rep.SearchP50, rep.SearchP99 = percentiles(lat)
	return rep, err
}

// startFHIR starts a records node for chainID under bypass, loads it
// (loadFHIR) and serves its FHIR API as the physician who loaded it. It returns the first
// record ID of each patient; the caller closes the client and the node.
func startFHIR(ctx context.Context, chainID string, opts FHIROptions, bypass trust.Bypass) (*recordsNode, *fhirClient, []string, error) {
	bn, err := startBypassNode(ctx, chainID, bypass)
	if err != nil {
		return nil, nil, nil, err
	}
	dr, ids, err := loadFHIR(ctx, bn, opts)
	if err != nil {
		bn.Close()
		return nil, nil, nil, err
	}
	api, err := serveFHIR(ctx, bn, dr)
	if err != nil {
		bn.Close()
		return nil, nil, nil, err
	}
	return bn, api, ids, nil
}

// loadFHIR registers a physician and the patients, then has the physician
// write one batch of observations per patient (untimed). It returns the
// physician and the first record ID of each patient.
func loadFHIR(ctx context.Context, bn *recordsNode, opts FHIROptions) (records.Signer, []string, error) {
	dr, reg := practitioner("bench/dr", carechain.RolePhysician)
	regs := []*tx.Register{reg}
	// One encryption key for all patients: their keys are not what is measured.
	pek, err := seal.GenerateKey()
	if err != nil {
		return dr, nil, err
	}
	for i := range opts.Patients {
		_, reg := patient(fmt.Sprintf("patient/f%d", i), pek.Public().Bytes())
		regs = append(regs, reg)
	}
	if err := bn.register(ctx, regs...); err != nil {
		return dr, nil, err
	}
	ids := make([]string, 0, opts.Patients)
	for i := range opts.Patients {
		items := make([]records.PutItem, opts.PerPatient)
		for j := range items {
			items[j] = records.PutItem{Patient: fmt.Sprintf("patient/f%d", i), Category: "lab", RecordID: fmt.Sprintf("o-%d-%d", i, j), Resource: fhirObservation(i, j)}
		}
		if _, err := bn.svc.PutBatch(ctx, dr, items); err != nil {
			return dr, nil, fmt.Errorf("load patient %d: %w", i, err)
		}
		ids = append(ids, items[0].RecordID)
	}
	return dr, ids, nil
}

// fhirObservation is a small Observation of patient f<patient>.
func fhirObservation(patient, i int) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},
"subject":{"reference":"Patient/f%d"},"effectiveDateTime":"2026-11-%02dT08:00:00Z","valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`,
		patient, 1+i%28, 70+i%40)
}

// timeRequests runs op(0) … op(total-1) on workers concurrent workers and
// returns each one's latency and the time all of them took.
func timeRequests(workers, total int, op func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, total)
	begin := time.Now()
	err := inParallel(workers, func(w int) error {
		for i := w; i < total; i += workers {
			t0 := time.Now()
			if err := op(i); err != nil {
				return err
			}
			lat[i] = time.Since(t0)
		}
		return nil
	})
	return lat, time.Since(begin), err
}
