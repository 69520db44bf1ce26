package ledger

import (
	"fmt"
	"testing"

	"github.com/carechain/carechain/tx"
)

// BenchmarkAnchorBatch measures CheckTx and FinalizeBlock of one audit.anchor
// of 600 sealed events of 1.6 KB (a full batch), per event.
func BenchmarkAnchorBatch(b *testing.B) {
	h := newHarness(b)
	h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
	sealed := make([]byte, 1600)
	b.ResetTimer()
	for i := range b.N {
		body := &tx.AuditAnchor{Node: "hosp-a/node0"}
		for k := range 600 {
			body.Events = append(body.Events, tx.SealedEvent{ID: fmt.Sprintf("n-%d-%d", i, k), Patient: "patient/p", Time: 1, Sealed: sealed})
		}
		if err := body.SignAuditBatch(key(60), chainID); err != nil {
			b.Fatal(err)
		}
		raw := h.sign("hosp-a/node0", tx.TypeAuditAnchor, body)
		if c := h.check(raw); c != CodeOK {
			b.Fatalf("CheckTx = %v", c)
		}
		if c := h.block(raw); c[0] != CodeOK {
			b.Fatalf("FinalizeBlock = %v", c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*600), "ns/event")
}
