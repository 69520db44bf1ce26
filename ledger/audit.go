package ledger

import (
	"encoding/hex"
	"fmt"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Access-log rules: nodes anchor signed batches of sealed access events.

func init() { handle(tx.TypeAuditAnchor, (*App).applyAuditAnchor) }

// AuditEntry is an anchored access event, with what a reader needs to check
// it against the anchoring node's signature: its batch and its path there.
type AuditEntry struct {
	tx.SealedEvent `cbor:"1,keyasint"`
	Node           string   `cbor:"2,keyasint" json:"node"`
	Height         int64    `cbor:"3,keyasint" json:"height"`
	Batch          string   `cbor:"4,keyasint" json:"batch"` // AuditBatch key
	Index          uint64   `cbor:"5,keyasint" json:"index"` // position in the batch
	Path           [][]byte `cbor:"6,keyasint" json:"-"`     // inclusion path to the batch root
}

// AuditBatch is an anchored batch: its Merkle root and the node's signature
// over it (tx.AuditBatchMessage).
type AuditBatch struct {
	Node   string `cbor:"1,keyasint" json:"node"`
	Height int64  `cbor:"2,keyasint" json:"height"`
	Size   uint64 `cbor:"3,keyasint" json:"size"`
	Root   []byte `cbor:"4,keyasint" json:"root"`
	Sig    []byte `cbor:"5,keyasint" json:"sig"`
}

func auditKey(patient string, height int64, id string) string {
	return fmt.Sprintf("audit/%s/%020d/%s", patient, height, id)
}

func auditBatchKey(height int64, txHash [32]byte) string {
	return fmt.Sprintf("audit-batch/%020d/%s", height, hex.EncodeToString(txHash[:8]))
}

func (a *App) applyAuditAnchor(b *store.Block, c *checked, body *tx.AuditAnchor) *Rejection {
	if rej := checkAnchorer(b, c.signer, body); rej != nil {
		return rej
	}
	leaves, err := tx.AuditLeaves(body.Events)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	root, paths := tlog.BatchPaths(leaves) // the root and every path, each inner node hashed once
	if !tx.VerifySignature(c.signer.PublicKey, tx.AuditBatchMessage(a.chainID, body.Node, root), body.Sig) {
		return reject(CodeBadSignature, "the batch signature does not verify under the key of %s", c.signer.ID)
	}
	batchKey := auditBatchKey(b.Height(), c.Hash)
	batch := AuditBatch{Node: body.Node, Height: b.Height(), Size: uint64(len(leaves)), Root: root, Sig: body.Sig}
	if err := setCBOR(b, batchKey, batch); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for i, e := range body.Events {
		key := auditKey(e.Patient, b.Height(), e.ID)
		if _, err := b.Get(key); err == nil {
			return reject(CodeConflict, "audit event %s twice in one block", e.ID)
		}
		entry := AuditEntry{SealedEvent: e, Node: body.Node, Height: b.Height(), Batch: batchKey, Index: uint64(i), Path: paths[i]}
		if err := setLogged(b, key, entry, tlog.KindAudit, e.ID); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}
