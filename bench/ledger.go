package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/tx"
)

// LedgerOptions configure Ledger.
type LedgerOptions struct {
	Txs     int // signed transactions to commit per run
	Signers int // concurrent signers, each submitting its own nonces in order
	// Window is how many transactions one signer keeps in flight.
	Window int
	// TimeoutCommit of the benchmark node (0: start the next height at once).
	TimeoutCommit time.Duration
	MempoolSize   int
	// Validators of equal power, all in this process (0 or 1: one). The
	// signers submit to the first; every validator runs the same app.
	Validators int
}

// DefaultLedgerOptions are what `carechain bench ledger` runs with.
func DefaultLedgerOptions() LedgerOptions {
	return LedgerOptions{Txs: 20000, Signers: 8, Window: 1000, TimeoutCommit: 0, MempoolSize: 20000}
}

// Result is one measured run.
type Result struct {
	Txs     int
	Elapsed time.Duration
	Blocks  int64
	// Latency percentiles from broadcast to commit notification.
	P50, P99 time.Duration
	// CPU is the process's CPU time per committed transaction (node and
	// submitting clients): other load on a shared machine moves it less
	// than it moves rates.
	CPU time.Duration
	// Dropped counts transactions dropped from a mempool at recheck (a
	// later nonce of their signer committed first), not in Txs.
	Dropped int
}

// TxPerSecond is committed transactions per second.
func (r Result) TxPerSecond() float64 { return float64(r.Txs) / r.Elapsed.Seconds() }

// LedgerReport compares the ledger with the ceiling of the same CometBFT setup.
type LedgerReport struct {
	Options LedgerOptions
	TxBytes int    // size of one transaction
	Ledger  Result // carechain's ledger app: identity.register txs, signatures checked
	Ceiling Result // the same txs through an app that accepts everything
}

// Ratio is ledger throughput over ceiling throughput.
func (r LedgerReport) Ratio() float64 { return r.Ledger.TxPerSecond() / r.Ceiling.TxPerSecond() }

// ledgerChainID is the chain of both of Ledger's runs; transactions are
// signed for it once and submitted to each.
const ledgerChainID = "carechain-bench"

// Ledger measures committed, signed transactions per second on a chain of
// opts.Validators validators in this process (one by default), and in the
// same run the ceiling: the same transactions,
// node configuration and submission pattern with an app that accepts every
// transaction. Transactions are signed before timing starts.
func Ledger(ctx context.Context, opts LedgerOptions) (LedgerReport, error) {
	rep := LedgerReport{Options: opts}
	if opts.Txs < opts.Signers || opts.Signers < 1 || opts.Window < 1 {
		return rep, fmt.Errorf("bench: need txs >= signers >= 1 and window >= 1")
	}
	dir, err := os.MkdirTemp("", "carechain-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	setup, work, err := ledgerTxs(opts)
	if err != nil {
		return rep, err
	}
	rep.TxBytes = len(work[0][0])
	for _, run := range []struct {
		name string
		app  func(ledger.Events) abci.Application
		res  *Result
	}{{"ceiling", newAcceptAll, &rep.Ceiling}, {"ledger", nil, &rep.Ledger}} {
		if *run.res, err = measureLedger(ctx, filepath.Join(dir, run.name), opts, run.app, setup, work); err != nil {
			return rep, fmt.Errorf("bench %s: %w", run.name, err)
		}
	}
	return rep, nil
}

// ledgerTxs signs the setup, in which the admin registers the signers as
// registration clerks, and the workload: per signer, its share of the
// patient registrations in nonce order.
func ledgerTxs(opts LedgerOptions) (setup [][]byte, work [][][]byte, err error) {
	admin := adminKey()
	setup = make([][]byte, opts.Signers)
	work = make([][][]byte, opts.Signers)
	for i := range opts.Signers {
		clerk, reg := practitioner(fmt.Sprintf("bench/clerk%d", i), carechain.RoleRegistrationClerk)
		if setup[i], err = tx.Sign(admin, ledgerChainID, adminID, uint64(i+1), tx.TypeRegister, reg); err != nil {
			return nil, nil, err
		}
		for j := range opts.Txs / opts.Signers {
			_, reg := patient(fmt.Sprintf("patient/b%d-%d", i, j), nil)
			raw, err := tx.Sign(clerk.Key, ledgerChainID, clerk.ID, uint64(j+1), tx.TypeRegister, reg)
			if err != nil {
				return nil, nil, err
			}
			work[i] = append(work[i], raw)
		}
	}
	return setup, work, nil
}

// measureLedger starts a node in dir with app, commits setup, then times the
// signers' pipelines running concurrently.
func measureLedger(ctx context.Context, dir string, opts LedgerOptions, app func(ledger.Events) abci.Application, setup [][]byte, work [][][]byte) (Result, error) {
	nodes, err := startNodes(ctx, dir, ledgerChainID, max(opts.Validators, 1), genesis(adminKey(), nil), func(c *node.Config) {
		c.TimeoutCommit = node.Duration(opts.TimeoutCommit)
		c.MempoolSize = opts.MempoolSize
	}, node.StartOptions{App: app})
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	n := nodes[0]
	if _, err := pipeline(ctx, n, setup, len(setup)); err != nil {
		return Result{}, fmt.Errorf("setup: %w", err)
	}
	startHeight := n.BlockHeight()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		dropped   int
	)
	begin, cpu := time.Now(), processCPU()
	err = inParallel(len(work), func(i int) error {
		lat, d, err := pipelineDropping(ctx, n, work[i], opts.Window)
		mu.Lock()
		defer mu.Unlock()
		latencies, dropped = append(latencies, lat...), dropped+d
		return err
	})
	elapsed, cpu := time.Since(begin), processCPU()-cpu
	if err != nil {
		return Result{}, err
	}
	res := Result{Txs: len(latencies), Elapsed: elapsed, Blocks: n.BlockHeight() - startHeight, CPU: cpu / time.Duration(max(len(latencies), 1)), Dropped: dropped}
	res.P50, res.P99 = percentiles(latencies)
	return res, nil
}
