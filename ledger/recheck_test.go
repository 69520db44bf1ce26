package ledger

import (
	"context"
	"crypto/sha256"
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

// droppedEvents records the transactions the app reports dropped.
type droppedEvents struct {
	noEvents
	dropped map[[32]byte]Rejection
}

func (e *droppedEvents) TxDropped(hash [32]byte, rej Rejection) { e.dropped[hash] = rej }

// TestRecheckReportsDroppedTx: a validator whose mempool missed a signer's
// nonce n (full at the time) and admitted n+1 proposes a block with n+1
// alone. On the node holding n, the recheck after that block refuses n;
// the app must report it dropped, so the node can tell n's submitter
// instead of leaving them waiting for a commit that will not come.
func TestRecheckReportsDroppedTx(t *testing.T) {
	ev := &droppedEvents{dropped: map[[32]byte]Rejection{}}
	h := newHarnessOpts(t, nil, nil, Options{ChainID: chainID, Events: ev})
	n := h.register("hosp-a/admin", "hosp-a/dr-1", carechain.KindPractitioner, 10, carechain.RolePhysician)
	next := h.register("hosp-a/admin", "hosp-a/dr-2", carechain.KindPractitioner, 11, carechain.RolePhysician)
	if c := h.check(n); c != CodeOK {
		t.Fatalf("CheckTx = %v", c)
	}
	if codes := h.block(next); codes[0] != CodeOK {
		t.Fatalf("block with the later nonce: %v", codes)
	}
	resp, err := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: n, Type: abci.CHECK_TX_TYPE_RECHECK})
	if err != nil {
		t.Fatal(err)
	}
	if Code(resp.Code) != CodeBadNonce {
		t.Fatalf("recheck of the skipped nonce = %v, want bad_nonce", Code(resp.Code))
	}
	rej, ok := ev.dropped[sha256.Sum256(n)]
	if !ok || rej.Code != CodeBadNonce || rej.Msg == "" {
		t.Fatalf("dropped = %v, want the skipped transaction reported with bad_nonce", ev.dropped)
	}
	if len(ev.dropped) != 1 {
		t.Fatalf("%d transactions reported dropped, want 1", len(ev.dropped))
	}
	// A first check that refuses reports nothing dropped: it never entered the mempool.
	if c := h.check(n); c != CodeBadNonce {
		t.Fatalf("CheckTx of a stale nonce = %v", c)
	}
	if len(ev.dropped) != 1 {
		t.Fatal("a refused first check was reported dropped")
	}
}
