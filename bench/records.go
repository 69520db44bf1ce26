package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// RecordsOptions configure Records.
type RecordsOptions struct {
	Puts     int // record.put transactions to commit
	Authors  int // concurrent authors, each writing for its own patients
	Patients int // patients per author
	Reads    int // authorized reads to time
	Window   int // transactions in flight per author
}

// DefaultRecordsOptions are what `carechain bench records` runs with.
func DefaultRecordsOptions() RecordsOptions {
	return RecordsOptions{Puts: 4000, Authors: 8, Patients: 4, Reads: 2000, Window: 200}
}

// RecordsReport is the outcome of Records.
type RecordsReport struct {
	Options       RecordsOptions
	ResourceBytes int
	TxBytes       int
	// Prepare is validating, encrypting and signing (all cores), per tx.
	Prepare time.Duration
	// PutsPerSecond is committed record.put throughput once prepared.
	PutsPerSecond float64
	// PutCPU is the process's CPU time per committed record.put.
	PutCPU time.Duration
	// Ceiling is the no-op ledger measured in the same run (Ledger's ceiling).
	Ceiling Result
	// Read latency of authorized reads, decryption included.
	ReadP50, ReadP99 time.Duration
}

// Ratio is record.put throughput over the no-op ceiling.
func (r RecordsReport) Ratio() float64 { return r.PutsPerSecond / r.Ceiling.TxPerSecond() }

// observation is a realistic ~1 KiB FHIR Observation.
func observation(i int) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Observation","id":"bench-%d","status":"final",
"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}]}],
"code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}],"text":"Glucose"},
"subject":{"reference":"Patient/bench-%d"},"effectiveDateTime":"2026-11-20T08:30:00Z","issued":"2026-11-20T10:02:00Z",
"performer":[{"reference":"Practitioner/bench-author","display":"Bench Laboratory"}],
"valueQuantity":{"value":%d.%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},
"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}],
"referenceRange":[{"low":{"value":70,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},
"high":{"value":99,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},"text":"70-99 mg/dL (fasting)"}],
"note":[{"text":"Fasting sample collected at the outpatient clinic; specimen received in good condition and processed within two hours."}]}`,
		i, i, 70+i%30, i%10)
}

// Records measures committed record.put transactions per second on a
// one-validator node (1 KiB FHIR Observations, validated against the R4
// schema, encrypted and signed before timing, at all cores), the no-op
// ledger ceiling in the same run, and the latency of authorized reads
// (consent check and decryption included).
func Records(ctx context.Context, opts RecordsOptions) (RecordsReport, error) {
	rep := RecordsReport{Options: opts, ResourceBytes: len(observation(1))}
	if opts.Puts < opts.Authors || opts.Authors < 1 || opts.Patients < 1 || opts.Window < 1 {
		return rep, fmt.Errorf("bench: need puts >= authors >= 1, patients >= 1 and window >= 1")
	}
	ceiling, err := Ledger(ctx, LedgerOptions{Txs: opts.Puts, Signers: opts.Authors, Window: opts.Window, MempoolSize: 20000})
	if err != nil {
		return rep, err
	}
	rep.Ceiling = ceiling.Ceiling

	bn, err := startRecordsNode(ctx, "carechain-bench-records")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	w, err := seedAuthors(ctx, bn, opts)
	if err != nil {
		return rep, err
	}
	per := opts.Puts / opts.Authors
	begin := time.Now()
	work, err := w.preparePuts(bn, per)
	if err != nil {
		return rep, err
	}
	rep.Prepare = time.Since(begin) / time.Duration(per*opts.Authors)
	rep.TxBytes = len(work[0][0])

	// Commit (timed): the same pipeline as Ledger.
	cpu := processCPU()
	elapsed, err := commitPuts(ctx, bn.node, work, opts.Window)
	if err != nil {
		return rep, err
	}
	rep.PutsPerSecond = float64(per*opts.Authors) / elapsed.Seconds()
	rep.PutCPU = (processCPU() - cpu) / time.Duration(per*opts.Authors)
	rep.ReadP50, rep.ReadP99, err = w.timeReads(ctx, bn.svc, per, opts.Reads)
	return rep, err
}

// writers are the authors of Records and, per author, its patients.
type writers struct {
	authors  []records.Signer
	patients [][]string
}

// seedAuthors registers the authors and their patients, and writes one
// record for each patient, which starts the patient's lab epoch (untimed).
func seedAuthors(ctx context.Context, bn *recordsNode, opts RecordsOptions) (writers, error) {
	w := writers{authors: make([]records.Signer, opts.Authors), patients: make([][]string, opts.Authors)}
	var regs []*tx.Register
	for i := range w.authors {
		a, reg := practitioner(fmt.Sprintf("bench/dr%d", i), carechain.RolePhysician)
		w.authors[i], regs = a, append(regs, reg)
		for j := range opts.Patients {
			ek, err := seal.GenerateKey()
			if err != nil {
				return w, err
			}
			p, reg := patient(fmt.Sprintf("patient/b%d-%d", i, j), ek.Public().Bytes())
			w.patients[i], regs = append(w.patients[i], p.ID), append(regs, reg)
		}
	}
	if err := bn.register(ctx, regs...); err != nil {
		return w, err
	}
	for i, a := range w.authors {
		for j, p := range w.patients[i] {
			seed := records.PutItem{Patient: p, Category: "lab", RecordID: fmt.Sprintf("seed-%d-%d", i, j), Resource: observation(j)}
			if _, err := bn.svc.Put(ctx, a, seed); err != nil {
				return w, fmt.Errorf("bench setup: %w", err)
			}
		}
	}
	return w, nil
}

// preparePuts validates, encrypts and signs per record.puts for each author,
// on all cores; record k of author i is "r-i-k".
func (w writers) preparePuts(bn *recordsNode, per int) ([][][]byte, error) {
	counts := make([]int, len(w.authors))
	for i := range counts {
		counts[i] = per
	}
	return w.preparePutsFrom(bn, make([]int, len(w.authors)), counts)
}

// preparePutsFrom is preparePuts for counts[i] record.puts of author i,
// its records from[i] onwards (those before it committed already).
func (w writers) preparePutsFrom(bn *recordsNode, from, counts []int) ([][][]byte, error) {
	work := make([][][]byte, len(w.authors))
	err := inParallel(len(w.authors), func(i int) error {
		a := w.authors[i]
		base, err := bn.node.App().Latest().NextNonce(a.ID)
		if err != nil {
			return err
		}
		for j := range counts[i] {
			k := from[i] + j
			p := w.patients[i][k%len(w.patients[i])]
			raw, err := bn.svc.PreparePut(a, base+uint64(j), p, "lab", fmt.Sprintf("r-%d-%d", i, k), 1, observation(k))
			if err != nil {
				return err
			}
			work[i] = append(work[i], raw)
		}
		return nil
	})
	return work, err
}

// commitPuts commits each author's prepared transactions (work[i] in nonce
// order), the authors concurrently, and returns how long that took.
func commitPuts(ctx context.Context, n *node.Node, work [][][]byte, window int) (time.Duration, error) {
	begin := time.Now()
	err := inParallel(len(work), func(i int) error {
		_, err := pipeline(ctx, n, work[i], window)
		return err
	})
	return time.Since(begin), err
}

// timeReads times n authorized reads, one after another, of the records
// preparePuts wrote: each author reads its own, for treatment.
func (w writers) timeReads(ctx context.Context, svc *records.Service, per, n int) (p50, p99 time.Duration, err error) {
	return w.timeReadsOf(ctx, svc, n, func(k int) (int, string) {
		i := k % len(w.authors)
		return i, fmt.Sprintf("r-%d-%d", i, (k/len(w.authors))%per)
	})
}

// timeReadsOf times n authorized reads, one after another: the k-th of the
// record pick(k) names, by its author (w.authors[i]), for treatment.
func (w writers) timeReadsOf(ctx context.Context, svc *records.Service, n int, pick func(k int) (i int, id string)) (p50, p99 time.Duration, err error) {
	lat := make([]time.Duration, 0, n)
	for k := range n {
		i, id := pick(k)
		t0 := time.Now()
		if _, err := svc.Read(ctx, w.authors[i].ID, id, 0, consent.PurposeTreatment); err != nil {
			return 0, 0, fmt.Errorf("bench read of %s: %w", id, err)
		}
		lat = append(lat, time.Since(t0))
	}
	p50, p99 = percentiles(lat)
	return p50, p99, nil
}
