package node

import (
	"crypto/sha256"
	"testing"

	"github.com/carechain/carechain/ledger"
)

// TestDroppedTxWakesItsWaiter: when the app reports a transaction dropped
// from the mempool at recheck, whoever waits for its commit gets the
// refusal, with stage recheck and the reason, and no one else does.
func TestDroppedTxWakesItsWaiter(t *testing.T) {
	n := &Node{waiters: make(map[[32]byte][]chan ledger.Outcome)}
	dropped, other := sha256.Sum256([]byte("nonce 7")), sha256.Sum256([]byte("nonce 8"))
	a, b, c := make(chan ledger.Outcome, 1), make(chan ledger.Outcome, 1), make(chan ledger.Outcome, 1)
	n.waiters[dropped] = []chan ledger.Outcome{a, b}
	n.waiters[other] = []chan ledger.Outcome{c}

	n.TxDropped(dropped, ledger.Rejection{Code: ledger.CodeBadNonce, Msg: `nonce 7 of "hosp-a/dr-1" is replayed or stale`})

	for _, ch := range []chan ledger.Outcome{a, b} {
		select {
		case o := <-ch:
			if o.Stage != ledger.StageRecheck || o.Code != ledger.CodeBadNonce || o.Hash != dropped || o.Accepted() || o.Log == "" {
				t.Fatalf("outcome = %+v, want a recheck refusal with bad_nonce and its reason", o)
			}
		default:
			t.Fatal("a waiter of the dropped transaction was not told")
		}
	}
	select {
	case o := <-c:
		t.Fatalf("the waiter of another transaction was told %+v", o)
	default:
	}
}
