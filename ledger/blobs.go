package ledger

import (
	"encoding/hex"
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Blobs. A Binary version may name a sealed blob kept off the ledger
// (tx.RecordPut.Blob): the ledger stores the reference in the version and
// indexes it by hash, so a node can list the blobs it should hold and find
// the version a blob belongs to. One blob belongs to one version: a second
// version naming a hash already named is refused.

// BlobEntry is the version a blob belongs to, and its size.
type BlobEntry struct {
	Hash     []byte `cbor:"1,keyasint" json:"hash"`
	Size     int64  `cbor:"2,keyasint" json:"size"`
	RecordID string `cbor:"3,keyasint" json:"record_id"`
	Version  uint64 `cbor:"4,keyasint" json:"version"`
	Patient  string `cbor:"5,keyasint" json:"patient"`
}

const blobPrefix = "blob/"

func blobKey(hash []byte) string { return blobPrefix + hex.EncodeToString(hash) }

// putBlob indexes the blob r names, if any, refusing one already named.
func putBlob(b *store.Block, r *tx.RecordPut) *Rejection {
	if r.Blob == nil {
		return nil
	}
	if _, err := b.Get(blobKey(r.Blob.Hash)); err == nil {
		return reject(CodeConflict, "blob %x is named by another record version already", r.Blob.Hash)
	} else if !errors.Is(err, store.ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	e := BlobEntry{Hash: r.Blob.Hash, Size: r.Blob.Size, RecordID: r.RecordID, Version: r.Version, Patient: r.Patient}
	if err := setCBOR(b, blobKey(r.Blob.Hash), e); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// Blob returns the entry of the blob whose sealed bytes hash to hash.
func (v *View) Blob(hash []byte) (*BlobEntry, error) {
	var e BlobEntry
	if err := getCBOR(v, blobKey(hash), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Blobs lists every blob named on the ledger, by hash.
func (v *View) Blobs() ([]BlobEntry, error) { return scanValues[BlobEntry](v, blobPrefix) }

// blobOf is the reference a version stores: r's, copied.
func blobOf(r *tx.RecordPut) *carechain.BlobRef {
	if r.Blob == nil {
		return nil
	}
	return &carechain.BlobRef{Hash: r.Blob.Hash, Size: r.Blob.Size}
}
