package tx

import (
	"fmt"

	"github.com/carechain/carechain"
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

// AuditAnchor puts a batch of a node's access events on the ledger.
type AuditAnchor struct {
	Node   string        `cbor:"1,keyasint"`
	Events []SealedEvent `cbor:"2,keyasint"`
}

// Validate implements Body.
func (a *AuditAnchor) Validate() error {
	if a.Node == "" || len(a.Node) > 64 || len(a.Events) == 0 || len(a.Events) > MaxAuditEvents {
		return fmt.Errorf("%w: anchor needs a node and 1-%d events", ErrInvalid, MaxAuditEvents)
	}
	for _, e := range a.Events {
		if e.ID == "" || len(e.ID) > 128 || carechain.OrgOf(e.Patient) != "" || len(e.Sealed) == 0 || len(e.Sealed) > 16<<10 {
			return fmt.Errorf("%w: bad audit event %q", ErrInvalid, e.ID)
		}
	}
	return nil
}
