package tx

import (
	"crypto/ed25519"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tlog"
)

// TypeAuditAnchor anchors a node's access events on the ledger.
const TypeAuditAnchor Type = "audit.anchor"

func init() { register[AuditAnchor](TypeAuditAnchor) }

// SealedEvent is one access event, its details encrypted to the patient.
type SealedEvent struct {
	ID      string `cbor:"1,keyasint"` // unique per node: <node>-<sequence>
	Patient string `cbor:"2,keyasint"`
	Time    int64  `cbor:"3,keyasint"` // unix milliseconds, when the node saw the access
	Sealed  []byte `cbor:"4,keyasint"` // HPKE to the patient's encryption key
}

// AuditAnchor puts a batch of a node's access events on the ledger. Node is
// the anchoring node's principal ID (the signer). Sig is the node's signature
// over the batch's Merkle root (AuditBatchMessage): each anchored event keeps
// its path to that root, so a patient checks an event of theirs against the
// node's key without trusting whoever serves the log, or seeing the other
// events of the batch.
type AuditAnchor struct {
	Node   string        `cbor:"1,keyasint"`
	Events []SealedEvent `cbor:"2,keyasint"`
	Sig    []byte        `cbor:"3,keyasint"`
}

// AuditLeaves are the Merkle leaf hashes of a batch's events: each leaf is
// an event's canonical encoding. The batch root is tlog.BatchRoot (or
// tlog.BatchPaths, which also gives every event's path) over them.
func AuditLeaves(events []SealedEvent) ([][]byte, error) {
	leaves := make([][]byte, len(events))
	for i := range events {
		enc, err := Marshal(&events[i])
		if err != nil {
			return nil, err
		}
		leaves[i] = tlog.BatchLeafHash(enc)
	}
	return leaves, nil
}

// AuditBatchMessage is what a node signs for a batch: the chain, the node and
// the batch root, under a domain of its own.
func AuditBatchMessage(chainID, node string, root []byte) []byte {
	return fmt.Appendf(nil, "carechain/audit-batch/v1\x00%s\x00%s\x00%x", chainID, node, root)
}

// SignAuditBatch sets a.Sig: the node's signature over the batch root.
func (a *AuditAnchor) SignAuditBatch(key ed25519.PrivateKey, chainID string) error {
	leaves, err := AuditLeaves(a.Events)
	if err != nil {
		return err
	}
	a.Sig = ed25519.Sign(key, AuditBatchMessage(chainID, a.Node, tlog.BatchRoot(leaves)))
	return nil
}

// Validate implements Body.
func (a *AuditAnchor) Validate() error {
	if a.Node == "" || len(a.Node) > 64 || len(a.Events) == 0 || len(a.Events) > MaxAuditEvents {
		return fmt.Errorf("%w: anchor needs a node and 1-%d events", ErrInvalid, MaxAuditEvents)
	}
	if len(a.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: anchor needs the node's %d-byte batch signature", ErrInvalid, ed25519.SignatureSize)
	}
	for _, e := range a.Events {
		if e.ID == "" || len(e.ID) > 128 || carechain.OrgOf(e.Patient) != "" || len(e.Sealed) == 0 || len(e.Sealed) > 16<<10 {
			return fmt.Errorf("%w: bad audit event %q", ErrInvalid, e.ID)
		}
	}
	return nil
}
