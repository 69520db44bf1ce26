package ledger

import (
	"testing"

	"github.com/carechain/carechain/tx"
)

// TestEveryTypeHasHandler checks that the transaction types tx decodes and
// the types the ledger has rules for are the same set.
func TestEveryTypeHasHandler(t *testing.T) {
	types := tx.Types()
	if len(types) == 0 {
		t.Fatal("tx registers no types")
	}
	for _, typ := range types {
		if _, ok := handlers[typ]; !ok {
			t.Errorf("%s decodes but the ledger has no rules for it", typ)
		}
	}
	if len(handlers) != len(types) {
		t.Errorf("%d handlers for %d registered types", len(handlers), len(types))
	}
}
