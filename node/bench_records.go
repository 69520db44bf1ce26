package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// RecordsBenchOptions configure BenchRecords.
type RecordsBenchOptions struct {
	Puts     int // record.put transactions to commit
	Authors  int // concurrent authors, each writing for its own patients
	Patients int // patients per author
	Reads    int // authorized reads to time
	Window   int // transactions in flight per author
}

// DefaultRecordsBenchOptions are what `carechain bench records` runs with.
func DefaultRecordsBenchOptions() RecordsBenchOptions {
	return RecordsBenchOptions{Puts: 4000, Authors: 8, Patients: 4, Reads: 2000, Window: 200}
}

// RecordsBenchReport is the outcome of BenchRecords.
type RecordsBenchReport struct {
	Options       RecordsBenchOptions
	ResourceBytes int
	TxBytes       int
	// Prepare is validating, encrypting and signing (all cores), per tx.
	Prepare time.Duration
	// PutsPerSecond is committed record.put throughput once prepared.
	PutsPerSecond float64
	// Ceiling is the no-op ledger measured in the same run (BenchLedger's ceiling).
	Ceiling BenchResult
	// Read latency of authorized reads, decryption included.
	ReadP50, ReadP99 time.Duration
}

// Ratio is record.put throughput over the no-op ceiling.
func (r RecordsBenchReport) Ratio() float64 { return r.PutsPerSecond / r.Ceiling.TxPerSecond() }

// benchObservation is a realistic ~1 KiB FHIR Observation.
func benchObservation(i int) []byte {
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

// BenchRecords measures committed record.put transactions per second on a
// one-validator node (1 KiB FHIR Observations, validated against the R4
// schema, encrypted and signed before timing, at all cores), the no-op
// ledger ceiling in the same run, and the latency of authorized reads
// (consent check and decryption included).
func BenchRecords(ctx context.Context, opts RecordsBenchOptions) (RecordsBenchReport, error) {
	rep := RecordsBenchReport{Options: opts, ResourceBytes: len(benchObservation(1))}
	ceiling, err := BenchLedger(ctx, BenchOptions{Txs: opts.Puts, Signers: opts.Authors, Window: opts.Window, MempoolSize: 20000})
	if err != nil {
		return rep, err
	}
	rep.Ceiling = ceiling.Ceiling

	bn, err := startRecordsBench(ctx, "carechain-bench-records")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	n, svc, admin, chainID := bn.node, bn.svc, bn.admin, bn.chainID

	// Setup (untimed): authors, patients, and one record each, which starts
	// every patient's lab epoch.
	authors := make([]records.Signer, opts.Authors)
	var regs [][]byte
	nonce := uint64(1)
	register := func(r *tx.Register) error {
		raw, err := tx.Sign(admin.Key, chainID, admin.ID, nonce, tx.TypeRegister, r)
		nonce++
		regs = append(regs, raw)
		return err
	}
	patients := make([][]string, opts.Authors)
	for i := range authors {
		_, k, _ := ed25519.GenerateKey(nil)
		authors[i] = records.Signer{ID: fmt.Sprintf("bench/dr%d", i), Key: k}
		if err := register(&tx.Register{ID: authors[i].ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: k.Public().(ed25519.PublicKey)}); err != nil {
			return rep, err
		}
		for j := range opts.Patients {
			_, pk, _ := ed25519.GenerateKey(nil)
			ek, err := seal.GenerateKey()
			if err != nil {
				return rep, err
			}
			id := fmt.Sprintf("patient/b%d-%d", i, j)
			patients[i] = append(patients[i], id)
			if err := register(&tx.Register{ID: id, Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey), EncryptionKey: ek.Public().Bytes()}); err != nil {
				return rep, err
			}
		}
	}
	if err := allAccepted(n.SubmitAll(ctx, regs)); err != nil {
		return rep, fmt.Errorf("bench setup: %w", err)
	}
	for i, a := range authors {
		for j, p := range patients[i] {
			if _, err := svc.Put(ctx, a, p, "lab", fmt.Sprintf("seed-%d-%d", i, j), benchObservation(j)); err != nil {
				return rep, fmt.Errorf("bench setup: %w", err)
			}
		}
	}

	// Prepare (timed separately): validate, encrypt, sign, on all cores.
	per := opts.Puts / opts.Authors
	work := make([][][]byte, opts.Authors)
	var wg sync.WaitGroup
	errs := make([]error, opts.Authors)
	begin := time.Now()
	for i, a := range authors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base, err := n.App().NextNonce(a.ID)
			if err != nil {
				errs[i] = err
				return
			}
			for k := range per {
				p := patients[i][k%len(patients[i])]
				raw, err := svc.PreparePut(a, base+uint64(k), p, "lab", fmt.Sprintf("r-%d-%d", i, k), 1, benchObservation(k))
				if err != nil {
					errs[i] = err
					return
				}
				work[i] = append(work[i], raw)
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return rep, err
	}
	rep.Prepare = time.Since(begin) / time.Duration(per*opts.Authors)
	rep.TxBytes = len(work[0][0])

	// Commit (timed): the same pipeline as BenchLedger.
	begin = time.Now()
	for i := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.pipeline(ctx, work[i], opts.Window)
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return rep, err
	}
	rep.PutsPerSecond = float64(per*opts.Authors) / time.Since(begin).Seconds()

	// Reads: each patient reads their own records (own key), the author's
	// organization reads the rest; both decrypt.
	lat := make([]time.Duration, 0, opts.Reads)
	for k := range opts.Reads {
		i := k % opts.Authors
		id := fmt.Sprintf("r-%d-%d", i, (k/opts.Authors)%per)
		t0 := time.Now()
		if _, err := svc.Read(ctx, authors[i].ID, id, 0, consent.PurposeTreatment); err != nil {
			return rep, fmt.Errorf("bench read: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	rep.ReadP50, rep.ReadP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return rep, nil
}

// recordsBench is a started one-validator node with a records service, an
// organization "bench" whose key the service holds, and its admin.
type recordsBench struct {
	node    *Node
	svc     *records.Service
	admin   records.Signer
	chainID string
	home    Home
	dir     string
}

// Close stops the node (a no-op if it is stopped) and removes its home.
func (b *recordsBench) Close() {
	b.node.Stop()
	os.RemoveAll(b.dir)
}

// startRecordsBench starts the bench node in a new temporary home; Close
// removes it.
func startRecordsBench(ctx context.Context, chainID string) (_ *recordsBench, err error) {
	dir, err := os.MkdirTemp("", chainID+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	h := Home(dir + "/node")
	orgKey, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	admin := records.Signer{ID: "bench/admin", Key: ed25519.NewKeyFromSeed(make([]byte, 32))}
	g := &ledger.Genesis{Organizations: []ledger.GenesisOrg{{
		Organization: carechain.Organization{ID: "bench", Name: "Bench Hospital", Type: carechain.OrgHospital, EncryptionKey: orgKey.Public().Bytes()},
		Admins:       []ledger.GenesisAdmin{{ID: admin.ID, PublicKey: admin.Key.Public().(ed25519.PublicKey)}},
	}}}
	c := DefaultConfig(chainID, "bench")
	c.TimeoutCommit = 0
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.P2PAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := Init(h, InitOptions{Config: c, Genesis: g}); err != nil {
		return nil, err
	}
	n, err := Start(ctx, h, StartOptions{})
	if err != nil {
		return nil, err
	}
	if err := n.WaitReady(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	kr := &records.Keyring{}
	kr.Add("bench", orgKey)
	svc, err := records.New(n, kr, records.Options{Node: "bench"})
	if err != nil {
		n.Stop()
		return nil, err
	}
	return &recordsBench{node: n, svc: svc, admin: admin, chainID: chainID, home: h, dir: dir}, nil
}

func allAccepted(outs []ledger.Outcome, err error) error {
	if err != nil {
		return err
	}
	for _, o := range outs {
		if !o.Accepted() {
			return fmt.Errorf("%s: %s", o.Code, o.Log)
		}
	}
	return nil
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
