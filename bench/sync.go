package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/tx"
)

// SyncOptions configure Sync.
type SyncOptions struct {
	// Records is how many record.puts are timed on the validator (rounded
	// up to a multiple of Authors); each patient's first record comes on top.
	Records  int
	Authors  int // concurrent authors, each writing for its own patients
	Patients int // patients per author
	Window   int // transactions in flight per author
}

// DefaultSyncOptions are what `carechain bench sync` runs with.
func DefaultSyncOptions() SyncOptions {
	return SyncOptions{Records: 100000, Authors: 8, Patients: 4, Window: 200}
}

// SyncReport is the outcome of Sync.
type SyncReport struct {
	Options       SyncOptions
	Records       int // record.puts on the chain: the timed ones and each patient's first
	ResourceBytes int // size of one record's FHIR Observation
	TxBytes       int // size of one timed record.put
	// Height is the validator's height when the joining node started: the
	// chain it synced, from its first block.
	Height int64
	// ChainBytes is the validator's data directory (CometBFT's block and
	// state stores, the ledger's Pebble state) at Height; JoinedBytes the
	// joined node's once it caught up.
	ChainBytes, JoinedBytes int64
	// Write is how long the validator took to commit WritePuts prepared
	// record.puts, in WriteBlocks blocks.
	Write       time.Duration
	WritePuts   int
	WriteBlocks int64
	// Sync runs from starting the joining node until its ledger has
	// committed Height and it no longer catches up (what /readyz asks). It
	// includes what CometBFT adds for any joining node: a random wait of up
	// to 3 s before dialing its persistent peers, and up to 1 s before block
	// sync notices it has caught up and hands over to consensus.
	Sync time.Duration
	// AppHash is both nodes' app hash at Height.
	AppHash []byte
}

// WritePerSecond is record.puts committed per second on the validator.
func (r SyncReport) WritePerSecond() float64 { return float64(r.WritePuts) / r.Write.Seconds() }

// WriteBlocksPerSecond is blocks committed per second while writing.
func (r SyncReport) WriteBlocksPerSecond() float64 { return float64(r.WriteBlocks) / r.Write.Seconds() }

// SyncPerSecond is records synced per second by the joining node.
func (r SyncReport) SyncPerSecond() float64 { return float64(r.Records) / r.Sync.Seconds() }

// SyncBlocksPerSecond is blocks synced per second by the joining node.
func (r SyncReport) SyncBlocksPerSecond() float64 { return float64(r.Height) / r.Sync.Seconds() }

// Ratio is the sync rate over the write rate of the same run, in records/s.
func (r SyncReport) Ratio() float64 { return r.SyncPerSecond() / r.WritePerSecond() }

// joinerID is the node principal of the node that joins in Sync.
const joinerID = org + "/node1"

// Sync measures how fast a new node catches up with a chain of records. A
// one-validator node commits opts.Records record.puts as Records does
// (prepared before timing); then a second, non-validator node joins the way
// an operator joins one (`carechain init --genesis --peers
// --node-principal`, its node principal registered by the organization's
// admin), and Sync times its block sync to the validator's height, checking
// that both nodes committed the same app hash there.
func Sync(ctx context.Context, opts SyncOptions) (SyncReport, error) {
	rep := SyncReport{Options: opts, ResourceBytes: len(observation(1))}
	if opts.Records < opts.Authors || opts.Authors < 1 || opts.Patients < 1 || opts.Window < 1 {
		return rep, fmt.Errorf("bench: need records >= authors >= 1, patients >= 1 and window >= 1")
	}
	bn, err := startRecordsNode(ctx, "carechain-bench-sync")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	if err := writeChain(ctx, bn, opts, &rep); err != nil {
		return rep, err
	}
	h, err := joinerHome(ctx, bn)
	if err != nil {
		return rep, err
	}
	if rep.Height, err = bn.node.App().Height(); err != nil {
		return rep, fmt.Errorf("validator's height: %w", err)
	}
	if rep.ChainBytes, err = dirBytes(bn.node.Home().DataDir()); err != nil {
		return rep, fmt.Errorf("size of the validator's data: %w", err)
	}
	return rep, timeSync(ctx, h, bn.node, &rep)
}

// writeChain registers the authors and their patients on bn, writes each
// patient's first record, then times the commit of the rest, prepared first.
func writeChain(ctx context.Context, bn *recordsNode, opts SyncOptions, rep *SyncReport) error {
	w, err := seedAuthors(ctx, bn, RecordsOptions{Authors: opts.Authors, Patients: opts.Patients})
	if err != nil {
		return err
	}
	per := (opts.Records + opts.Authors - 1) / opts.Authors
	work, err := w.preparePuts(bn, per)
	if err != nil {
		return fmt.Errorf("prepare record.puts: %w", err)
	}
	rep.TxBytes = len(work[0][0])
	rep.WritePuts = per * opts.Authors
	rep.Records = rep.WritePuts + opts.Authors*opts.Patients
	start := bn.node.BlockHeight()
	if rep.Write, err = commitPuts(ctx, bn.node, work, opts.Window); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	rep.WriteBlocks = bn.node.BlockHeight() - start
	return nil
}

// joinerHome makes, under bn's directory, the home of a node that joins
// bn's chain as `carechain init --genesis --peers --node-principal` makes
// it, and has the organization's admin register its node principal on bn:
// only registered nodes peer.
func joinerHome(ctx context.Context, bn *recordsNode) (node.Home, error) {
	h := node.Home(filepath.Join(bn.dir, "joiner"))
	// Nothing here is secret (the admin's key is fixed too): a cheap KDF
	// keeps the setup short.
	ks, err := keystore.Open(h.KeysDir(), keystore.FastKDF)
	if err != nil {
		return h, fmt.Errorf("joining node's keystore: %w", err)
	}
	gn, err := node.NewNodePrincipal(h, ks, joinerID, []byte("bench"))
	if err != nil {
		return h, err
	}
	peerID, err := bn.node.Home().NodeID()
	if err != nil {
		return h, err
	}
	c := node.DefaultConfig("", "joiner")
	c.Peers = []string{peerID + "@" + bn.node.Config().P2PAddr}
	// The bench serves no HTTP; a free address still keeps the home from
	// naming one another process may hold.
	for _, addr := range []*string{&c.P2PAddr, &c.HTTPAddr} {
		if *addr, err = node.FreeLoopbackAddr(); err != nil {
			return h, err
		}
	}
	if err := node.Init(h, node.InitOptions{Config: c, GenesisFile: bn.node.Home().GenesisFile()}); err != nil {
		return h, fmt.Errorf("joining node's home: %w", err)
	}
	reg := &tx.Register{ID: gn.ID, Kind: carechain.KindNode, NodeID: gn.NodeID, PublicKey: gn.PublicKey}
	return h, bn.register(ctx, reg)
}

// timeSync starts the node of home h and times it catching up with
// validator to rep.Height, then checks that the two committed the same app
// hash there. It stops the node before returning.
func timeSync(ctx context.Context, h node.Home, validator *node.Node, rep *SyncReport) (err error) {
	begin := time.Now()
	n, err := node.Start(ctx, h, node.StartOptions{})
	if err != nil {
		return fmt.Errorf("start joining node: %w", err)
	}
	defer func() {
		if stopErr := n.Stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("stop joined node: %w", stopErr)
		}
	}()
	if err := caughtUp(ctx, n, rep.Height); err != nil {
		return err
	}
	rep.Sync = time.Since(begin)
	if rep.AppHash, err = sameAppHash(rep.Height, validator.App(), n.App()); err != nil {
		return err
	}
	if rep.JoinedBytes, err = dirBytes(h.DataDir()); err != nil {
		return fmt.Errorf("size of the joined node's data: %w", err)
	}
	return nil
}

// syncPoll is how often caughtUp looks at the joining node. It polls rather
// than waiting on commit events: block sync commits faster than a
// subscriber to CometBFT's event bus may fall behind.
const syncPoll = 5 * time.Millisecond

// caughtUp waits until n's ledger has committed height and n no longer
// catches up with its peers.
func caughtUp(ctx context.Context, n *node.Node, height int64) error {
	t := time.NewTicker(syncPoll)
	defer t.Stop()
	for {
		h, err := n.App().Height()
		if err != nil {
			return fmt.Errorf("joining node's height: %w", err)
		}
		if h >= height && !n.Syncing() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("joining node at height %d of %d (catching up: %t): %w", h, height, n.Syncing(), ctx.Err())
		case <-t.C:
		}
	}
}

// appHashes is a node's record of the app hash it committed at each height
// (ledger.App).
type appHashes interface {
	AppHash(height int64) ([]byte, error)
}

// sameAppHash returns the app hash validator committed at height, if joined
// committed the same one.
func sameAppHash(height int64, validator, joined appHashes) ([]byte, error) {
	want, err := validator.AppHash(height)
	if err != nil {
		return nil, fmt.Errorf("validator's app hash: %w", err)
	}
	got, err := joined.AppHash(height)
	if err != nil {
		return nil, fmt.Errorf("joined node's app hash: %w", err)
	}
	if !bytes.Equal(got, want) {
		return nil, fmt.Errorf("joined node's app hash at height %d is %X, the validator's %X", height, got, want)
	}
	return want, nil
}

// dirBytes is the size of the files under dir. A running node's stores
// delete files (compactions) while it looks; those no longer count.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
