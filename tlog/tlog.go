// Package tlog is carechain's append-only Merkle log (RFC 9162 hashing, built
// on transparency-dev/merkle): every committed record version, identity
// change, consent change and audit batch is a leaf, in commit order. The log's
// size and root are part of each block's app hash, so validators' commit
// signatures cover them.
//
// The log lives in the ledger's state (a KV interface): each completed tree
// node is stored once, so inclusion and consistency proofs for any earlier
// size are read back without recomputation. Proof verification (Verify*) is
// a pure function of public data, importable by other programs.
package tlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// KV is the state the log is kept in (the ledger's block or a committed view).
type KV interface {
	Get(key string) ([]byte, error)
}

// Writable is a KV the log can append to.
type Writable interface {
	KV
	Set(key string, val []byte) error
}

// ErrNotFound is returned by a KV for a missing key; the log maps its KV's
// own not-found error through IsNotFound.
var ErrNotFound = errors.New("tlog: not found")

// Log is a Merkle log over a KV. isNotFound tells the KV's not-found error.
type Log struct {
	IsNotFound func(error) bool
}

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// Leaf kinds.
const (
	KindRecord    = "record"    // a record version: Key is "<record>/<version>"
	KindIdentity  = "identity"  // a principal registered, rotated or revoked; an organization's encryption key replaced
	KindConsent   = "consent"   // a grant made or revoked, an emergency rule or grant
	KindAudit     = "audit"     // an anchored access event
	KindAmendment = "amendment" // reserved for multi-party approvals
	KindPolicy    = "policy"    // an organization's role policy
	// KindOrgRecord: a version of an organization record (a resource that
	// names no patient): Key is "<type>/<id>/<version>".
	KindOrgRecord = "orgrecord"
	// KindGovernance: a governance proposal opened, approved or carried
	// out; the governance policy replaced.
	KindGovernance = "governance"
	// KindClaims: a plan's rules version, a claim submitted (sealed) or
	// adjudicated (sealed): Key is "rules/<org>/<plan>/<version>",
	// "claim/<id>" or "adjudication/<id>".
	KindClaims = "claims"
	// KindStudy: a clinical study's protocol version registered, amended
	// or decided, or its results reported: Key is "<study>/v<version>" or
	// "<study>/report/<n>".
	KindStudy = "study"
	// KindCredential: a practitioner's credential issued or revoked: Key
	// is "<credential>@<height>".
	KindCredential = "credential"
)

// Leaf is one log entry. It carries metadata and the SHA-256 of the state
// value it commits to (which for records holds only ciphertext): never
// plaintext health data.
type Leaf struct {
	Kind        string `cbor:"1,keyasint" json:"kind"`
	Key         string `cbor:"2,keyasint" json:"key"`
	Height      int64  `cbor:"3,keyasint" json:"height"`
	ContentHash []byte `cbor:"4,keyasint" json:"content_hash"`
	// StateKey is where the committed value lives in the ledger's state.
	StateKey string `cbor:"5,keyasint" json:"state_key"`
}

var encMode, _ = cbor.CoreDetEncOptions().EncMode()

// Bytes is the leaf's canonical encoding, the input of its leaf hash.
func (l Leaf) Bytes() []byte {
	b, err := encMode.Marshal(l)
	if err != nil {
		panic(fmt.Sprintf("tlog: encode leaf: %v", err)) // plain struct: cannot fail
	}
	return b
}

// Hash is the RFC 9162 leaf hash.
func (l Leaf) Hash() []byte { return hasher.HashLeaf(l.Bytes()) }

// ContentHash hashes a state value for a leaf.
func ContentHash(v []byte) []byte {
	h := sha256.Sum256(v)
	return h[:]
}

func nodeKey(level uint, index uint64) string {
	return fmt.Sprintf("tlog/node/%02d/%020d", level, index)
}
func leafKey(index uint64) string      { return fmt.Sprintf("tlog/leaf/%020d", index) }
func indexKey(kind, key string) string { return "tlog/index/" + kind + "/" + key }

const rangeKey = "tlog/range"

// state is the compact range of the whole log: its size and the roots of its perfect subtrees.
type state struct {
	Size   uint64   `cbor:"1,keyasint"`
	Hashes [][]byte `cbor:"2,keyasint"`
}

func (l Log) load(kv KV) (*compact.Range, error) {
	b, err := kv.Get(rangeKey)
	if err != nil {
		if l.IsNotFound(err) {
			return factory.NewEmptyRange(0), nil
		}
		return nil, err
	}
	var s state
	if err := cbor.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("tlog: decode range: %w", err)
	}
	return factory.NewRange(0, s.Size, s.Hashes)
}

// Append adds a leaf and returns its index.
func (l Log) Append(kv Writable, leaf Leaf) (uint64, error) {
	r, err := l.load(kv)
	if err != nil {
		return 0, err
	}
	index := r.End()
	var visitErr error
	store := func(id compact.NodeID, hash []byte) {
		if err := kv.Set(nodeKey(id.Level, id.Index), hash); err != nil && visitErr == nil {
			visitErr = err
		}
	}
	leafHash := leaf.Hash()
	store(compact.NewNodeID(0, index), leafHash)
	if err := r.Append(leafHash, store); err != nil {
		return 0, err
	}
	if visitErr != nil {
		return 0, visitErr
	}
	b, err := encMode.Marshal(state{Size: r.End(), Hashes: r.Hashes()})
	if err != nil {
		return 0, err
	}
	if err := kv.Set(rangeKey, b); err != nil {
		return 0, err
	}
	if err := kv.Set(leafKey(index), leaf.Bytes()); err != nil {
		return 0, err
	}
	if err := kv.Set(indexKey(leaf.Kind, leaf.Key), binary.BigEndian.AppendUint64(nil, index)); err != nil {
		return 0, err
	}
	return index, nil
}

// Head returns the log's size and root.
func (l Log) Head(kv KV) (size uint64, root []byte, err error) {
	r, err := l.load(kv)
	if err != nil {
		return 0, nil, err
	}
	root, err = r.GetRootHash(nil)
	if err != nil {
		return 0, nil, err
	}
	if r.End() == 0 {
		root = hasher.EmptyRoot()
	}
	return r.End(), root, nil
}

// Find returns the index and leaf of the entry for (kind, key).
func (l Log) Find(kv KV, kind, key string) (uint64, *Leaf, error) {
	b, err := kv.Get(indexKey(kind, key))
	if err != nil {
		if l.IsNotFound(err) {
			return 0, nil, fmt.Errorf("no log entry for %s %s: %w", kind, key, ErrNotFound)
		}
		return 0, nil, err
	}
	if len(b) != 8 {
		return 0, nil, fmt.Errorf("tlog: index of %s %s is corrupted", kind, key)
	}
	index := binary.BigEndian.Uint64(b)
	leaf, err := l.Leaf(kv, index)
	return index, leaf, err
}

// Leaf returns the leaf at index.
func (l Log) Leaf(kv KV, index uint64) (*Leaf, error) {
	b, err := kv.Get(leafKey(index))
	if err != nil {
		return nil, fmt.Errorf("leaf %d: %w", index, err)
	}
	var leaf Leaf
	if err := cbor.Unmarshal(b, &leaf); err != nil {
		return nil, fmt.Errorf("leaf %d: %w", index, err)
	}
	return &leaf, nil
}

// nodeHashes fetches the stored hashes of ids.
func (l Log) nodeHashes(kv KV, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := kv.Get(nodeKey(id.Level, id.Index))
		if err != nil {
			return nil, fmt.Errorf("tlog node %d/%d: %w", id.Level, id.Index, err)
		}
		out[i] = h
	}
	return out, nil
}

// InclusionProof proves leaf index in the log of the given size.
func (l Log) InclusionProof(kv KV, index, size uint64) ([][]byte, error) {
	return l.build(kv)(proof.Inclusion(index, size))
}

// ConsistencyProof proves that the log of size1 is a prefix of the log of size2.
func (l Log) ConsistencyProof(kv KV, size1, size2 uint64) ([][]byte, error) {
	return l.build(kv)(proof.Consistency(size1, size2))
}

// build turns proof node IDs into the proof's hashes, from the stored nodes.
func (l Log) build(kv KV) func(proof.Nodes, error) ([][]byte, error) {
	return func(nodes proof.Nodes, err error) ([][]byte, error) {
		if err != nil {
			return nil, err
		}
		hashes, err := l.nodeHashes(kv, nodes.IDs)
		if err != nil {
			return nil, err
		}
		return nodes.Rehash(hashes, hasher.HashChildren)
	}
}

// VerifyInclusion checks that leaf is at index in the log of size with root.
func VerifyInclusion(leaf Leaf, index, size uint64, p [][]byte, root []byte) error {
	return proof.VerifyInclusion(hasher, index, size, leaf.Hash(), p, root)
}

// VerifyConsistency checks that the log (size1, root1) is a prefix of (size2, root2).
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, p, root1, root2)
}
