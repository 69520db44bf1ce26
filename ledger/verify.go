package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// VerifyReport counts what VerifyState checked.
type VerifyReport struct {
	Heights int64
	Leaves  uint64
	Records int
}

// VerifyState re-checks a ledger state store offline: every block's state
// writes against the chained state hash, the supply map's root against its
// stored nodes, the Merkle log against the stored nodes and roots, every log leaf against the state value it commits to, and
// every record version's ciphertext against its hash. appHash(h), if set, is
// the app hash the chain's headers give for height h (nil: not known); it
// must match. The first failure is returned, naming the height or key.
func VerifyState(st *store.Store, appHash func(h int64) []byte, progress func(string)) (VerifyReport, error) {
	var rep VerifyReport
	if progress == nil {
		progress = func(string) {}
	}
	last, err := st.LastCommit()
	if err != nil {
		return rep, err
	}
	progress("hashing state writes")
	writes, err := st.WriteHashes()
	if err != nil {
		return rep, err
	}
	var prev AppInfo
	first := true
	for h := int64(0); h <= last.Height; h++ {
		raw, err := st.Info(h)
		if errors.Is(err, store.ErrNotFound) {
			if first {
				continue // before genesis' initial height
			}
			return rep, fmt.Errorf("height %d: commit info missing", h)
		}
		if err != nil {
			return rep, fmt.Errorf("height %d: %w", h, err)
		}
		var info AppInfo
		if err := tx.Unmarshal(raw, &info); err != nil {
			return rep, fmt.Errorf("height %d: commit info: %w", h, err)
		}
		want := prev
		if w, ok := writes[h]; ok {
			want = AppInfo{StateHash: stateChain(prev.StateHash, h, w)}
			size, root, err := theLog.Head(exactView{s: st, height: h})
			if err != nil {
				return rep, fmt.Errorf("height %d: log head: %w", h, err)
			}
			want.LogSize, want.LogRoot = size, root
			if want.SupplyRoot, err = supplyRoot(exactView{s: st, height: h}); err != nil {
				return rep, fmt.Errorf("height %d: supply map: %w", h, err)
			}
		}
		delete(writes, h)
		if !bytes.Equal(want.StateHash, info.StateHash) {
			return rep, fmt.Errorf("height %d: state writes do not match the committed state hash", h)
		}
		if want.LogSize != info.LogSize || !bytes.Equal(want.LogRoot, info.LogRoot) {
			return rep, fmt.Errorf("height %d: Merkle log head (%d, %X) does not match the committed (%d, %X)", h, want.LogSize, want.LogRoot, info.LogSize, info.LogRoot)
		}
		if !bytes.Equal(want.SupplyRoot, info.SupplyRoot) {
			return rep, fmt.Errorf("height %d: supply map root %X does not match the committed %X", h, want.SupplyRoot, info.SupplyRoot)
		}
		stored, err := st.AppHash(h)
		if err != nil || !bytes.Equal(stored, info.AppHash()) {
			return rep, fmt.Errorf("height %d: stored app hash does not match its commit info", h)
		}
		if appHash != nil {
			if signed := appHash(h); signed != nil && !bytes.Equal(signed, stored) {
				return rep, fmt.Errorf("height %d: app hash %X differs from the one the validators signed (%X)", h, stored, signed)
			}
		}
		prev, first = info, false
		rep.Heights++
		if h%10000 == 0 && h > 0 {
			progress(fmt.Sprintf("checked %d of %d heights", h, last.Height))
		}
	}
	for h := range writes {
		return rep, fmt.Errorf("state holds writes at height %d, which was never committed", h)
	}
	n, err := verifyLog(st, prev, progress)
	rep.Leaves, rep.Records = n, 0
	if err != nil {
		return rep, err
	}
	rep.Records, err = verifyRecords(st)
	return rep, err
}

// verifyLog rebuilds the Merkle log from its leaves: every stored node hash,
// the final root, and each leaf's content hash against the state value.
func verifyLog(st *store.Store, head AppInfo, progress func(string)) (uint64, error) {
	latest := heightView{s: st, height: 0}
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	var nodeErr error
	checkNode := func(id compact.NodeID, hash []byte) {
		stored, err := latest.Get(fmt.Sprintf("tlog/node/%02d/%020d", id.Level, id.Index))
		if nodeErr == nil && (err != nil || !bytes.Equal(stored, hash)) {
			nodeErr = fmt.Errorf("Merkle log node %d/%d does not match the leaves below it", id.Level, id.Index)
		}
	}
	var leaves []*tlog.Leaf
	for i := uint64(0); i < head.LogSize; i++ {
		leaf, err := theLog.Leaf(latest, i)
		if err != nil {
			return i, fmt.Errorf("Merkle log leaf %d: %w", i, err)
		}
		h := leaf.Hash()
		checkNode(compact.NewNodeID(0, i), h)
		if err := r.Append(h, checkNode); err != nil {
			return i, err
		}
		if nodeErr != nil {
			return i, nodeErr
		}
		leaves = append(leaves, leaf)
		if i%50000 == 0 && i > 0 {
			progress(fmt.Sprintf("checked %d of %d log leaves", i, head.LogSize))
		}
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if head.LogSize > 0 {
		var err error
		if root, err = r.GetRootHash(nil); err != nil {
			return head.LogSize, err
		}
	}
	if !bytes.Equal(root, head.LogRoot) {
		return head.LogSize, fmt.Errorf("Merkle log root rebuilt from its leaves differs from the committed root")
	}
	for i, leaf := range leaves {
		content, err := st.GetAt(leaf.StateKey, leaf.Height)
		if errors.Is(err, store.ErrNotFound) {
			content, err = nil, nil // a deletion, logged with the hash of nothing
		}
		ok := err == nil && bytes.Equal(tlog.ContentHash(content), leaf.ContentHash)
		if !ok && supersededInBlock(leaves, i) {
			continue // the key was written again in the same block: its last value is what state holds
		}
		if !ok {
			return uint64(i), fmt.Errorf("log leaf %d (%s %s): state value %q at height %d does not match", i, leaf.Kind, leaf.Key, leaf.StateKey, leaf.Height)
		}
	}
	return head.LogSize, nil
}

// exactView reads state as of exactly one height, genesis (0) included.
type exactView struct {
	s      *store.Store
	height int64
}

func (v exactView) Get(key string) ([]byte, error) { return v.s.GetAt(key, v.height) }

func supersededInBlock(leaves []*tlog.Leaf, i int) bool {
	for _, l := range leaves[i+1:] {
		if l.Height != leaves[i].Height {
			return false
		}
		if l.StateKey == leaves[i].StateKey {
			return true
		}
	}
	return false
}

// verifyRecords checks every record version's ciphertext against its hash.
func verifyRecords(st *store.Store) (int, error) {
	n := 0
	err := st.Scan("version/", 0, func(key string, val []byte) error {
		var rv carechain.RecordVersion
		if err := tx.Unmarshal(val, &rv); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if sum := sha256.Sum256(rv.Ciphertext); !bytes.Equal(sum[:], rv.CiphertextHash) {
			return fmt.Errorf("%s: ciphertext does not match its hash", key)
		}
		if !strings.HasPrefix(key, "version/"+rv.RecordID+"/") {
			return fmt.Errorf("%s: holds record %s", key, rv.RecordID)
		}
		n++
		return nil
	})
	return n, err
}
