package ledger

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
)

// TestRecheckKeepsEarlierNonces: while the mempool is rechecked after a
// block, a new transaction of the same signer with a higher nonce may be
// checked first. The recheck of the earlier ones must still pass: evicting
// them would leave their submitters waiting for a commit that never comes.
// A recheck still evicts what the committed state makes stale.
func TestRecheckKeepsEarlierNonces(t *testing.T) {
	h := newHarness(t)
	first := h.register("hosp-a/admin", "hosp-a/dr-1", carechain.KindPractitioner, 10, carechain.RolePhysician)
	second := h.register("hosp-a/admin", "hosp-a/dr-2", carechain.KindPractitioner, 11, carechain.RolePhysician)
	third := h.register("hosp-a/admin", "hosp-a/dr-3", carechain.KindPractitioner, 12, carechain.RolePhysician)
	for _, raw := range [][]byte{first, second} {
		if c := h.check(raw); c != CodeOK {
			t.Fatalf("CheckTx = %v", c)
		}
	}
	h.block(first) // the mempool keeps second and is rechecked; third arrives first
	h.app.mu.Lock()
	clear(h.app.checkNonce) // as Commit does
	h.app.mu.Unlock()
	if c := h.check(third); c != CodeOK {
		t.Fatalf("CheckTx of the later nonce = %v", c)
	}
	recheck := func(raw []byte) Code {
		resp, err := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_RECHECK})
		if err != nil {
			t.Fatal(err)
		}
		return Code(resp.Code)
	}
	if c := recheck(second); c != CodeOK {
		t.Fatalf("recheck of the earlier nonce = %v, want ok", c)
	}
	if c := recheck(first); c != CodeBadNonce {
		t.Fatalf("recheck of a committed nonce = %v, want bad_nonce", c)
	}
}
