package proof_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
)

type mapNodes map[string][]byte

func (m mapNodes) Get(pos string) ([]byte, error) { return m[pos], nil }
func (m mapNodes) Set(pos string, n []byte) error { m[pos] = n; return nil }
func (m mapNodes) Delete(pos string) error        { delete(m, pos); return nil }

const testGTIN = "00312345678906"

// supplyChain is a supply map (a product, lot L1, recalled lot L2, unit 1
// in L1 held by pharm, unit 2 in L2) under a checkpoint signed by one
// validator set, and a maker of bundles from it.
type supplyChain struct {
	t     *testing.T
	nodes mapNodes
	chain *fakeChain
	set   *fakeSet
}

func commitment(n byte) []byte { return bytes.Repeat([]byte{n}, supply.CommitmentSize) }

func newSupplyChain(t *testing.T) *supplyChain {
	c := &supplyChain{t: t, nodes: mapNodes{}}
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
	put(supply.ProductKey(testGTIN), supply.Product{GTIN: testGTIN, Name: "Amoxicillin 500 mg", Kind: supply.KindDrug, Owner: "acme", Height: 3})
	put(supply.LotKey(testGTIN, "L1"), supply.Lot{Expiry: "2030-12-31", Units: 1})
	put(supply.LotKey(testGTIN, "L2"), supply.Lot{Expiry: "2030-12-31", Units: 1, Recalled: true, RecallReason: "sterility failure"})
	put(supply.UnitKey(testGTIN, commitment(1)), supply.Unit{Lot: "L1", Custodian: "pharm", Status: supply.StatusActive, Height: 5})
	put(supply.UnitKey(testGTIN, commitment(2)), supply.Unit{Lot: "L2", Custodian: "pharm", Status: supply.StatusActive, Height: 5})
	root, err := smt.New(c.nodes).Root()
	if err != nil {
		t.Fatal(err)
	}
	c.set = newFakeSet(keyPool(4), 10, 10, 10, 10)
	c.chain = newFakeChain(t, "supply-chain", c.set)
	c.chain.cp.Info.SupplyRoot = root[:]
	c.resign()
	return c
}

// resign signs the checkpoint's header again over its info.
func (c *supplyChain) resign() {
	cp := &c.chain.cp
	cp.Header = encodeCmtTB(c.t, sign(c.t, cp.ChainID, fakeHeader(cp.ChainID, cp.Height+1, c.set, c.set, cp.Info.AppHash()), c.set))
}

func (c *supplyChain) entry(key string) *proof.SupplyEntry {
	p, _, err := smt.Prove(c.nodes, smt.Key(key))
	if err != nil {
		c.t.Fatal(err)
	}
	return &proof.SupplyEntry{Value: c.nodes[" value "+key], Proof: p}
}

// bundle is what a node serves for a scan of gtin whose serial has
// commitment com (nil: no product key, as the product is unknown).
func (c *supplyChain) bundle(gtin string, com []byte, lot string) *proof.SupplyBundle {
	b := &proof.SupplyBundle{Version: 1, Commitment: com, Product: *c.entry(supply.ProductKey(gtin)), At: c.chain.cp}
	if com != nil {
		b.Unit = c.entry(supply.UnitKey(gtin, com))
	}
	if lot != "" {
		b.Lot = c.entry(supply.LotKey(gtin, lot))
	}
	return b
}

func (c *supplyChain) check(b *proof.SupplyBundle, gtin string) (supply.Verification, error) {
	return proof.CheckSupply(b, supply.Scan{GTIN: gtin, Seller: "pharm"}, "pharm", c.set.vals, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
}

// TestCheckSupplyJudgesFromProvenValues: a genuine unit, a recalled lot, a
// commitment never commissioned and an unregistered GTIN are judged from
// the bundle alone, as the node's supply.Judge does.
func TestCheckSupplyJudgesFromProvenValues(t *testing.T) {
	c := newSupplyChain(t)
	for _, tc := range []struct {
		name    string
		b       *proof.SupplyBundle
		gtin    string
		genuine bool
		status  supply.Status
		reason  string
	}{
		{"genuine", c.bundle(testGTIN, commitment(1), "L1"), testGTIN, true, supply.StatusActive, ""},
		{"recalled lot", c.bundle(testGTIN, commitment(2), "L2"), testGTIN, false, supply.StatusRecalled, "lot L2 is recalled (sterility failure)"},
		{"never commissioned", c.bundle(testGTIN, commitment(9), ""), testGTIN, false, supply.StatusUnknown, "never commissioned by acme"},
		{"unregistered GTIN", c.bundle("09506000134352", nil, ""), "09506000134352", false, supply.StatusUnknown, "not a registered product"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.check(tc.b, tc.gtin)
			if err != nil {
				t.Fatal(err)
			}
			if v.Genuine != tc.genuine || v.Status != tc.status || !strings.Contains(strings.Join(v.Reasons, "; "), tc.reason) || v.Height != c.chain.cp.Height {
				t.Fatalf("%+v", v)
			}
		})
	}
}

// TestCheckSupplyRefusesCheats: bundles a dishonest node could make from
// true map entries, and a root the checkpoint does not sign, fail.
func TestCheckSupplyRefusesCheats(t *testing.T) {
	c := newSupplyChain(t)
	for _, tc := range []struct {
		name string
		edit func(b *proof.SupplyBundle)
	}{
		{"another unit's value and proof", func(b *proof.SupplyBundle) { b.Unit = c.entry(supply.UnitKey(testGTIN, commitment(1))) }},
		{"the unit said absent with another key's proof", func(b *proof.SupplyBundle) {
			b.Unit = c.entry(supply.UnitKey(testGTIN, commitment(9)))
			b.Lot = nil
		}},
		{"the unit's value without its proof", func(b *proof.SupplyBundle) { b.Unit.Proof.Siblings = b.Unit.Proof.Siblings[1:] }},
		{"the lot left out", func(b *proof.SupplyBundle) { b.Lot = nil }},
		{"another lot (not recalled)", func(b *proof.SupplyBundle) { b.Lot = c.entry(supply.LotKey(testGTIN, "L1")) }},
		{"the recall's value edited", func(b *proof.SupplyBundle) {
			b.Lot.Value = bytes.Replace(b.Lot.Value, []byte("sterility"), []byte("Sterility"), 1)
		}},
		{"the unit left out", func(b *proof.SupplyBundle) { b.Unit, b.Lot = nil, nil }},
		{"the product said absent", func(b *proof.SupplyBundle) { b.Product = *c.entry(supply.ProductKey("09506000134352")) }},
		{"a short commitment", func(b *proof.SupplyBundle) { b.Commitment = b.Commitment[:16] }},
		{"another root, unsigned", func(b *proof.SupplyBundle) { b.At.Info.SupplyRoot = bytes.Repeat([]byte{1}, smt.Size) }},
		{"no root", func(b *proof.SupplyBundle) { b.At.Info.SupplyRoot = nil }},
		{"version 2", func(b *proof.SupplyBundle) { b.Version = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := c.bundle(testGTIN, commitment(2), "L2")
			tc.edit(b)
			if v, err := c.check(b, testGTIN); !errors.Is(err, proof.ErrInvalid) {
				t.Fatalf("checked: %+v, %v", v, err)
			}
		})
	}
	if _, err := c.check(c.bundle(testGTIN, commitment(2), "L2"), "09506000134352"); !errors.Is(err, proof.ErrInvalid) {
		t.Fatalf("a bundle checked against another GTIN's scan: %v", err)
	}
}
