//go:build fault

package bench

import (
	"context"
	"testing"
	"time"
)

// Under the build tag fault, as a load run: .ci/run runs it on its own.
// In the parallel run of every package's tests it once waited 2 minutes
// for one transaction's commit on a starved machine (issue 19).

// TestLedgerOnFourValidators: the 4-validator row commits every
// transaction on a chain of four validators in this process.
func TestLedgerOnFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := DefaultAllOptions().Validators4
	opts.Txs, opts.Signers, opts.Window = 40, 2, 10
	rep, err := Ledger(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Result{"ledger": rep.Ledger, "ceiling": rep.Ceiling} {
		if r.Txs != opts.Txs || r.Blocks < 1 || r.TxPerSecond() <= 0 {
			t.Errorf("%s: %+v, want %d txs in at least one block", name, r, opts.Txs)
		}
	}
}
