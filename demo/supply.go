package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// The demo's drug supply chain: Acme Pharma (Manufacturer) registers
// ProductName (GTIN), commissions lot LotGood (serials
// DEMO-0001…DEMO-0006) and lot LotRecalled (DEMO-0101), and ships all to
// MedSupply (Wholesaler), which ships DEMO-0001…0004 and DEMO-0101 to
// Greenleaf Pharmacy; Greenleaf receives all but DEMO-0004 (still in
// transit from MedSupply); Acme recalls lot LotRecalled. So Greenleaf's
// pharmacist can verify a genuine unit it holds (DEMO-0001), one offered
// by its seller (DEMO-0004, by medsupply), a copied serial (DEMO-0002
// offered by anyone but greenleaf) and a recalled one (DEMO-0101) on the
// portal's Verify a medicine page. Seeded once: a chain that has the
// product keeps it as it is.

// The demo supply chain's organizations, product and lots.
const (
	Manufacturer = "acme-pharma"
	Wholesaler   = "medsupply"
	Pharmacy     = "greenleaf"
	GTIN         = "09506000134352"
	ProductName  = "Ibuprofen 400 mg"
	LotGood      = "A2611"
	ExpiryGood   = "2028-06-30"
	LotRecalled  = "A2609"
)

// Serial is demo serial n ("DEMO-0001").
func Serial(n int) string { return fmt.Sprintf("DEMO-%04d", n) }

func serials(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = Serial(n)
	}
	return out
}

// SeedSupply seeds the demo supply chain, unless its product is registered.
func SeedSupply(ctx context.Context, svc *records.Service, chain Chain, ks *keystore.Store) error {
	v, err := chain.App().View(0)
	if err != nil {
		return err
	}
	if _, err := v.SupplyProduct(GTIN); err == nil {
		return nil
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	signers := map[string]records.Signer{}
	for _, org := range []string{Manufacturer, Wholesaler, Pharmacy} {
		if signers[org], err = unlockSigner(ks, AdminID(org)); err != nil {
			return err
		}
	}
	mfr, whole, pharm := signers[Manufacturer], signers[Wholesaler], signers[Pharmacy]
	good, recalled := serials(1, 2, 3, 4, 5, 6), serials(101)
	steps := []struct {
		what string
		do   func() error
	}{
		{"register", func() error {
			return svc.SupplyRegister(ctx, mfr, supply.Product{GTIN: GTIN, Name: ProductName, Form: "tablet", Strength: "400 mg", Kind: supply.KindDrug})
		}},
		{"commission", func() error { return svc.SupplyCommission(ctx, mfr, GTIN, LotGood, ExpiryGood, good) }},
		{"commission", func() error { return svc.SupplyCommission(ctx, mfr, GTIN, LotRecalled, "2028-03-31", recalled) }},
		{"ship", func() error {
			return svc.SupplyMove(ctx, mfr, tx.MoveShip, GTIN, Wholesaler, append(good, recalled...))
		}},
		{"receive", func() error { return svc.SupplyMove(ctx, whole, tx.MoveReceive, GTIN, "", append(good, recalled...)) }},
		{"ship", func() error { return svc.SupplyMove(ctx, whole, tx.MoveShip, GTIN, Pharmacy, serials(1, 2, 3, 4, 101)) }},
		{"receive", func() error { return svc.SupplyMove(ctx, pharm, tx.MoveReceive, GTIN, "", serials(1, 2, 3, 101)) }},
		{"recall", func() error { return svc.SupplyRecall(ctx, mfr, GTIN, LotRecalled, "sterility failure") }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			return fmt.Errorf("demo supply chain: %s: %w", st.what, err)
		}
	}
	return nil
}
