package proof_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
)

const privGTIN = "00312345678913"

var testNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// privateChain adds to the supply map a private product of acme, its lot
// L1, unit 3 (and 4) in transit under claim key 7…, unit 5 in transit
// under another claim, and returns the shipper's statement of unit 3 and
// 4's shipment from acme to dist, signed by acme/admin.
func privateChain(t *testing.T) (*supplyChain, supply.ShipStatement) {
	c := newSupplyChain(t)
	put := func(key string, v any) {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[" value "+key] = b
		if err := smt.New(c.nodes).Update(smt.Key(key), smt.Value(b)); err != nil {
			t.Fatal(err)
		}
	}
	claim := bytes.Repeat([]byte{7}, supply.CustodyKeySize)
	put(supply.ProductKey(privGTIN), supply.Product{GTIN: privGTIN, Name: "Insulin", Kind: supply.KindDrug, Owner: "acme", Private: true, Height: 3})
	put(supply.LotKey(privGTIN, "L1"), supply.Lot{Expiry: "2030-12-31", Units: 3})
	for n, cl := range map[byte][]byte{3: claim, 4: claim, 5: bytes.Repeat([]byte{8}, 32)} {
		put(supply.UnitKey(privGTIN, commitment(n)), supply.Unit{Lot: "L1", Custody: bytes.Repeat([]byte{n}, 32), Claim: cl, Status: supply.StatusInTransit, Height: 6})
	}
	root, err := smt.New(c.nodes).Root()
	if err != nil {
		t.Fatal(err)
	}
	c.chain.cp.Info.SupplyRoot = root[:]
	c.resign()
	pub, key, _ := ed25519.GenerateKey(nil)
	st := supply.ShipStatement{From: "acme", To: "dist", GTIN: privGTIN, Claim: claim, Lots: []string{"L1"},
		Units: [][]byte{commitment(3), commitment(4)}, Signer: "acme/admin", SignerKey: pub}
	st.Sig = ed25519.Sign(key, supply.ShipDigest(c.chain.cp.ChainID, privGTIN, claim, "acme", "dist", st.Lots, st.Units, st.Signer))
	return c, st
}

func privateBundle(c *supplyChain, st *supply.ShipStatement, n byte) *proof.SupplyBundle {
	b := c.bundle(privGTIN, commitment(n), "L1")
	b.Version, b.Shipment = 2, st
	return b
}

func checkPrivate(c *supplyChain, b *proof.SupplyBundle, seller, verifier string) (supply.Verification, error) {
	return proof.CheckSupply(b, supply.Scan{GTIN: privGTIN, Seller: seller}, verifier, c.set.vals, testNow)
}

// TestCheckPrivateBundle: a version 2 bundle with the shipper's signed
// statement proves the unit genuine from acme, to dist; it is refused when
// sold by rival or checked for pharm, and without a statement the seller
// is unknown.
func TestCheckPrivateBundle(t *testing.T) {
	c, st := privateChain(t)
	v, err := checkPrivate(c, privateBundle(c, &st, 3), "acme", "")
	if err != nil || !v.Genuine || v.Custodian != "acme" || v.Status != supply.StatusInTransit {
		t.Fatalf("the signed shipment's unit: %v %+v", err, v)
	}
	if v, err := checkPrivate(c, privateBundle(c, &st, 3), "acme", "dist"); err != nil || !v.Genuine {
		t.Fatalf("checked for dist: %v %+v", err, v)
	}
	for _, tc := range []struct{ seller, verifier, reason string }{
		{"rival", "", "not shipped to you by rival"},
		{"acme", "pharm", "shipped to dist, not to pharm"},
	} {
		if v, err := checkPrivate(c, privateBundle(c, &st, 3), tc.seller, tc.verifier); err != nil || v.Genuine || !strings.Contains(strings.Join(v.Reasons, "; "), tc.reason) {
			t.Errorf("seller %s for %s: %v %+v", tc.seller, tc.verifier, err, v)
		}
	}
	if v, err := checkPrivate(c, privateBundle(c, nil, 3), "acme", "dist"); err != nil || v.Genuine {
		t.Fatalf("a bundle without the statement: %v %+v", err, v)
	}
}

// TestCheckPrivateBundleRefusesTampering: changing any field of the
// statement, proving another unit with it, a version 1 bundle carrying it
// or a version 2 bundle of a public product fails the check.
func TestCheckPrivateBundleRefusesTampering(t *testing.T) {
	c, st := privateChain(t)
	for _, tc := range []struct {
		name string
		edit func(b *proof.SupplyBundle, st *supply.ShipStatement)
	}{
		{"from", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.From = "rival" }},
		{"to", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.To = "pharm" }},
		{"gtin", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.GTIN = testGTIN }},
		{"claim", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Claim = bytes.Repeat([]byte{8}, 32) }},
		{"lots", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Lots = []string{"L1", "L2"} }},
		{"units", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Units = st.Units[:1] }},
		{"signer", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Signer = "acme/lee" }},
		{"signer of another org", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Signer = "rival/admin" }},
		{"signer key", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.SignerKey = bytes.Repeat([]byte{1}, 32) }},
		{"sig", func(_ *proof.SupplyBundle, st *supply.ShipStatement) { st.Sig = bytes.Clone(st.Sig); st.Sig[0] ^= 1 }},
		{"a unit the statement does not name", func(b *proof.SupplyBundle, _ *supply.ShipStatement) {
			*b = *privateBundle(c, b.Shipment, 5)
		}},
		{"version 1", func(b *proof.SupplyBundle, _ *supply.ShipStatement) { b.Version = 1 }},
		{"a public product", func(b *proof.SupplyBundle, _ *supply.ShipStatement) {
			pb := c.bundle(testGTIN, commitment(1), "L1")
			pb.Version, pb.Shipment = 2, b.Shipment
			*b = *pb
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := st
			b := privateBundle(c, &s, 3)
			tc.edit(b, &s)
			if v, err := checkPrivate(c, b, "acme", ""); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("checked: %+v, %v", v, err)
			}
		})
	}
}
