package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// SupplyOptions configure Supply.
type SupplyOptions struct {
	Serials       int // serialized units to commission and ship
	Batch         int // units per transaction (at most supply.MaxUnits)
	Verifications int // scans to verify, without and with proof bundles
	Clients       int // verifying in parallel
	// Private also runs the same phases for a product registered as
	// private, on a fresh node after the ordinary one (supplyprivate.go).
	Private bool
}

// DefaultSupplyOptions are what `carechain bench supply` runs with; the
// issue's full size is --serials 1000000.
func DefaultSupplyOptions() SupplyOptions {
	return SupplyOptions{Serials: 100000, Batch: supply.MaxUnits, Verifications: 4000, Clients: 4}
}

// SupplyReport is the outcome of Supply.
type SupplyReport struct {
	Options             SupplyOptions
	CommissionPerSecond float64 // serials commissioned per second (batches of Batch)
	ShipPerSecond       float64 // serials shipped per second
	// StateBytesPerSerial is the growth of the state store per serial
	// commissioned and shipped (the values, their history and the supply
	// map's nodes); DataBytesPerSerial that of the node's whole data
	// directory (blocks too).
	StateBytesPerSerial float64
	DataBytesPerSerial  float64
	// Plain is the verification a node answers from its latest state (the
	// same-run baseline); Proved the verification at the newest signed
	// checkpoint with its bundle, encoded as the API sends it.
	Plain, Proved VerifyFigures
	BundleBytes   int
	// CheckPerSecond is the offline check of bundles (proof.CheckSupply), on
	// Clients goroutines.
	CheckPerSecond float64
	// CheckWarmPerSecond is the same with the verifier's checkpoints
	// remembered (proof.Checkpoints): one signature check a checkpoint.
	CheckWarmPerSecond float64
	// Private is the private product's run (nil without Options.Private).
	Private *PrivateSupplyReport
}

// VerifyFigures are the latency and rate of verifications on parallel clients.
type VerifyFigures struct {
	P50, P99  time.Duration
	PerSecond float64
}

const (
	supplyGTIN  = "00312345678906"
	mfrOrg      = "mfr"
	mfrAdmin    = "mfr/admin"
	unitsPerLot = 10000
	// checkpointWait bounds the wait for a checkpoint of the loaded state,
	// as the API's.
	checkpointWait = 10 * time.Second
	supplyExpiry   = "2030-12-31"
	// supplyWindow is how many batches are in flight in each phase.
	supplyWindow = 4
)

// Supply commissions opts.Serials units of one product in a manufacturer's
// batches and ships them to a hospital (org), then times verifications of
// scans of them by the hospital (nine in ten genuine, one in ten unknown
// serials): without proofs, then with bundles; and the offline check of the
// bundles.
func Supply(ctx context.Context, opts SupplyOptions) (SupplyReport, error) {
	rep := SupplyReport{Options: opts}
	if opts.Serials < 1 || opts.Batch < 1 || opts.Batch > supply.MaxUnits || opts.Verifications < 1 || opts.Clients < 1 {
		return rep, fmt.Errorf("bench: need serials >= 1, 1 <= batch <= %d, verifications >= 1 and clients >= 1", supply.MaxUnits)
	}
	if err := supplyOrdinary(ctx, opts, &rep); err != nil || !opts.Private {
		return rep, err
	}
	p, err := supplyPrivate(ctx, opts)
	rep.Private = &p
	return rep, err
}

// supplyOrdinary is Supply's run of an ordinary product, on its own node.
func supplyOrdinary(ctx context.Context, opts SupplyOptions, rep *SupplyReport) error {
	sn, err := startSupplyNode(ctx)
	if err != nil {
		return err
	}
	defer sn.Close()
	if err := sn.load(ctx, opts, rep); err != nil {
		return err
	}
	vf, bundles, err := sn.timeVerifications(ctx, opts, scanOf(opts, mfrOrg), nil)
	if err != nil {
		return err
	}
	rep.Plain, rep.Proved, rep.BundleBytes = vf.Plain, vf.Proved, vf.BundleBytes
	rep.CheckPerSecond, rep.CheckWarmPerSecond, err = timeChecks(ctx, sn, bundles, opts, scanOf(opts, mfrOrg), func(i int, v supply.Verification) error {
		if v.Commissioned != (i%10 != 9) {
			return fmt.Errorf("bundle %d: commissioned %v", i, v.Commissioned)
		}
		return nil
	})
	return err
}

// supplyNode is a records node whose chain has a manufacturer beside the
// hospital; the bench holds the product key.
type supplyNode struct {
	*recordsNode
	mfr        ed25519.PrivateKey
	mfrPub     *seal.PublicKey
	hospPub    *seal.PublicKey
	productKey []byte
	nonce      uint64 // the manufacturer admin's
	// supplyJournal is the node's sealed supply journal, as `carechain
	// run` keeps it beside the data directory (private custody's notes).
	supplyJournal *store.Queue
}

// Close stops the node and removes its files.
func (sn *supplyNode) Close() {
	sn.node.Stop()
	if sn.supplyJournal != nil {
		sn.supplyJournal.Close()
	}
	sn.recordsNode.Close()
}

func startSupplyNode(ctx context.Context) (_ *supplyNode, err error) {
	const chainID = "carechain-bench-supply"
	dir, err := os.MkdirTemp("", chainID+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	hospKey, err1 := seal.GenerateKey()
	mfrKey, err2 := seal.GenerateKey()
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bench keys: %v %v", err1, err2)
	}
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 7
	sn := &supplyNode{mfr: ed25519.NewKeyFromSeed(seed), productKey: make([]byte, supply.KeySize), mfrPub: mfrKey.Public(), hospPub: hospKey.Public()}
	rand.Read(sn.productKey)
	admin := records.Signer{ID: adminID, Key: adminKey()}
	g := genesis(admin.Key, hospKey.Public().Bytes())
	g.Organizations = append(g.Organizations, ledger.GenesisOrg{
		Organization: carechain.Organization{ID: mfrOrg, Name: "Bench Pharma", Type: carechain.OrgManufacturer, EncryptionKey: mfrKey.Public().Bytes()},
		Admins:       []ledger.GenesisAdmin{{ID: mfrAdmin, PublicKey: sn.mfr.Public().(ed25519.PublicKey)}},
	})
	n, err := startNode(ctx, dir, chainID, g, nil, node.StartOptions{})
	if err != nil {
		return nil, err
	}
	kr := &records.Keyring{}
	kr.Add(org, hospKey)
	kr.Add(mfrOrg, mfrKey)
	journal, err := store.OpenQueue(filepath.Join(dir, "audit-journal"))
	if err != nil {
		n.Stop()
		return nil, err
	}
	sn.recordsNode = &recordsNode{node: n, journal: journal, admin: admin, chainID: chainID, dir: dir}
	if sn.supplyJournal, err = store.OpenQueue(sn.supplyJournalDir()); err != nil {
		sn.Close()
		return nil, err
	}
	if sn.svc, err = records.New(n, kr, records.Options{Node: "bench", Journal: journal, SupplyJournal: sn.supplyJournal}); err != nil {
		sn.Close()
		return nil, fmt.Errorf("records service: %w", err)
	}
	return sn, nil
}

func (sn *supplyNode) supplyJournalDir() string { return filepath.Join(sn.dir, "supply-journal") }

func supplySerial(i int) string { return fmt.Sprintf("SN%09d", i) }

// supplyBatch is one transaction's units: serials from to to-1, of one lot.
type supplyBatch struct{ lot, from, to int }

func (b supplyBatch) lotName() string { return fmt.Sprintf("L%d", b.lot) }

// supplyBatches cuts opts.Serials into batches of at most opts.Batch, each
// within one lot of unitsPerLot.
func supplyBatches(opts SupplyOptions) []supplyBatch {
	var out []supplyBatch
	for from := 0; from < opts.Serials; {
		lot := from / unitsPerLot
		to := min(opts.Serials, from+opts.Batch, (lot+1)*unitsPerLot)
		out = append(out, supplyBatch{lot, from, to})
		from = to
	}
	return out
}

// storeSizes are the bytes of a node's state store and data directory.
type storeSizes struct{ state, data int64 }

func (sn *supplyNode) sizes() (storeSizes, error) {
	state, err1 := dirBytes(sn.node.Home().StateDir())
	data, err2 := dirBytes(sn.node.Home().DataDir())
	if err1 != nil || err2 != nil {
		return storeSizes{}, fmt.Errorf("state size: %v %v", err1, err2)
	}
	return storeSizes{state, data}, nil
}

// perSerial is the growth from a to b per serial, state and data directory.
func perSerial(a, b storeSizes, serials int) (state, data float64) {
	return float64(b.state-a.state) / float64(serials), float64(b.data-a.data) / float64(serials)
}

// signMfr signs body as the manufacturer's admin with its next nonce.
func (sn *supplyNode) signMfr(typ tx.Type, body any) ([]byte, error) {
	sn.nonce++
	return tx.Sign(sn.mfr, sn.chainID, mfrAdmin, sn.nonce, typ, body)
}

// load registers the product, then commissions and ships every serial in
// batches, timing each phase and the state's growth.
func (sn *supplyNode) load(ctx context.Context, opts SupplyOptions, rep *SupplyReport) error {
	wrap := func(pub *seal.PublicKey, to string) ([]byte, error) {
		return pub.Wrap(sn.productKey, supply.KeyWrapInfo(supplyGTIN, to))
	}
	kw, err := wrap(sn.mfrPub, mfrOrg)
	if err != nil {
		return err
	}
	raw, err := sn.signMfr(tx.TypeSupplyProduct, &tx.SupplyProduct{GTIN: supplyGTIN, Name: "Bench 500 mg", Kind: supply.KindDrug, KeyWrap: kw})
	if err != nil {
		return err
	}
	if _, err := pipeline(ctx, sn.node, [][]byte{raw}, 1); err != nil {
		return err
	}
	hospWrap, err := wrap(sn.hospPub, org)
	if err != nil {
		return err
	}
	var commission, ship [][]byte
	var batchUnits [][][]byte
	for _, b := range supplyBatches(opts) {
		units := make([][]byte, 0, b.to-b.from)
		for i := b.from; i < b.to; i++ {
			units = append(units, supply.Commitment(sn.productKey, supplyGTIN, supplySerial(i)))
		}
		c, err := sn.signMfr(tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: supplyGTIN, Lot: b.lotName(), Expiry: supplyExpiry, Units: units})
		if err != nil {
			return err
		}
		commission, batchUnits = append(commission, c), append(batchUnits, units)
	}
	for _, units := range batchUnits { // the ships follow the commissions in nonce order
		m := &tx.SupplyMove{Action: tx.MoveShip, GTIN: supplyGTIN, To: org, Units: units}
		if len(ship) == 0 {
			m.KeyWrap = hospWrap
		}
		s, err := sn.signMfr(tx.TypeSupplyMove, m)
		if err != nil {
			return err
		}
		ship = append(ship, s)
	}
	before, err := sn.sizes()
	if err != nil {
		return err
	}
	begin := time.Now()
	if _, err := pipeline(ctx, sn.node, commission, supplyWindow); err != nil {
		return fmt.Errorf("commission: %w", err)
	}
	rep.CommissionPerSecond = float64(opts.Serials) / time.Since(begin).Seconds()
	begin = time.Now()
	if _, err := pipeline(ctx, sn.node, ship, supplyWindow); err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	rep.ShipPerSecond = float64(opts.Serials) / time.Since(begin).Seconds()
	after, err := sn.sizes()
	rep.StateBytesPerSerial, rep.DataBytesPerSerial = perSerial(before, after, opts.Serials)
	return err
}

// scanOf gives the i-th scan Supply verifies, offered by seller: one in
// ten is of a serial never commissioned.
func scanOf(opts SupplyOptions, seller string) func(i int) supply.Scan {
	return func(i int) supply.Scan {
		n := (i * 7919) % opts.Serials
		if i%10 == 9 {
			n = opts.Serials + i
		}
		return supply.Scan{GTIN: supplyGTIN, Serial: supplySerial(n), Seller: seller}
	}
}

// SupplyVerify is the verification of the same scans without and with
// their bundles.
type SupplyVerify struct {
	// Plain is the verification a node answers from its latest state (the
	// same-run baseline); Proved the verification at the newest signed
	// checkpoint with its bundle, encoded as the API sends it.
	Plain, Proved VerifyFigures
	BundleBytes   int
}

// timeVerifications times opts.Verifications scans (scan(i)) on
// opts.Clients goroutines, first as plain verifications, then with bundles
// at the newest checkpoint (fetched for each, as the API does), and
// returns the bundles. check, if not nil, judges each answer of both.
func (sn *supplyNode) timeVerifications(ctx context.Context, opts SupplyOptions, scan func(int) supply.Scan, check func(int, supply.Verification) error) (SupplyVerify, []*proof.SupplyBundle, error) {
	var out SupplyVerify
	caller, err := sn.node.App().Latest().Principal(adminID)
	if err != nil {
		return out, nil, err
	}
	if _, _, err := sn.node.CheckpointView(ctx, 0, checkpointWait); err != nil {
		return out, nil, err
	}
	if check == nil {
		check = func(int, supply.Verification) error { return nil }
	}
	out.Plain, err = onClients(opts, func(i int) error {
		v, err := sn.svc.VerifyUnit(caller, scan(i))
		if err != nil {
			return err
		}
		return check(i, v)
	})
	if err != nil {
		return out, nil, err
	}
	bundles := make([]*proof.SupplyBundle, opts.Verifications)
	var size sync.Once
	out.Proved, err = onClients(opts, func(i int) error {
		cp, v, err := sn.node.CheckpointView(ctx, 0, checkpointWait)
		if err != nil {
			return err
		}
		ver, b, err := sn.svc.ProveUnit(v, caller, scan(i), cp)
		if err != nil {
			return err
		}
		enc, err := proof.Encode(b)
		size.Do(func() { out.BundleBytes = len(enc) })
		bundles[i] = b
		if err != nil {
			return err
		}
		return check(i, ver)
	})
	return out, bundles, err
}

// onClients runs f(0) … f(opts.Verifications-1) on opts.Clients goroutines
// and measures each call.
func onClients(opts SupplyOptions, f func(i int) error) (VerifyFigures, error) {
	lat := make([]time.Duration, opts.Verifications)
	begin := time.Now()
	err := inParallel(opts.Clients, func(w int) error {
		for i := w; i < opts.Verifications; i += opts.Clients {
			t := time.Now()
			if err := f(i); err != nil {
				return err
			}
			lat[i] = time.Since(t)
		}
		return nil
	})
	elapsed := time.Since(begin)
	var out VerifyFigures
	out.P50, out.P99 = percentiles(lat)
	out.PerSecond = float64(opts.Verifications) / elapsed.Seconds()
	return out, err
}

// timeChecks times the offline check of every bundle against the node's
// validators, each against its scan (scan(i), judged by check), on
// opts.Clients goroutines, and returns bundles/s: cold, each bundle's
// checkpoint verified as one scan checked alone; warm, a verifier's
// checkpoints remembered across its scans.
func timeChecks(ctx context.Context, sn *supplyNode, bundles []*proof.SupplyBundle, opts SupplyOptions, scan func(int) supply.Scan, check func(int, supply.Verification) error) (cold, warm float64, err error) {
	vj, err := sn.node.Validators(ctx)
	if err != nil {
		return 0, 0, err
	}
	trusted, err := proof.ParseValidators(vj)
	if err != nil {
		return 0, 0, err
	}
	now := time.Now()
	remembered := proof.NewCheckpoints(trusted)
	for _, run := range []struct {
		rate *float64
		cps  func() *proof.Checkpoints
	}{{&cold, func() *proof.Checkpoints { return proof.NewCheckpoints(trusted) }}, {&warm, func() *proof.Checkpoints { return remembered }}} {
		begin := time.Now()
		err := inParallel(opts.Clients, func(w int) error {
			for i := w; i < len(bundles); i += opts.Clients {
				v, err := run.cps().CheckSupply(bundles[i], scan(i), org, now)
				if err != nil {
					return fmt.Errorf("bundle %d: %w", i, err)
				}
				if err := check(i, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
		*run.rate = float64(len(bundles)) / time.Since(begin).Seconds()
	}
	return cold, warm, nil
}
