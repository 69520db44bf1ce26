package node

import (
	"bytes"
	"fmt"
	"os"

	dbm "github.com/cometbft/cometbft-db"
	sm "github.com/cometbft/cometbft/state"
	cmtstore "github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/store"
)

// VerifyReport says what VerifyHome checked.
type VerifyReport struct {
	Blocks int64
	ledger.VerifyReport
}

// VerifyHome checks a stopped node's data directory offline: every block's
// hash and link to its parent, every commit's signatures against the
// validator set of its height, every header's app hash against the ledger's
// committed state, and then the ledger state itself (ledger.VerifyState). The
// first failure is returned, naming the height, key or file.
func VerifyHome(h Home, progress func(string)) (rep VerifyReport, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	c, err := h.LoadConfig()
	if err != nil {
		return rep, err
	}
	if err := h.checkManifest(); err != nil {
		return rep, err
	}
	for _, f := range []string{"blockstore.db", "state.db"} {
		if _, err := os.Stat(h.DataDir() + "/" + f); err != nil {
			return rep, fmt.Errorf("%s: %w", f, err)
		}
	}
	// CometBFT's stores panic on some corrupt input; report it as a failure.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("CometBFT data in %s is corrupted: %v", h.DataDir(), r)
		}
	}()
	bdb, err := dbm.NewDB("blockstore", dbm.GoLevelDBBackend, h.DataDir())
	if err != nil {
		return rep, fmt.Errorf("blockstore.db: %w", err)
	}
	defer bdb.Close()
	sdb, err := dbm.NewDB("state", dbm.GoLevelDBBackend, h.DataDir())
	if err != nil {
		return rep, fmt.Errorf("state.db: %w", err)
	}
	defer sdb.Close()
	// Read every entry once, so every block's checksum is checked, even of
	// data the checks below do not otherwise touch.
	for name, db := range map[string]dbm.DB{"blockstore.db": bdb, "state.db": sdb} {
		if err := scanAll(db); err != nil {
			return rep, fmt.Errorf("%s: %w", name, err)
		}
	}
	bs := cmtstore.NewBlockStore(bdb)
	ss := sm.NewStore(sdb, sm.StoreOptions{})
	cstate, err := ss.Load()
	if err != nil {
		return rep, fmt.Errorf("state.db: %w", err)
	}
	top := bs.Height()
	if cstate.LastBlockHeight != top {
		return rep, fmt.Errorf("state.db is at height %d but blockstore.db at %d", cstate.LastBlockHeight, top)
	}
	appHashes := map[int64][]byte{} // app hash after block h, from header h+1
	var prev *types.BlockMeta
	for height := bs.Base(); height <= top && height > 0; height++ {
		meta := bs.LoadBlockMeta(height)
		block, _ := bs.LoadBlock(height)
		if meta == nil || block == nil {
			return rep, fmt.Errorf("blockstore.db: block %d is missing", height)
		}
		if !bytes.Equal(block.Hash(), meta.BlockID.Hash) {
			return rep, fmt.Errorf("blockstore.db: block %d does not hash to its recorded ID", height)
		}
		if err := block.ValidateBasic(); err != nil {
			return rep, fmt.Errorf("blockstore.db: block %d: %w", height, err)
		}
		if block.ChainID != c.ChainID {
			return rep, fmt.Errorf("blockstore.db: block %d is for chain %q", height, block.ChainID)
		}
		if prev != nil && !block.LastBlockID.Equals(prev.BlockID) {
			return rep, fmt.Errorf("blockstore.db: block %d does not link to block %d", height, height-1)
		}
		commit := bs.LoadBlockCommit(height)
		if commit == nil {
			commit = bs.LoadSeenCommit(height)
		}
		if commit == nil {
			return rep, fmt.Errorf("blockstore.db: no commit for block %d", height)
		}
		vals, err := ss.LoadValidators(height)
		if err != nil {
			return rep, fmt.Errorf("state.db: validators at %d: %w", height, err)
		}
		if !bytes.Equal(vals.Hash(), block.ValidatorsHash) {
			return rep, fmt.Errorf("block %d: validator set in state.db does not match the header", height)
		}
		if err := vals.VerifyCommitLight(c.ChainID, meta.BlockID, height, commit); err != nil {
			return rep, fmt.Errorf("block %d: commit signatures: %w", height, err)
		}
		appHashes[height-1] = block.AppHash
		prev = meta
		rep.Blocks++
		if height%10000 == 0 {
			progress(fmt.Sprintf("checked %d of %d blocks", height, top))
		}
	}
	appHashes[top] = cstate.AppHash
	progress(fmt.Sprintf("checked %d blocks; checking the ledger state", rep.Blocks))

	st, err := store.Open(h.StateDir(), nil)
	if err != nil {
		return rep, err
	}
	defer st.Close()
	last, err := st.LastCommit()
	if err != nil {
		return rep, err
	}
	if last.Height != top {
		return rep, fmt.Errorf("ledger state (%s) is at height %d, blocks at %d", h.StateDir(), last.Height, top)
	}
	lrep, err := ledger.VerifyState(st, func(height int64) []byte {
		if height < bs.Base()-1 {
			return nil
		}
		return appHashes[height]
	}, progress)
	rep.VerifyReport = lrep
	if err != nil {
		return rep, fmt.Errorf("ledger state (%s): %w", h.StateDir(), err)
	}
	return rep, nil
}

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
