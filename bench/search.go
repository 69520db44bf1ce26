package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// SearchOptions configure Search.
type SearchOptions struct {
	Patients int     // patients to load
	Records  int     // records per patient: its Patient resource and Records-1 Observations
	Granted  float64 // fraction of the patients who grant the searcher's organization read access
	Queries  int     // timed requests of each kind
	Clients  int     // concurrent HTTP clients while timing
	Loaders  int     // concurrent authors while loading
}

// DefaultSearchOptions are what `carechain bench search` runs with.
func DefaultSearchOptions() SearchOptions {
	return SearchOptions{Patients: 10000, Records: 20, Granted: 0.5, Queries: 500, Clients: 1, Loaders: 32}
}

// SearchTiming is the latency of one kind of request.
type SearchTiming struct {
	Name     string
	Queries  int
	Results  float64 // matches per request, on average (1 for a read)
	P50, P99 time.Duration
}

// Ratios are t's p50 and p99 over base's.
func (t SearchTiming) Ratios(base SearchTiming) (p50, p99 float64) {
	return t.P50.Seconds() / base.P50.Seconds(), t.P99.Seconds() / base.P99.Seconds()
}

// SearchReport is the outcome of Search.
type SearchReport struct {
	Options  SearchOptions
	Records  int // records loaded
	Granted  int // patients who granted the searcher's organization read access
	Panels   int // panel codes (see PanelRecords)
	Register time.Duration
	Load     time.Duration // every patient's records, one batch per patient
	Grants   time.Duration
	// IndexWait is how long, after the grants, the index took to serve a
	// probe search for the last patient who granted.
	IndexWait  time.Duration
	IndexBytes int64 // the node's search index on disk
	DataBytes  int64 // the node's home on disk, index included
	// Retried counts the writes retried after being reported dropped (see
	// retryDropped).
	Retried int
	// Timings are per kind of request, the baseline (a read) first.
	Timings []SearchTiming
}

// PanelRecords is about how many records carry one panel code.
func (r SearchReport) PanelRecords() int { return (r.Options.Patients + r.Panels - 1) / r.Panels }

// LoadPerSecond is records loaded per second.
func (r SearchReport) LoadPerSecond() float64 { return float64(r.Records) / r.Load.Seconds() }

// searcherID is the practitioner whose searches Search times: a researcher
// of the organization that wrote every record, who may read only under a
// patient's grant (the default role policy's GrantOnly rule).
const searcherID = "bench/researcher"

// flushEvery is how many requests of each kind run between two flushes of
// the access events they left (untimed), so that anchoring never falls
// behind records.DefaultMaxLag.
const flushEvery = 50

// indexWaitTimeout bounds the wait for the index to catch up with the load.
const indexWaitTimeout = 5 * time.Minute

// Search measures searches through the FHIR API over loopback HTTP on one
// node with a blind search index, holding opts.Patients patients of
// opts.Records records each, written by the organization's physicians
// (untimed, but reported). A fraction opts.Granted of the patients grant
// the organization read access for research; a researcher of the
// organization, who may read only under such a grant, then times, in
// turn: a read of a Patient (the baseline), a search within one patient,
// and searches across patients through the index, whose candidates of
// patients who did not grant are refused by consent.
func Search(ctx context.Context, opts SearchOptions) (SearchReport, error) {
	rep := SearchReport{Options: opts}
	if opts.Patients < 1 || opts.Records < 2 || opts.Queries < 1 || opts.Clients < 1 || opts.Loaders < 1 ||
		opts.Granted <= 0 || opts.Granted > 1 {
		return rep, fmt.Errorf("bench: need patients >= 1, records >= 2, queries >= 1, clients >= 1, loaders >= 1 and 0 < granted <= 1")
	}
	d := newSearchData(opts)
	rep.Panels = d.panels
	bn, err := startIndexedNode(ctx, "carechain-bench-search")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	searcher, grantedIDs, err := loadSearch(ctx, bn, d, &rep)
	if err != nil {
		return rep, err
	}
	api, err := serveFHIR(ctx, bn, searcher)
	if err != nil {
		return rep, err
	}
	defer api.Close()
	api.purpose = consent.PurposeResearch
	begin := time.Now()
	if err := waitIndexed(ctx, api, d, grantedIDs[len(grantedIDs)-1]); err != nil {
		return rep, err
	}
	rep.IndexWait = time.Since(begin)
	if err := bn.svc.Flush(ctx, bn.anchorer); err != nil {
		return rep, fmt.Errorf("anchor the probe's access events: %w", err)
	}
	if rep.IndexBytes, err = dirBytes(bn.indexDir()); err != nil {
		return rep, err
	}
	if rep.DataBytes, err = dirBytes(bn.dir); err != nil {
		return rep, err
	}
	rep.Timings, err = timeSearches(ctx, bn, api, d.kinds(grantedIDs), opts)
	return rep, err
}

// loadSearch registers the searcher, the loaders and the patients, writes
// each patient's records as one batch (opts.Loaders authors at once), and
// has the patients opts.Granted selects grant the organization read access
// for research. It returns the searcher and the patients who granted.
func loadSearch(ctx context.Context, bn *recordsNode, d searchData, rep *SearchReport) (records.Signer, []int, error) {
	opts := d.opts
	searcher, reg := practitioner(searcherID, carechain.RoleResearcher)
	regs := []*tx.Register{reg}
	loaders := make([]records.Signer, opts.Loaders)
	for w := range loaders {
		loaders[w], reg = practitioner(fmt.Sprintf("bench/lab%d", w), carechain.RolePhysician)
		regs = append(regs, reg)
	}
	// One encryption key for all patients: their keys are not what is measured.
	pek, err := seal.GenerateKey()
	if err != nil {
		return searcher, nil, err
	}
	patients := make([]records.Signer, opts.Patients)
	for i := range patients {
		patients[i], reg = patient(d.patientID(i), pek.Public().Bytes())
		regs = append(regs, reg)
	}
	begin := time.Now()
	if err := bn.register(ctx, regs...); err != nil {
		return searcher, nil, err
	}
	rep.Register = time.Since(begin)

	begin = time.Now()
	var retried atomic.Int64
	err = inParallel(opts.Loaders, func(w int) error {
		for i := w; i < opts.Patients; i += opts.Loaders {
			err := retryDropped(&retried, func() error {
				_, err := bn.svc.PutBatch(ctx, loaders[w], d.items(i))
				return err
			})
			if err != nil {
				return fmt.Errorf("load patient %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return searcher, nil, err
	}
	rep.Load, rep.Records = time.Since(begin), opts.Patients*opts.Records

	var grantedIDs []int
	for i := range opts.Patients {
		if d.granted(i) {
			grantedIDs = append(grantedIDs, i)
		}
	}
	begin = time.Now()
	if err := grantAll(ctx, bn.svc, patients, grantedIDs, opts.Loaders, &retried); err != nil {
		return searcher, nil, err
	}
	rep.Grants, rep.Granted, rep.Retried = time.Since(begin), len(grantedIDs), int(retried.Load())
	if len(grantedIDs) == 0 {
		return searcher, nil, fmt.Errorf("bench: no patient of %d grants at fraction %g", opts.Patients, opts.Granted)
	}
	return searcher, grantedIDs, nil
}

// grantAll has each of the patients ids selects grant the organization
// read access to all their records for research, workers at once.
func grantAll(ctx context.Context, svc *records.Service, patients []records.Signer, ids []int, workers int, retried *atomic.Int64) error {
	return inParallel(workers, func(w int) error {
		for k := w; k < len(ids); k += workers {
			p := patients[ids[k]]
			err := retryDropped(retried, func() error {
				_, err := svc.Grant(ctx, p, consent.Grant{Patient: p.ID, Grantee: consent.Grantee{Org: org},
					Categories: []string{consent.AnyCategory}, Actions: []consent.Action{consent.ActionRead},
					Purposes: []consent.Purpose{consent.PurposeResearch}})
				return err
			})
			if err != nil {
				return fmt.Errorf("grant of %s: %w", p.ID, err)
			}
		}
		return nil
	})
}

// maxRetries bounds the retries of one write reported dropped.
const maxRetries = 3

// retryDropped runs write, again while it fails as dropped from the mempool
// (a bad_nonce rejection), counting the retries. Under load, the records
// service can report a write dropped that in fact committed: its check of
// the ledger can read the signer's nonce of a block being committed but not
// yet that block's transaction. Writing again is harmless here (a record
// gets a second version, a patient a second grant) and indexes what a
// write reported as failed left out of the search index.
func retryDropped(retried *atomic.Int64, write func() error) error {
	err := write()
	for range maxRetries {
		var rej *ledger.Rejection
		if !errors.As(err, &rej) || rej.Code != ledger.CodeBadNonce {
			return err
		}
		retried.Add(1)
		err = write()
	}
	return err
}

// waitIndexed waits until searches across patients find patient i's Patient
// and panel Observation: an index fed after the commit may lag the load.
func waitIndexed(ctx context.Context, api *fhirClient, d searchData, i int) error {
	system, code, _ := d.code(i, d.opts.Records-2)
	probes := []string{
		"/fhir/Patient?identifier=" + url.QueryEscape(mrnSystem+"|"+d.mrn(i)),
		"/fhir/Observation?code=" + url.QueryEscape(system+"|"+code),
	}
	ctx, cancel := context.WithTimeout(ctx, indexWaitTimeout)
	defer cancel()
	for _, probe := range probes {
		for {
			body, err := api.get(ctx, probe)
			if err != nil {
				return fmt.Errorf("index probe: %w", err)
			}
			if n, err := resultsOf(body); err != nil || n > 0 {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the search index did not serve %s within %v of the load", probe, indexWaitTimeout)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// resultsOf is how many matches a response carries: a search Bundle's
// total, or 1 for any other resource (a read).
func resultsOf(body []byte) (int, error) {
	var r struct {
		ResourceType string `json:"resourceType"`
		Total        *int   `json:"total"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("response: %w", err)
	}
	if r.ResourceType != "Bundle" {
		return 1, nil
	}
	if r.Total == nil {
		return 0, errors.New("search Bundle without a total")
	}
	return *r.Total, nil
}

// timeSearches runs opts.Queries requests of each kind, the kinds in turn
// (request q of every kind before request q+1 of any), on opts.Clients
// concurrent clients, flushing the access events every flushEvery rounds
// (untimed). Only the request and reading its response are timed.
func timeSearches(ctx context.Context, bn *recordsNode, api *fhirClient, kinds []searchKind, opts SearchOptions) ([]SearchTiming, error) {
	lat := make([][]time.Duration, len(kinds))
	results := make([]int, len(kinds))
	for k := range kinds {
		lat[k] = make([]time.Duration, opts.Queries)
	}
	for start := 0; start < opts.Queries; start += flushEvery {
		n := (min(opts.Queries, start+flushEvery) - start) * len(kinds)
		perClient := make([][]int, opts.Clients) // results by kind, summed after
		err := inParallel(opts.Clients, func(w int) error {
			perClient[w] = make([]int, len(kinds))
			for x := w; x < n; x += opts.Clients {
				q, k := start+x/len(kinds), x%len(kinds)
				t0 := time.Now()
				body, err := api.get(ctx, kinds[k].query(q))
				lat[k][q] = time.Since(t0)
				if err != nil {
					return err
				}
				got, err := resultsOf(body)
				if err != nil {
					return fmt.Errorf("%s: %w", kinds[k].query(q), err)
				}
				perClient[w][k] += got
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, c := range perClient {
			for k, got := range c {
				results[k] += got
			}
		}
		if err := bn.svc.Flush(ctx, bn.anchorer); err != nil {
			return nil, fmt.Errorf("anchor the searches' access events: %w", err)
		}
	}
	out := make([]SearchTiming, len(kinds))
	for k, kind := range kinds {
		out[k] = SearchTiming{Name: kind.name, Queries: opts.Queries, Results: float64(results[k]) / float64(opts.Queries)}
		out[k].P50, out[k].P99 = percentiles(lat[k])
	}
	return out, nil
}
