// Package bench measures a carechain node on this machine. It is what
// `carechain bench ledger|records|proofs|fhir|amend|sync|backup|search|scale`
// runs; nothing in a running node imports it.
//
// Each benchmark starts its own one-validator node in a new temporary home,
// which it removes afterwards, and returns a report:
//
//	rep, err := bench.Ledger(ctx, bench.DefaultLedgerOptions())
//	fmt.Println(rep.Ledger.TxPerSecond(), rep.Ratio())
//
// Ledger is the reference: it runs the same signed transactions through the
// ledger and through an app that accepts everything (the ceiling of the
// CometBFT setup), so a report says how much of the consensus engine's
// throughput the ledger keeps. Records, FHIR, Proofs and Amend measure
// record writes and reads, the FHIR REST API over loopback HTTP, proof
// generation and verification, and multi-party amendments; Sync a second
// node joining a chain of records and catching up by block sync; Backup an
// online backup and its restore against a copy of the data; Search the
// FHIR searches within one patient and across patients (the blind index)
// against a read of the same run; Scale the figures of Records, Sync and
// `carechain verify` at growing numbers of records, per record.
//
// These are measurements, not tests: they take seconds to minutes and their
// numbers depend on the machine. Work that is not being measured (signing,
// encryption, setup) is done before the clock starts.
package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
)

// mempoolRetry is how long a submitter backs off when the mempool is full.
const mempoolRetry = 2 * time.Millisecond

// flight is a transaction in the mempool, waiting for its block.
type flight struct {
	wait func(context.Context) (ledger.Outcome, error)
	sent time.Time
}

// pipeline submits one signer's transactions in nonce order, keeping at most
// window in flight, and returns each one's broadcast-to-commit latency. Every
// transaction must be accepted.
func pipeline(ctx context.Context, n *node.Node, raws [][]byte, window int) ([]time.Duration, error) {
	lat, dropped, err := pipelineDropping(ctx, n, raws, window)
	if err == nil && dropped > 0 {
		err = fmt.Errorf("%d bench txs were dropped from the mempool at recheck", dropped)
	}
	return lat, err
}

// pipelineDropping is pipeline, but counts the transactions dropped from
// the mempool at recheck instead of failing on them: on several validators
// a later nonce of a signer may reach a block first (another validator
// admitted it before the earlier one reached it), which makes the earlier
// one stale; its submitter is told (ledger.StageRecheck).
func pipelineDropping(ctx context.Context, n *node.Node, raws [][]byte, window int) ([]time.Duration, int, error) {
	inflight := make([]flight, 0, len(raws))
	lat := make([]time.Duration, 0, len(raws))
	dropped := 0
	land := func(f flight) error {
		o, err := f.wait(ctx)
		switch {
		case err != nil:
			return err
		case o.Stage == ledger.StageRecheck:
			dropped++
			return nil
		case !o.Accepted():
			return fmt.Errorf("bench tx rejected: %s: %s", o.Code, o.Log)
		}
		lat = append(lat, time.Since(f.sent))
		return nil
	}
	for i, raw := range raws {
		if i >= window {
			if err := land(inflight[i-window]); err != nil {
				return lat, dropped, err
			}
		}
		f, err := broadcast(ctx, n, raw)
		if err != nil {
			return lat, dropped, err
		}
		inflight = append(inflight, f)
	}
	for _, f := range inflight[max(0, len(inflight)-window):] {
		if err := land(f); err != nil {
			return lat, dropped, err
		}
	}
	return lat, dropped, nil
}

// broadcast hands raw to the mempool, waiting while it is full; the latency
// clock starts before the first try, since a full mempool is part of the cost.
func broadcast(ctx context.Context, n *node.Node, raw []byte) (flight, error) {
	sent := time.Now()
	for {
		out, wait, err := n.Broadcast(ctx, raw)
		switch {
		case errors.Is(err, node.ErrMempoolFull):
			select {
			case <-time.After(mempoolRetry):
				continue
			case <-ctx.Done():
				return flight{}, ctx.Err()
			}
		case err != nil:
			return flight{}, err
		case out.Code != ledger.CodeOK:
			return flight{}, fmt.Errorf("bench tx rejected by CheckTx: %s: %s", out.Code, out.Log)
		}
		return flight{wait: wait, sent: sent}, nil
	}
}

// inParallel runs f(0) … f(workers-1) concurrently and returns the first
// error by worker number.
func inParallel(workers int, f func(w int) error) error {
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = f(w) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// percentiles sorts lat and returns its median and 99th percentile (zero
// for no samples).
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}
