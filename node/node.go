// Package node runs a carechain node: an embedded CometBFT node whose ABCI
// application is the ledger, with state in Pebble under the node's home.
//
// Init and Testnet create homes; Start runs one. A running Node accepts signed
// transactions (Submit waits until they are committed or rejected) and
// answers queries through App. The HTTP API is wired by the caller (cmd).
package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/mempool"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/trust"
)

// Node is a running carechain node.
type Node struct {
	home    Home
	config  Config
	log     *slog.Logger
	store   *store.Store
	app     *ledger.App
	cmt     *nm.Node
	client  *local.Local
	metrics *metrics
	pv      *privval.FilePV
	guard   *restoreGuard // nil unless the home was restored (guard.go)
	bypass  trust.Bypass  // the ledger's (StartOptions.Bypass)
	// cometDBs are CometBFT's databases by DBContext.ID, for Snapshot.
	cometDBs map[string]dbm.DB

	mu      sync.Mutex
	waiters map[[32]byte][]chan ledger.Outcome
	// followers get every committed block (Follow), by a key of their own.
	followers    map[int]func(ledger.CommittedBlock)
	nextFollower int

	progress progressWatch // how long transactions wait without a block (progress.go)

	valChanges valChangeScan // where the validator set changed (validators.go)

	lastCheckpoint checkpointMemo // the newest checkpoint built (proof.go)

	// Peers (peers.go): the IDs the configuration names, and the commits
	// watchPeers checks the connected peers after.
	configPeers  map[string]bool
	committed    chan struct{}
	stopWatch    chan struct{}
	peersWatched chan struct{} // closed when watchPeers returns; nil if it never ran

	// halted is closed when the ledger refuses to go on (haltErr says why).
	halted   chan struct{}
	haltOnce sync.Once
	haltErr  error

	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// StartOptions configure Start.
type StartOptions struct {
	Logger *slog.Logger // nil: discard
	// HTTPAddr, if set, overrides the configured HTTP address (not written back).
	HTTPAddr string
	// App, if set, runs the node with another ABCI application instead of
	// the ledger; nil runs the ledger. It exists for package bench, which
	// measures the ceiling of the CometBFT setup with an accept-all app. The
	// node opens no state then, and App() returns nil. The application must
	// call events.BlockCommitted from Commit: that is what wakes Submit,
	// SubmitAll and Broadcast's waiters, and what the metrics count.
	App func(events ledger.Events) abci.Application
	// Bypass, switched off (only in a build with -tags notrust: package
	// trust), runs the ledger without checking signatures. For package
	// bench's cost-of-trust row.
	Bypass trust.Bypass
}

// Start opens the home's state and starts the CometBFT node. It resumes an
// existing chain: CometBFT replays any blocks the app has not committed.
// A home of an older format is migrated first, after a backup; one of a
// newer format is refused with a *FormatError (format.go).
func Start(ctx context.Context, h Home, opts StartOptions) (n *Node, err error) {
	c, err := h.LoadConfig()
	if err != nil {
		return nil, err
	}
	if opts.HTTPAddr != "" {
		c.HTTPAddr = opts.HTTPAddr
	}
	// The data files must be as the last clean stop left them; from here on
	// they change, so the manifest goes. Without one (after a crash) the
	// ledger's tables are checked instead (openLedger).
	cleanStop := h.hasManifest()
	if err := h.checkManifest(); err != nil {
		return nil, damaged(h, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := h.removeStaleStaging(logger); err != nil {
		return nil, err
	}
	// Before anything opens the data: a migration backs it up as it is.
	if err := h.migrateFormat(logger); err != nil {
		return nil, err
	}
	if err := os.Remove(h.manifestFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	n = &Node{home: h, config: c, log: logger, metrics: newMetrics(), waiters: make(map[[32]byte][]chan ledger.Outcome),
		configPeers: peerIDs(c.Peers), committed: make(chan struct{}, 1), stopWatch: make(chan struct{}), halted: make(chan struct{}),
		bypass: opts.Bypass}
	var app abci.Application
	if opts.App != nil {
		app = opts.App(n)
	} else {
		if err := n.openLedger(!cleanStop); err != nil {
			return nil, damaged(h, err)
		}
		st := n.store // n is nil once an error is returned
		defer func() {
			if err != nil {
				st.Close()
			}
		}()
		app = n.app
	}
	nodeKey, err := p2p.LoadNodeKey(h.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	signer, err := n.loadValidator()
	if err != nil {
		return nil, err
	}
	cfg := h.cometConfig(c)
	n.cmt, err = newCometNode(ctx, h, cfg, signer, nodeKey, app, n.dbProvider, cometLogger{l: logger.With("component", "cometbft"), stopping: &n.stopping})
	if err != nil {
		if halt := n.HaltErr(); halt != nil {
			// CometBFT's handshake replayed a block the ledger refuses:
			// say why, not how the handshake failed.
			return nil, halt
		}
		return nil, err
	}
	if err := n.cmt.Start(); err != nil {
		return nil, fmt.Errorf("start cometbft node: %w", err)
	}
	n.client = local.New(n.cmt)
	n.metrics.watch(n)
	if n.app != nil {
		n.peersWatched = make(chan struct{})
		go n.watchPeers(n.stopWatch)
	}
	if n.guard != nil {
		go n.watchGuard(n.stopWatch)
	}
	logger.Info("node started", "home", string(h), "chain_id", c.ChainID, "p2p", c.P2PAddr)
	return n, nil
}

// newCometNode creates the CometBFT node of h. CometBFT panics, rather than
// returning an error, on some damaged or inconsistent stores (a block store
// behind its state store); that is reported as a *DamagedError.
func newCometNode(ctx context.Context, h Home, cfg *cmtcfg.Config, pv types.PrivValidator, nodeKey *p2p.NodeKey,
	app abci.Application, dbs cmtcfg.DBProvider, logger cometLogger,
) (_ *nm.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Home: h, Err: fmt.Errorf("CometBFT's databases in %s (blockstore.db, state.db, evidence.db) are damaged or inconsistent: %v", h.DataDir(), r)}
		}
	}()
	// The mempool connection is unsynchronized so that CheckTx (signature
	// checks) runs on all cores; the app guards its mempool state itself.
	n, err := nm.NewNode(ctx, cfg, pv, nodeKey, proxy.NewConsensusSyncLocalClientCreator(app),
		nm.DefaultGenesisDocProviderFunc(cfg), dbs, nm.DefaultMetricsProvider(cfg.Instrumentation), logger)
	if err != nil {
		return nil, fmt.Errorf("create cometbft node: %w", err)
	}
	return n, nil
}

// loadValidator loads the home's validator key, guarded if the home was
// restored from a backup (guard.go), and returns what signs for CometBFT.
func (n *Node) loadValidator() (types.PrivValidator, error) {
	n.pv = privval.LoadFilePV(n.home.ValidatorKeyFile(), n.home.ValidatorStateFile())
	g, err := n.home.loadRestoreGuard()
	if err != nil || g == nil {
		return n.pv, err
	}
	n.guard = g
	n.metrics.guardHolding.Set(1)
	return guardedPV{PrivValidator: n.pv, g: g}, nil
}

// dbProvider opens CometBFT's databases as CometBFT would and keeps them
// for Snapshot.
func (n *Node) dbProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err == nil {
		if n.cometDBs == nil {
			n.cometDBs = map[string]dbm.DB{}
		}
		n.cometDBs[ctx.ID] = db
	}
	return db, err
}

// openLedger opens the home's state and the ledger app on it, reporting its
// events to n. With check, it first reads the whole state to check every
// table's checksums.
func (n *Node) openLedger(check bool) error {
	st, err := store.Open(n.home.StateDir(), n.log)
	if err != nil {
		return err
	}
	if check {
		if err := st.CheckFiles(); err != nil {
			st.Close()
			return err
		}
	}
	app, err := ledger.New(st, ledger.Options{ChainID: n.config.ChainID, Logger: n.log.With("component", "ledger"), Events: n, TrustPeer: n.trustPeer,
		Halt: n.halt, Bypass: n.bypass})
	if err != nil {
		st.Close()
		return err
	}
	n.store, n.app = st, app
	if last, err := st.LastCommit(); err == nil {
		n.metrics.height.Set(float64(last.Height))
	}
	return nil
}

// halt records that the ledger refused to go on (ledger.Options.Halt),
// just before FinalizeBlock returns the error. CometBFT, which saved the
// block before executing it, then stops executing blocks: its consensus
// routine panics on the error and recovers ("CONSENSUS FAILURE"), leaving
// the rest of the node up. The host sees Halted and stops the node. (On
// start, CometBFT's handshake fails instead, and Start returns the error.)
func (n *Node) halt(err error) {
	n.haltOnce.Do(func() {
		// The ledger logged why; what CometBFT logs about it next (the
		// failed block, "CONSENSUS FAILURE" and its stack) only repeats it.
		n.stopping.Store(true)
		n.haltErr = err
		close(n.halted)
	})
}

// Halted is closed when the node can go no further: at the height of an
// approved upgrade this build does not implement (a
// *ledger.UpgradeNeededError, from HaltErr). Its state stays at the height
// before; the host stops the node.
func (n *Node) Halted() <-chan struct{} { return n.halted }

// HaltErr says why the node halted; nil if it did not.
func (n *Node) HaltErr() error {
	select {
	case <-n.halted:
		return n.haltErr
	default:
		return nil
	}
}

// Home returns the node's home.
func (n *Node) Home() Home { return n.home }

// Config returns the configuration the node runs with.
func (n *Node) Config() Config { return n.config }

// App returns the ledger application, for queries (nil if StartOptions.App
// replaced it).
func (n *Node) App() *ledger.App { return n.app }

// Latest is the ledger state as of the last committed height.
func (n *Node) Latest() *ledger.View { return n.app.Latest() }

// BlockHeight is the height of the newest block in the node's block store.
func (n *Node) BlockHeight() int64 { return n.cmt.BlockStore().Height() }

// BlockTxs returns the raw transactions of the committed block at height,
// nil if the block store does not hold it: what every member holds, for
// audits and tests of what the ledger reveals.
func (n *Node) BlockTxs(height int64) [][]byte {
	b, _ := n.cmt.BlockStore().LoadBlock(height)
	if b == nil {
		return nil
	}
	out := make([][]byte, len(b.Txs))
	for i, t := range b.Txs {
		out[i] = t
	}
	return out
}

// Metrics returns the node's Prometheus registry.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics.registry }

// Syncing reports whether the node is still catching up with its peers (block
// sync). A syncing node does not accept transactions.
func (n *Node) Syncing() bool { return n.cmt.ConsensusReactor().WaitSync() }

// WaitReady waits until the node has caught up and committed at least one block.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		// A block is in the block store before the ledger has committed
		// it: ready means the ledger has state to answer from.
		if !n.Syncing() && n.cmt.BlockStore().Height() > 0 && (n.app == nil || n.app.Latest().Height() > 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ErrMempoolFull is returned by Submit when the node cannot take more
// transactions for now; retry later.
var ErrMempoolFull = fmt.Errorf("%w: mempool is full", ledger.ErrBusy)

// ErrSyncing is returned by Submit while the node catches up.
var ErrSyncing = fmt.Errorf("%w: catching up with its peers; try again shortly", ledger.ErrBusy)

// Submit broadcasts a signed transaction and waits until it is rejected by
// CheckTx or included in a committed block. A rejection is an ledger.Outcome with a
// non-zero code, not an error; errors are the node's or the context's.
func (n *Node) Submit(ctx context.Context, raw []byte) (ledger.Outcome, error) {
	outs, err := n.SubmitAll(ctx, [][]byte{raw})
	return outs[0], err
}

// checkOnly hands raw to the mempool and returns CheckTx's verdict.
func (n *Node) checkOnly(ctx context.Context, raw []byte) (ledger.Outcome, error) {
	if n.Syncing() {
		return ledger.Outcome{}, ErrSyncing
	}
	out := ledger.Outcome{Stage: ledger.StageCheck, Hash: sha256.Sum256(raw)}
	_, err := n.client.BroadcastTxSync(ctx, raw)
	var invalid mempool.ErrInvalidTx
	var tooLarge mempool.ErrTxTooLarge
	switch {
	case errors.As(err, &invalid):
		out.Code, out.Log = ledger.Code(invalid.Code), invalid.Log
		return out, nil
	case errors.As(err, &tooLarge):
		out.Code, out.Log = ledger.CodeTooLarge, tooLarge.Error()
		return out, nil
	case errors.As(err, new(mempool.ErrMempoolIsFull)):
		return out, fmt.Errorf("%w: %v", ErrMempoolFull, err)
	case errors.Is(err, mempool.ErrTxInCache):
		return out, fmt.Errorf("%w: %X was already received by this node", ledger.ErrDuplicateTx, out.Hash)
	case err != nil:
		return out, fmt.Errorf("broadcast: %w", err)
	}
	n.progress.sawPending(time.Now())
	return out, nil
}

// Broadcast hands a signed transaction to the mempool and returns CheckTx's
// verdict at once, with a function that waits for the commit outcome (call it
// only if the verdict is CodeOK). Callers that sign several transactions of
// one signer broadcast them in nonce order, then wait.
func (n *Node) Broadcast(ctx context.Context, raw []byte) (ledger.Outcome, func(context.Context) (ledger.Outcome, error), error) {
	hash := sha256.Sum256(raw)
	ch := make(chan ledger.Outcome, 1)
	n.mu.Lock()
	n.waiters[hash] = append(n.waiters[hash], ch)
	n.mu.Unlock()
	out, err := n.checkOnly(ctx, raw)
	if err != nil || out.Code != ledger.CodeOK {
		n.dropWaiter(hash, ch)
		return out, nil, err
	}
	wait := func(ctx context.Context) (ledger.Outcome, error) {
		defer n.dropWaiter(hash, ch)
		select {
		case o := <-ch:
			return o, nil
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for commit of %X: %w", hash, ctx.Err())
		}
	}
	return out, wait, nil
}

// SubmitAll broadcasts txs in order without waiting between them, then waits
// for every outcome. Use it for a signer's consecutive nonces: they reach the
// mempool, and so the block, in order. An error means some outcomes are unknown.
func (n *Node) SubmitAll(ctx context.Context, raws [][]byte) ([]ledger.Outcome, error) {
	outs := make([]ledger.Outcome, len(raws))
	chans := make([]chan ledger.Outcome, len(raws))
	hashes := make([][32]byte, len(raws))
	n.mu.Lock()
	for i, raw := range raws {
		hashes[i] = sha256.Sum256(raw)
		chans[i] = make(chan ledger.Outcome, 1)
		n.waiters[hashes[i]] = append(n.waiters[hashes[i]], chans[i])
	}
	n.mu.Unlock()
	defer func() {
		for i := range raws {
			n.dropWaiter(hashes[i], chans[i])
		}
	}()
	pending := make([]bool, len(raws))
	for i, raw := range raws {
		out, err := n.checkOnly(ctx, raw)
		if err != nil {
			return outs, err
		}
		outs[i] = out
		pending[i] = out.Code == ledger.CodeOK
	}
	for i, ch := range chans {
		if !pending[i] {
			continue
		}
		select {
		case outs[i] = <-ch:
		case <-ctx.Done():
			return outs, fmt.Errorf("waiting for commit of %X: %w", hashes[i], ctx.Err())
		}
	}
	return outs, nil
}

func (n *Node) dropWaiter(hash [32]byte, ch chan ledger.Outcome) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ws := n.waiters[hash]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(n.waiters, hash)
	} else {
		n.waiters[hash] = ws
	}
}

// TxRejected implements ledger.Events.
func (n *Node) TxRejected(stage ledger.Stage, code ledger.Code) { n.metrics.TxRejected(stage, code) }

// TxDropped implements ledger.Events: the submitters of a transaction the
// mempool dropped after a block learn why, instead of waiting for a commit
// that will not come. (A validator that missed a signer's nonce n, its
// mempool full, and then admitted n+1 commits n+1 first; n is then stale.)
func (n *Node) TxDropped(hash [32]byte, rej ledger.Rejection) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.waiters[hash] {
		select {
		case ch <- ledger.Outcome{Hash: hash, Stage: ledger.StageRecheck, Code: rej.Code, Log: "dropped from the mempool: " + rej.Msg}:
		default:
		}
	}
}

// BlockCommitted implements ledger.Events: it wakes the submitters of the block's txs.
func (n *Node) BlockCommitted(b ledger.CommittedBlock) {
	n.metrics.BlockCommitted(b)
	n.progress.committed()
	n.peerCommitted()
	n.guard.blockCommitted()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, fn := range n.followers {
		fn(b)
	}
	for _, t := range b.Txs {
		for _, ch := range n.waiters[t.Hash] {
			select {
			case ch <- ledger.Outcome{Hash: t.Hash, Stage: ledger.StageFinalize, Code: t.Code, Log: t.Log, Height: b.Height}:
			default:
			}
		}
	}
}

// Follow calls fn with every block committed from now on, in the commit
// path and before the block's submitters are woken, so fn must be quick
// and must not call back into the node. The returned function stops it.
func (n *Node) Follow(fn func(ledger.CommittedBlock)) (stop func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.followers == nil {
		n.followers = make(map[int]func(ledger.CommittedBlock))
	}
	key := n.nextFollower
	n.nextFollower++
	n.followers[key] = fn
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.followers, key)
	}
}

// Stop stops the node and closes its state. It is safe to call more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		close(n.stopWatch)
		if n.peersWatched != nil {
			<-n.peersWatched
		}
		if n.guard != nil {
			<-n.guard.done
		}
		// CometBFT's per-peer consensus routines can read the block store
		// for a while after the switch stops (one loop of sleeps); closing
		// the store under them panics. Stop the peers first and let those
		// loops see it.
		if sw := n.cmt.Switch(); sw.Peers().Size() > 0 {
			_ = sw.Stop()
			time.Sleep(4 * peerQueryMaj23Sleep)
		}
		if err := n.cmt.Stop(); err != nil {
			n.stopErr = fmt.Errorf("stop cometbft: %w", err)
		}
		n.cmt.Wait()
		if n.store != nil {
			if err := n.store.Close(); err != nil && n.stopErr == nil {
				n.stopErr = err
			}
		}
		if n.stopErr == nil {
			if err := n.home.writeManifest(); err != nil {
				n.stopErr = fmt.Errorf("write data manifest: %w", err)
			}
		}
		n.log.Info("node stopped", "home", string(n.home))
	})
	return n.stopErr
}
