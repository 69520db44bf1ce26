package ledger

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// TestBlockSignaturesCheckedInBatch: a block of transactions this node
// never saw in CheckTx, as a syncing node finalizes them: its signatures
// are checked in one batch under the signers' committed keys, but each
// verdict is the one a single check under the key the block sees gives. A
// bad signature among good ones is refused alone; a signer who rotates
// their key in the block can no longer sign with the old one after it
// (though the batch found that signature good under the committed key), and
// signs with the new one. The app hash is that of a node that checked every
// transaction in CheckTx first.
func TestBlockSignaturesCheckedInBatch(t *testing.T) {
	build := func(h *harness) ([][]byte, []Code) {
		h.block(h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 10, carechain.RoleRegistrationClerk))
		var txs [][]byte
		var want []Code
		for i := range 6 {
			txs, want = append(txs, h.register("hosp-a/clerk", fmt.Sprintf("patient/p%d", i), carechain.KindPatient, byte(20+i))), append(want, CodeOK)
		}
		forged, err := tx.Sign(key(99), chainID, "hosp-a/clerk", 100, tx.TypeRegister, &tx.Register{ID: "patient/f", Kind: carechain.KindPatient, PublicKey: pub(40)})
		if err != nil {
			t.Fatal(err)
		}
		txs, want = append(txs, forged), append(want, CodeBadSignature)
		oldKey := h.keys["hosp-a/admin"]
		txs, want = append(txs, h.rotate("hosp-a/admin", 41)), append(want, CodeOK)
		h.keys["hosp-a/admin"] = oldKey
		txs, want = append(txs, h.register("hosp-a/admin", "hosp-a/late", carechain.KindPractitioner, 42)), append(want, CodeBadSignature)
		h.keys["hosp-a/admin"] = key(41)
		txs, want = append(txs, h.register("hosp-a/admin", "hosp-a/new", carechain.KindPractitioner, 43)), append(want, CodeOK)
		return txs, want
	}
	unseen := newHarness(t)
	txs, want := build(unseen)
	if got := unseen.block(txs...); !equalCodes(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	checked := newHarness(t)
	txs, _ = build(checked)
	for _, raw := range txs {
		checked.check(raw)
	}
	if got := checked.block(txs...); !equalCodes(got, want) {
		t.Fatalf("after CheckTx: codes %v, want %v", got, want)
	}
	a, b := unseen.app.store.LastHeight(), checked.app.store.LastHeight()
	ha, _ := unseen.app.store.AppHash(a)
	hb, _ := checked.app.store.AppHash(b)
	if a != b || !bytes.Equal(ha, hb) {
		t.Fatalf("app hashes differ: %d %X, %d %X", a, ha, b, hb)
	}
}
