package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// BenchOptions configure BenchLedger.
type BenchOptions struct {
	Txs     int // signed transactions to commit per run
	Signers int // concurrent signers, each submitting its own nonces in order
	// Window is how many transactions one signer keeps in flight.
	Window int
	// TimeoutCommit of the benchmark node (0: start the next height at once).
	TimeoutCommit time.Duration
	MempoolSize   int
}

// DefaultBenchOptions are what `carechain bench ledger` runs with.
func DefaultBenchOptions() BenchOptions {
	return BenchOptions{Txs: 20000, Signers: 8, Window: 1000, TimeoutCommit: 0, MempoolSize: 20000}
}

// BenchResult is one measured run.
type BenchResult struct {
	Txs     int
	Elapsed time.Duration
	Blocks  int64
	// Latency percentiles from broadcast to commit notification.
	P50, P99 time.Duration
}

// TxPerSecond is committed transactions per second.
func (r BenchResult) TxPerSecond() float64 { return float64(r.Txs) / r.Elapsed.Seconds() }

// BenchReport compares the ledger with the ceiling of the same CometBFT setup.
type BenchReport struct {
	Options BenchOptions
	TxBytes int         // size of one transaction
	Ledger  BenchResult // carechain's ledger app: identity.register txs, signatures checked
	Ceiling BenchResult // the same txs through an app that accepts everything
}

// Ratio is ledger throughput over ceiling throughput.
func (r BenchReport) Ratio() float64 { return r.Ledger.TxPerSecond() / r.Ceiling.TxPerSecond() }

// BenchLedger measures committed, signed transactions per second on a
// one-validator node, and in the same run the ceiling: the same transactions,
// node configuration and submission pattern with an app that accepts every
// transaction. Transactions are signed before timing starts. Homes are made
// under a temporary directory and removed afterwards.
func BenchLedger(ctx context.Context, opts BenchOptions) (BenchReport, error) {
	rep := BenchReport{Options: opts}
	if opts.Txs < opts.Signers || opts.Signers < 1 || opts.Window < 1 {
		return rep, fmt.Errorf("bench: need txs >= signers >= 1 and window >= 1")
	}
	dir, err := os.MkdirTemp("", "carechain-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)

	admin := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	const chainID = "carechain-bench"
	genesis := &ledger.Genesis{Organizations: []ledger.GenesisOrg{{
		Organization: carechain.Organization{ID: "bench", Name: "Bench Hospital", Type: carechain.OrgHospital},
		Admins:       []ledger.GenesisAdmin{{ID: "bench/admin", PublicKey: admin.Public().(ed25519.PublicKey)}},
	}}}
	// Setup: the signers are registration clerks; workload: each registers patients.
	setup := make([][]byte, opts.Signers)
	work := make([][][]byte, opts.Signers)
	for i := range opts.Signers {
		_, clerk, _ := ed25519.GenerateKey(nil)
		id := fmt.Sprintf("bench/clerk%d", i)
		if setup[i], err = tx.Sign(admin, chainID, "bench/admin", uint64(i+1), tx.TypeRegister, &tx.Register{
			ID: id, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RoleRegistrationClerk},
			PublicKey: clerk.Public().(ed25519.PublicKey),
		}); err != nil {
			return rep, err
		}
		for j := range opts.Txs / opts.Signers {
			_, pk, _ := ed25519.GenerateKey(nil)
			raw, err := tx.Sign(clerk, chainID, id, uint64(j+1), tx.TypeRegister, &tx.Register{
				ID: fmt.Sprintf("patient/b%d-%d", i, j), Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey),
			})
			if err != nil {
				return rep, err
			}
			work[i] = append(work[i], raw)
		}
	}
	rep.TxBytes = len(work[0][0])

	for _, trivial := range []bool{true, false} {
		home := Home(fmt.Sprintf("%s/%v", dir, map[bool]string{true: "ceiling", false: "ledger"}[trivial]))
		res, err := benchRun(ctx, home, chainID, genesis, opts, setup, work, trivial)
		if err != nil {
			return rep, err
		}
		if trivial {
			rep.Ceiling = res
		} else {
			rep.Ledger = res
		}
	}
	return rep, nil
}

func benchRun(ctx context.Context, h Home, chainID string, g *ledger.Genesis, opts BenchOptions, setup [][]byte, work [][][]byte, trivial bool) (BenchResult, error) {
	c := DefaultConfig(chainID, "bench")
	c.TimeoutCommit = Duration(opts.TimeoutCommit)
	c.MempoolSize = opts.MempoolSize
	p2p, err := freePort()
	if err != nil {
		return BenchResult{}, err
	}
	c.P2PAddr = fmt.Sprintf("127.0.0.1:%d", p2p)
	if err := Init(h, InitOptions{Config: c, Genesis: g}); err != nil {
		return BenchResult{}, err
	}
	n, err := start(ctx, h, StartOptions{}, trivial)
	if err != nil {
		return BenchResult{}, err
	}
	defer n.Stop()
	if err := n.WaitReady(ctx); err != nil {
		return BenchResult{}, err
	}
	outs, err := n.SubmitAll(ctx, setup)
	if err != nil {
		return BenchResult{}, err
	}
	for _, o := range outs {
		if !o.Accepted() {
			return BenchResult{}, fmt.Errorf("bench setup: %s: %s", o.Code, o.Log)
		}
	}
	startHeight := n.cmt.BlockStore().Height()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
	)
	begin := time.Now()
	for i := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, err := n.pipeline(ctx, work[i], opts.Window)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if firstErr != nil {
		return BenchResult{}, firstErr
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return BenchResult{
		Txs: len(latencies), Elapsed: elapsed, Blocks: n.cmt.BlockStore().Height() - startHeight,
		P50: latencies[len(latencies)/2], P99: latencies[len(latencies)*99/100],
	}, nil
}

// pipeline submits one signer's txs in order, keeping at most window in
// flight, and returns each one's broadcast-to-commit latency. Every tx must be accepted.
func (n *Node) pipeline(ctx context.Context, raws [][]byte, window int) ([]time.Duration, error) {
	type flight struct {
		hash [32]byte
		ch   chan ledger.Outcome
		sent time.Time
	}
	inflight := make([]flight, 0, len(raws))
	lat := make([]time.Duration, 0, len(raws))
	wait := func(f flight) error {
		defer n.dropWaiter(f.hash, f.ch)
		select {
		case o := <-f.ch:
			if !o.Accepted() {
				return fmt.Errorf("bench tx rejected: %s: %s", o.Code, o.Log)
			}
			lat = append(lat, time.Since(f.sent))
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i, raw := range raws {
		if i >= window {
			if err := wait(inflight[i-window]); err != nil {
				return lat, err
			}
		}
		f := flight{hash: sha256.Sum256(raw), ch: make(chan ledger.Outcome, 1), sent: time.Now()}
		n.mu.Lock()
		n.waiters[f.hash] = append(n.waiters[f.hash], f.ch)
		n.mu.Unlock()
		inflight = append(inflight, f)
		for {
			out, err := n.checkOnly(ctx, raw)
			if errors.Is(err, ErrMempoolFull) {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			if err != nil {
				return lat, err
			}
			if out.Code != ledger.CodeOK {
				return lat, fmt.Errorf("bench tx rejected by CheckTx: %s: %s", out.Code, out.Log)
			}
			break
		}
	}
	for _, f := range inflight[max(0, len(inflight)-window):] {
		if err := wait(f); err != nil {
			return lat, err
		}
	}
	return lat, nil
}

// trivialApp accepts every transaction and keeps no state: the ceiling of the
// CometBFT setup, against which the ledger is measured.
type trivialApp struct {
	abci.BaseApplication
	events  ledger.Events
	height  int64
	pending []ledger.TxResult
}

func (a *trivialApp) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	resp := &abci.FinalizeBlockResponse{TxResults: make([]*abci.ExecTxResult, len(req.Txs)), AppHash: []byte("ceiling")}
	a.pending = make([]ledger.TxResult, len(req.Txs))
	for i, t := range req.Txs {
		resp.TxResults[i] = &abci.ExecTxResult{}
		a.pending[i] = ledger.TxResult{Hash: sha256.Sum256(t)}
	}
	a.height = req.Height
	return resp, nil
}

func (a *trivialApp) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.events.BlockCommitted(ledger.CommittedBlock{Height: a.height, Txs: a.pending})
	return &abci.CommitResponse{}, nil
}

func (a *trivialApp) InitChain(context.Context, *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	return &abci.InitChainResponse{AppHash: []byte("ceiling")}, nil
}

func (a *trivialApp) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	return &abci.InfoResponse{}, nil
}
