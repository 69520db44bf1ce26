package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// oldChainAppHash is the app hash of oldStyleChain's last block as the
// ledger computed it before merges existed (commit 73055e5): the merge
// rules must leave what old transactions write unchanged, so old blocks
// replay to the same app hash.
const oldChainAppHash = "8af35885ed9a421302403ab8e11d0af509c5d0532186d30cb33dae5c4b16e2b7"

// oldStyleChain commits deterministic transactions of the kinds a merge
// touches: patient registrations, record writes (new, next version,
// deleted), a read grant with its keys, a delegate.
func oldStyleChain(t *testing.T) *harness {
	h := recordWorld(t)
	h.keys["patient/q"] = key(14)
	h.mustBlock("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "patient/q", Kind: carechain.KindPatient, PublicKey: pub(14), EncryptionKey: encKey(t, 14).Public().Bytes()})
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r1", 1, "patient/p", []string{"hosp-a", "patient/p"}))
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r1", 2, "patient/p", nil))
	h.mustBlock("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{Grant: readGrant("patient/p", "lab"),
		Wraps: []tx.CategoryWrap{{Category: "lab", Epoch: 1, Wrapped: []byte("opaque wrap for hosp-b")}}})
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r2", 1, "patient/q", []string{"hosp-a", "patient/q"}))
	h.mustBlock("patient/p", tx.TypeConsentDelegate, &tx.ConsentDelegate{Delegate: "patient/q",
		Wraps: []tx.CategoryWrap{{Category: "lab", Epoch: 1, Wrapped: []byte("opaque wrap for patient/q")}}})
	del := fixedPut(t, "r1", 3, "patient/p", nil)
	del.Deleted = true
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, del)
	return h
}

// fixedPut is put with fixed ciphertext and wrapped key bytes, so the
// chain's app hashes repeat from run to run.
func fixedPut(t *testing.T, id string, version uint64, patient string, readers []string) *tx.RecordPut {
	p := put(t, id, version, patient, "lab", 1, readers)
	p.Ciphertext = bytes.Repeat([]byte{byte(version)}, len(p.Ciphertext))
	p.WrappedKey = bytes.Repeat([]byte{0xaa}, len(p.WrappedKey))
	sum := sha256.Sum256(p.Ciphertext)
	p.CiphertextHash = sum[:]
	return p
}

func TestOldTransactionsReplayToTheSameAppHash(t *testing.T) {
	h := oldStyleChain(t)
	info, err := h.app.CommitInfo(h.height)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(info.AppHash()); got != oldChainAppHash {
		t.Fatalf("app hash of the old-style chain = %s, want %s (as before merges)", got, oldChainAppHash)
	}
}

// mustBlock commits one transaction that must succeed.
func (h *harness) mustBlock(signer string, typ tx.Type, body any) {
	h.t.Helper()
	if got := h.block(h.sign(signer, typ, body)); got[0] != CodeOK {
		_, log := h.blockResp(h.sign(signer, typ, body))
		h.t.Fatalf("%s by %s: %v %s", typ, signer, got, log)
	}
}
