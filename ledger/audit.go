package ledger

import (
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Access-log rules: nodes anchor batches of sealed access events.

func init() { handle(tx.TypeAuditAnchor, (*App).applyAuditAnchor) }

// AuditEntry is an anchored access event.
type AuditEntry struct {
	tx.SealedEvent `cbor:"1,keyasint"`
	Node           string `cbor:"2,keyasint" json:"node"`
	Height         int64  `cbor:"3,keyasint" json:"height"`
}

func auditKey(patient string, height int64, id string) string {
	return fmt.Sprintf("audit/%s/%020d/%s", patient, height, id)
}

func (a *App) applyAuditAnchor(b *store.Block, c *checked, body *tx.AuditAnchor) *Rejection {
	if c.signer.Kind == carechain.KindPatient {
		return reject(CodeUnauthorized, "audit anchors are submitted by nodes' staff identities")
	}
	for _, e := range body.Events {
		key := auditKey(e.Patient, b.Height(), e.ID)
		if _, err := b.Get(key); err == nil {
			return reject(CodeConflict, "audit event %s twice in one block", e.ID)
		}
		if err := setLogged(b, key, AuditEntry{SealedEvent: e, Node: body.Node, Height: b.Height()}, tlog.KindAudit, e.ID); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}
