package ledger

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// BenchmarkCheckAndFinalize measures the app's own cost per transaction:
// CheckTx (signature checked once) then FinalizeBlock and Commit in blocks of
// 1000, without CometBFT. Compare with the ceiling of bench.Ledger (package bench).
func BenchmarkCheckAndFinalize(b *testing.B) {
	h, raws := registrations(b, "b")
	b.ResetTimer()
	for i := 0; i < len(raws); i += 1000 {
		end := min(i+1000, len(raws))
		for _, raw := range raws[i:end] {
			resp, _ := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
			if resp.Code != 0 {
				b.Fatalf("check: %s", resp.Log)
			}
		}
		h.height++
		resp, err := h.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h.height, Txs: raws[i:end]})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range resp.TxResults {
			if r.Code != 0 {
				b.Fatalf("finalize: %s", r.Log)
			}
		}
		if _, err := h.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinalizeUnseen measures FinalizeBlock and Commit of blocks of
// 1000 transactions this node never checked in CheckTx, as a node that
// syncs or replays blocks does: every signature is checked in the block.
func BenchmarkFinalizeUnseen(b *testing.B) {
	h, raws := registrations(b, "u")
	b.ResetTimer()
	for i := 0; i < len(raws); i += 1000 {
		for j, c := range h.block(raws[i:min(i+1000, len(raws))]...) {
			if c != CodeOK {
				b.Fatalf("tx %d: %v", i+j, c)
			}
		}
	}
}

// registrations is a harness with a registration clerk, hosp-a/clerk, and
// b.N signed registrations of new patients by the clerk (IDs patient/<prefix><i>).
func registrations(b *testing.B, prefix string) (*harness, [][]byte) {
	b.Helper()
	h := newHarness(b)
	_, clerk, _ := ed25519.GenerateKey(nil)
	h.keys["hosp-a/clerk"] = clerk
	h.block(h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "hosp-a/clerk", Kind: carechain.KindPractitioner,
		Roles: []carechain.Role{carechain.RoleRegistrationClerk}, PublicKey: clerk.Public().(ed25519.PublicKey)}))
	raws := make([][]byte, b.N)
	for i := range raws {
		_, pk, _ := ed25519.GenerateKey(nil)
		raws[i] = h.sign("hosp-a/clerk", tx.TypeRegister, &tx.Register{ID: fmt.Sprintf("patient/%s%d", prefix, i), Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
	}
	return h, raws
}

// BenchmarkFinalizeRecordPuts measures CheckTx, FinalizeBlock and Commit
// of record.puts of one nurse for one patient under the default role
// policy, in blocks of 1000: the consent and role-policy decision, the
// record head and the Merkle log of each write.
func BenchmarkFinalizeRecordPuts(b *testing.B) {
	h := roleWorld(b)
	both := []string{"hosp-a", "patient/p"}
	raws := make([][]byte, b.N)
	for i := range raws {
		var readers []string
		if i == 0 {
			readers = both
		}
		raws[i] = h.sign("hosp-a/nurse", tx.TypeRecordPut, put(b, fmt.Sprintf("r%d", i), 1, "patient/p", "vital-signs", 1, readers))
	}
	b.ResetTimer()
	for i := 0; i < len(raws); i += 1000 {
		end := min(i+1000, len(raws))
		for _, raw := range raws[i:end] {
			if resp, _ := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK}); resp.Code != 0 {
				b.Fatalf("check: %s", resp.Log)
			}
		}
		for j, c := range h.block(raws[i:end]...) {
			if c != CodeOK {
				b.Fatalf("tx %d: %v", i+j, c)
			}
		}
	}
}
