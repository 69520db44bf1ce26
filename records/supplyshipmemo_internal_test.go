package records

import (
	"testing"

	"github.com/carechain/carechain/supply"
)

// TestStatementMemoNamesEveryPart: a shipper's statement found signed is
// remembered under its key, signature and every part the signature covers,
// so a statement changed in any of them, or checked under another key, is
// checked afresh.
func TestStatementMemoNamesEveryPart(t *testing.T) {
	var x custodyIndex
	key, claim := []byte("key-1"), []byte("claim-1")
	base := func() *supply.Shipment {
		return &supply.Shipment{From: "acme", To: "dist", GTIN: "00312345678906", Lots: []string{"L1", "L2"},
			Units: [][]byte{[]byte("u1"), []byte("u2")}, Signer: "acme/admin", Sig: []byte("sig")}
	}
	x.statementChecked(key, "chain", base(), claim)
	if !x.statementVerified(key, "chain", base(), claim) {
		t.Fatal("the statement checked is not remembered")
	}
	for name, change := range map[string]func(sh *supply.Shipment, key, claim *[]byte, chain *string){
		"key":    func(_ *supply.Shipment, k, _ *[]byte, _ *string) { *k = []byte("key-2") },
		"claim":  func(_ *supply.Shipment, _, c *[]byte, _ *string) { *c = []byte("claim-2") },
		"chain":  func(_ *supply.Shipment, _, _ *[]byte, ch *string) { *ch = "other" },
		"gtin":   func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.GTIN = "09506000134352" },
		"from":   func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.From = "rival" },
		"to":     func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.To = "pharm" },
		"lots":   func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.Lots = []string{"L1\x00L2"} },
		"units":  func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.Units = [][]byte{[]byte("u1"), []byte("u3")} },
		"split":  func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.Units = [][]byte{[]byte("u1u"), []byte("2")} },
		"signer": func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.Signer = "acme/other" },
		"sig":    func(sh *supply.Shipment, _, _ *[]byte, _ *string) { sh.Sig = []byte("sig2") },
	} {
		sh, k, c, chain := base(), key, claim, "chain"
		change(sh, &k, &c, &chain)
		if x.statementVerified(k, chain, sh, c) {
			t.Errorf("a statement with another %s is taken as checked", name)
		}
	}
}
