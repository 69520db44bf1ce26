package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	dbm "github.com/cometbft/cometbft-db"
	sm "github.com/cometbft/cometbft/state"
	cmtstore "github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/store"
)

// VerifyReport says what VerifyHome checked.
type VerifyReport struct {
	Blocks int64
	// Unexecuted is the height of a block saved but not executed yet (0:
	// none): the node stopped between the two, at an upgrade its build does
	// not implement or in a crash. Its next start executes it.
	Unexecuted int64
	// LedgerHeight is the ledger state's height if it is below the blocks
	// CometBFT executed (0: it is not): a home restored from a backup,
	// whose state was checkpointed before CometBFT's stores were copied.
	// Its next start replays the blocks after it.
	LedgerHeight int64
	// Format is the home's format (format.go).
	Format int
	ledger.VerifyReport
}

// VerifyHome checks a stopped node's data directory offline: every block's
// hash and link to its parent, every commit's signatures against the
// validator set of its height, every header's app hash against the ledger's
// committed state, and then the ledger state itself (ledger.VerifyState). The
// first failure is returned, naming the height, key or file.
func VerifyHome(h Home, progress func(string)) (rep VerifyReport, err error) {
	defer func() { err = damaged(h, err) }()
	if progress == nil {
		progress = func(string) {}
	}
	c, err := h.LoadConfig()
	if err != nil {
		return rep, err
	}
	if rep.Format, err = h.checkReadableFormat(); err != nil {
		return rep, err
	}
	if err := h.checkCometFiles(); err != nil {
		return rep, err
	}
	// CometBFT's stores panic on some corrupt input; report it as a failure.
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Home: h, Err: fmt.Errorf("CometBFT's databases in %s (blockstore.db, state.db) are damaged or inconsistent: %v", h.DataDir(), r)}
		}
	}()
	cs, err := openCometStores(h)
	if err != nil {
		return rep, err
	}
	defer cs.Close()
	chain, err := cs.verifyBlocks(c.ChainID, progress)
	if err != nil {
		return rep, &DamagedError{Home: h, Err: err}
	}
	rep.Blocks = chain.blocks
	if chain.applied < chain.top {
		rep.Unexecuted = chain.top
	}
	progress(fmt.Sprintf("checked %d blocks; checking the ledger state", rep.Blocks))
	rep.VerifyReport, rep.LedgerHeight, err = verifyLedgerState(h, chain, progress)
	return rep, err
}

// checkCometFiles checks that the data files are as the last clean stop
// left them, and that CometBFT's databases are there at all (opening a
// missing one would create it empty).
func (h Home) checkCometFiles() error {
	if err := h.checkManifest(); err != nil {
		return err
	}
	for _, f := range []string{"blockstore.db", "state.db"} {
		if _, err := os.Stat(h.DataDir() + "/" + f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// cometStores are a stopped node's CometBFT block store and state store.
type cometStores struct {
	bdb, sdb dbm.DB
	blocks   *cmtstore.BlockStore
	state    sm.Store
}

// openCometStores opens the block and state databases of h read-only and
// reads every entry once, so that every block's checksum is checked, even of
// data the later checks do not otherwise touch.
func openCometStores(h Home) (_ *cometStores, err error) {
	bdb, err := openReadOnlyDB(h, "blockstore")
	if err != nil {
		return nil, err
	}
	sdb, err := openReadOnlyDB(h, "state")
	if err != nil {
		bdb.Close()
		return nil, err
	}
	cs := &cometStores{bdb: bdb, sdb: sdb}
	defer func() {
		if err != nil {
			cs.Close()
		}
	}()
	for name, db := range map[string]dbm.DB{"blockstore.db": bdb, "state.db": sdb} {
		if err := scanAll(db); err != nil {
			return nil, cometDamage(h, fmt.Errorf("%s: %w", name, err), err)
		}
	}
	cs.blocks = cmtstore.NewBlockStore(bdb)
	cs.state = sm.NewStore(sdb, sm.StoreOptions{})
	return cs, nil
}

// errLocked is a store another process (the running node) holds.
var errLocked = errors.New("locked by a running node")

// openReadOnlyDB opens CometBFT's database name (name.db in h's data
// directory) so that nothing under it is written: goleveldb in read-only
// mode writes no LOG, journal or MANIFEST.
func openReadOnlyDB(h Home, name string) (dbm.DB, error) {
	db, err := dbm.NewGoLevelDBWithOpts(name, h.DataDir(), &opt.Options{ReadOnly: true, ErrorIfMissing: true})
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("%s.db is %w: stop the node of %s first (verify checks a stopped node)", name, errLocked, h)
	}
	if err != nil {
		return nil, cometDamage(h, fmt.Errorf("%s.db: %w", name, err), err)
	}
	return &readOnlyDB{DB: db, written: map[string][]byte{}}, nil
}

// cometDamage returns err as a *DamagedError if goleveldb reported cause as
// corrupted data, and err unchanged otherwise.
func cometDamage(h Home, err, cause error) error {
	if lerrors.IsCorrupted(cause) {
		return &DamagedError{Home: h, Err: err}
	}
	return err
}

// readOnlyDB keeps writes in memory and never passes them to disk.
// CometBFT's stores write their key layout version when opened
// (cmtstore.NewBlockStore, sm.NewStore) and panic if that fails; verify
// must change no byte of the home. Nothing else verify does writes.
type readOnlyDB struct {
	dbm.DB
	mu      sync.Mutex
	written map[string][]byte
}

func (d *readOnlyDB) Get(key []byte) ([]byte, error) {
	d.mu.Lock()
	v, ok := d.written[string(key)]
	d.mu.Unlock()
	if ok {
		return v, nil
	}
	return d.DB.Get(key)
}

func (d *readOnlyDB) Has(key []byte) (bool, error) {
	v, err := d.Get(key)
	return v != nil, err
}

func (d *readOnlyDB) Set(key, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.written[string(key)] = bytes.Clone(value)
	return nil
}

func (d *readOnlyDB) SetSync(key, value []byte) error { return d.Set(key, value) }
func (*readOnlyDB) Delete([]byte) error               { return errReadOnly }
func (*readOnlyDB) DeleteSync([]byte) error           { return errReadOnly }

var errReadOnly = errors.New("verify deletes nothing")

// Close closes both databases.
func (cs *cometStores) Close() {
	cs.bdb.Close()
	cs.sdb.Close()
}

// verifiedChain is what verifyBlocks learned about the chain for the ledger
// state check.
type verifiedChain struct {
	base, top int64
	// applied is the last block CometBFT executed: top, or top-1 when the
	// node stopped between saving a block and executing it (it stopped at
	// an upgrade its build does not implement, or crashed); the handshake
	// of its next start executes that block.
	applied int64
	blocks  int64
	// appHashes[h] is the app hash after block h, from header h+1 (and from
	// the state store for the top block).
	appHashes map[int64][]byte
}

// verifyBlocks checks every block from the store's base to its top.
func (cs *cometStores) verifyBlocks(chainID string, progress func(string)) (verifiedChain, error) {
	cstate, err := cs.state.Load()
	if err != nil {
		return verifiedChain{}, fmt.Errorf("state.db: %w", err)
	}
	vc := verifiedChain{base: cs.blocks.Base(), top: cs.blocks.Height(), applied: cstate.LastBlockHeight, appHashes: map[int64][]byte{}}
	if vc.applied != vc.top && vc.applied != vc.top-1 {
		return vc, fmt.Errorf("state.db is at height %d but blockstore.db at %d", cstate.LastBlockHeight, vc.top)
	}
	var prev *types.BlockMeta
	for height := vc.base; height <= vc.top && height > 0; height++ {
		meta, block, err := cs.verifyBlock(chainID, height, prev)
		if err != nil {
			return vc, err
		}
		vc.appHashes[height-1] = block.AppHash
		prev = meta
		vc.blocks++
		if height%10000 == 0 {
			progress(fmt.Sprintf("checked %d of %d blocks", height, vc.top))
		}
	}
	if vc.applied == vc.top-1 && !bytes.Equal(vc.appHashes[vc.applied], cstate.AppHash) {
		return vc, fmt.Errorf("state.db: app hash at height %d differs from block %d's header", vc.applied, vc.top)
	}
	vc.appHashes[vc.applied] = cstate.AppHash
	return vc, nil
}

// verifyBlock checks block height: its hash, its link to prev (the block
// before, nil for the first), and its commit's signatures against the
// validator set of its height.
func (cs *cometStores) verifyBlock(chainID string, height int64, prev *types.BlockMeta) (*types.BlockMeta, *types.Block, error) {
	meta := cs.blocks.LoadBlockMeta(height)
	block, _ := cs.blocks.LoadBlock(height)
	if meta == nil || block == nil {
		return nil, nil, fmt.Errorf("blockstore.db: block %d is missing", height)
	}
	if !bytes.Equal(block.Hash(), meta.BlockID.Hash) {
		return nil, nil, fmt.Errorf("blockstore.db: block %d does not hash to its recorded ID", height)
	}
	if err := block.ValidateBasic(); err != nil {
		return nil, nil, fmt.Errorf("blockstore.db: block %d: %w", height, err)
	}
	if block.ChainID != chainID {
		return nil, nil, fmt.Errorf("blockstore.db: block %d is for chain %q", height, block.ChainID)
	}
	if prev != nil && !block.LastBlockID.Equals(prev.BlockID) {
		return nil, nil, fmt.Errorf("blockstore.db: block %d does not link to block %d", height, height-1)
	}
	commit := cs.blocks.LoadBlockCommit(height)
	if commit == nil {
		commit = cs.blocks.LoadSeenCommit(height)
	}
	if commit == nil {
		return nil, nil, fmt.Errorf("blockstore.db: no commit for block %d", height)
	}
	vals, err := cs.state.LoadValidators(height)
	if err != nil {
		return nil, nil, fmt.Errorf("state.db: validators at %d: %w", height, err)
	}
	if !bytes.Equal(vals.Hash(), block.ValidatorsHash) {
		return nil, nil, fmt.Errorf("block %d: validator set in state.db does not match the header", height)
	}
	if err := vals.VerifyCommitLight(chainID, meta.BlockID, height, commit); err != nil {
		return nil, nil, fmt.Errorf("block %d: commit signatures: %w", height, err)
	}
	return meta, block, nil
}

// verifyLedgerState checks that the ledger state of h is at the last
// executed block, or below it within the blocks kept (a restored backup:
// it returns that height then), and that its app hashes are the ones the
// headers carry.
func verifyLedgerState(h Home, vc verifiedChain, progress func(string)) (_ ledger.VerifyReport, behind int64, _ error) {
	st, err := store.OpenReadOnly(h.StateDir(), nil)
	if err != nil {
		return ledger.VerifyReport{}, 0, err
	}
	defer st.Close()
	if err := st.CheckFiles(); err != nil {
		return ledger.VerifyReport{}, 0, &DamagedError{Home: h, Err: fmt.Errorf("ledger state (%s): %w", h.StateDir(), err)}
	}
	last, err := st.LastCommit()
	if err != nil {
		return ledger.VerifyReport{}, 0, err
	}
	if last.Height > vc.applied || last.Height < vc.base-1 {
		return ledger.VerifyReport{}, 0, &DamagedError{Home: h, Err: fmt.Errorf("ledger state (%s) is at height %d, blocks executed to %d", h.StateDir(), last.Height, vc.applied)}
	}
	if last.Height < vc.applied {
		behind = last.Height
	}
	rep, err := ledger.VerifyState(st, func(height int64) []byte {
		// Headers below the base were pruned; their hashes are unknown.
		if height < vc.base-1 {
			return nil
		}
		return vc.appHashes[height]
	}, progress)
	if err != nil {
		return rep, 0, &DamagedError{Home: h, Err: fmt.Errorf("ledger state (%s): %w", h.StateDir(), store.Corrupt(h.StateDir(), err))}
	}
	return rep, behind, nil
}

// scanAll reads every entry of db, which checks its checksums.
func scanAll(db dbm.DB) error {
	it, err := db.Iterator(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		_ = it.Value()
	}
	return it.Error()
}
