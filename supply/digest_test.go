package supply

import (
	"encoding/hex"
	"testing"
)

// TestDigestsKeepTheirBytes pins the co-signed digests: the ledger checks
// a dispense's co-signature over DispenseDigest, so a chain's old blocks
// replay only if its bytes never change (and a shipper's statement,
// ShipDigest, sealed in old shipments, verifies only so).
func TestDigestsKeepTheirBytes(t *testing.T) {
	for name, c := range map[string]struct {
		got  []byte
		want string
	}{
		"dispense": {DispenseDigest("c", "g", [][]byte{{1, 2}, {3}}, "p/x"), "a7687c3c178fa0d5d5a62f9174087d30bfc56d7a38885243d86f6f2cc9a97f50"},
		"ship":     {ShipDigest("c", "g", []byte{9}, "a", "b", []string{"L1", "L2"}, [][]byte{{1}, {2, 3}}, "a/y"), "6c61ca87cf35f8b6fcfb52ba03fafe000c067459b2b9dd87a0d170f854bf5c1d"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s digest %s, want %s", name, got, c.want)
		}
	}
}
