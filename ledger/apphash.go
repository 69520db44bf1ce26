package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// AppInfo is what the app hash after a block is computed from: the Merkle
// log's size and root and the chain of state-write hashes (see proof.AppInfo).
type AppInfo = proof.AppInfo

// stateChain extends the state hash with one block's writes.
func stateChain(prev []byte, height int64, writes []byte) []byte {
	h := sha256.New()
	h.Write([]byte("carechain/state/v1"))
	h.Write(prev)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(height)))
	h.Write(writes)
	return h.Sum(nil)
}

// theLog is the ledger's Merkle log over its state.
var theLog = tlog.Log{IsNotFound: func(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound)
}}

// blockInfo computes the AppInfo after block b, given the previous one;
// first, on a chain that keeps the supply map (supplymapon.go), it brings
// the map up to date with b's writes, in b.
func blockInfo(prev AppInfo, b *store.Block) (AppInfo, error) { return blockInfoCached(prev, b, nil) }

// blockInfoCached is blockInfo with the map's nodes looked up in nodes
// (nil: none) first; the AppInfo is the same.
func blockInfoCached(prev AppInfo, b *store.Block, nodes *smt.Cache) (AppInfo, error) {
	if b.Len() == 0 {
		return prev, nil // nothing changed: same app hash, so an idle chain makes no blocks
	}
	from, err := supplyMapFrom(b)
	if err != nil {
		return AppInfo{}, err
	}
	if from > 0 {
		if err := updateSupplyMap(b, nodes); err != nil {
			return AppInfo{}, err
		}
	}
	size, root, err := theLog.Head(b)
	if err != nil {
		return AppInfo{}, err
	}
	var mapRoot []byte
	if from > 0 {
		if mapRoot, err = supplyRoot(b); err != nil {
			return AppInfo{}, err
		}
	}
	return AppInfo{StateHash: stateChain(prev.StateHash, b.Height(), b.Hash()), LogSize: size, LogRoot: root, SupplyRoot: mapRoot}, nil
}

// CommitInfo returns the AppInfo committed at height.
func (a *App) CommitInfo(height int64) (AppInfo, error) {
	b, err := a.store.Info(height)
	if err != nil {
		return AppInfo{}, err
	}
	var i AppInfo
	if err := tx.Unmarshal(b, &i); err != nil {
		return AppInfo{}, fmt.Errorf("commit info at %d: %w", height, err)
	}
	return i, nil
}

// logLeaf appends a leaf committing to the value of stateKey.
func logLeaf(b *store.Block, kind, key, stateKey string, value []byte) error {
	_, err := theLog.Append(b, tlog.Leaf{Kind: kind, Key: key, Height: b.Height(), ContentHash: tlog.ContentHash(value), StateKey: stateKey})
	return err
}
