package records

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// An organization's stock of private products (supplycustody.go), for its
// warehouse page. The ledger names no organization for a private unit, so
// ledger.View.SupplyHoldings does not count them: only the organization's
// node knows them, from its sealed journal's custody notes (the units its
// keys hold) and from the pending shipments sealed to it. Each unit the
// journal notes is checked against the ledger: it counts as held only if
// the ledger names one of the organization's custody keys as its holder
// and it is neither shipped, dispensed nor decommissioned. A unit packed
// in a case (supply.Unit.Case: the case is held by the same key) counts
// under its case, named by the SSCC the organization's journal gives for
// its commitment (it packed or received the case). Counts and SSCCs leave
// this file, never serials.

// PrivateStock is what an organization holds of private products and what
// is shipped to and by it.
type PrivateStock struct {
	// Held counts the loose units the organization's custody keys hold,
	// by product, lot and status (as ledger.View.SupplyHoldings does),
	// with the reason any may be neither sold nor dispensed.
	Held []ledger.SupplyHolding `json:"held"`
	// Cases are the cases and pallets its custody keys hold; Packed
	// counts the units in them as Held counts the loose ones (a stop
	// reaches their holder too).
	Cases    []PrivateCase          `json:"cases"`
	Packed   []ledger.SupplyHolding `json:"packed"`
	Incoming []PrivateShipment      `json:"incoming"` // sealed to the organization, not yet received
	Outgoing []PrivateShipment      `json:"outgoing"` // shipped by it, not yet received
}

// PrivateCase is a case or pallet of a private product that one of the
// organization's custody keys holds.
type PrivateCase struct {
	GTIN    string   `json:"gtin"`
	Product string   `json:"product"`
	SSCC    string   `json:"sscc,omitempty"` // empty if the organization's journal names no case of its commitment
	Lots    []string `json:"lots"`
	Units   int      `json:"units"`
}

// PrivateShipment is a pending shipment of private units, as the sealed
// details tell the two organizations they name.
type PrivateShipment struct {
	GTIN    string   `json:"gtin"`
	Product string   `json:"product"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Lots    []string `json:"lots"`
	Units   int      `json:"units"`
	SSCCs   []string `json:"ssccs,omitempty"` // the cases shipped, if it is a shipment of cases (received by case)
	// Claim (hex) names the shipment in a receive (ReceiveShipment,
	// SupplyTransferRequest.Shipment): the public key the ledger holds the
	// shipment under, which says nothing of its units.
	Claim string `json:"shipment"`
}

// PrivateStock returns caller's organization's stock of private products.
func (s *Service) PrivateStock(caller *carechain.Principal) (PrivateStock, error) {
	var out PrivateStock
	if !supply.Staff(caller) {
		return out, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain", caller.ID))
	}
	if _, ok := s.keys.identity(caller.Org); !ok {
		return out, nil // none of its keys here: its stock is on its own node
	}
	v := s.latest()
	products, err := privateProducts(v)
	if err != nil {
		return out, err
	}
	for _, p := range products {
		if err := s.privateHeld(v, caller.Org, p, &out); err != nil {
			return out, fmt.Errorf("private stock of %s: %w", p.GTIN, err)
		}
		in, gone, err := s.pendingShipments(v, caller.Org, p)
		if err != nil {
			return out, fmt.Errorf("private shipments of %s: %w", p.GTIN, err)
		}
		out.Incoming, out.Outgoing = append(out.Incoming, in...), append(out.Outgoing, gone...)
	}
	return out, nil
}

// privateProducts are the registered private products, by GTIN.
func privateProducts(v *ledger.View) ([]*supply.Product, error) {
	var gtins []string
	err := v.Scan("supply-product/", func(k string, _ []byte) error {
		gtins = append(gtins, strings.TrimPrefix(k, "supply-product/"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*supply.Product
	for _, gtin := range gtins {
		p, err := v.SupplyProduct(gtin)
		if err != nil {
			return nil, err
		}
		if p.Private {
			out = append(out, p)
		}
	}
	return out, nil
}

// privateHeld adds to st org's units of private product p that one of
// its custody keys holds: the loose ones and the packed ones counted by
// lot and status, and its cases.
func (s *Service) privateHeld(v *ledger.View, org string, p *supply.Product, st *PrivateStock) error {
	k, err := s.productKeyOf(v, org, p.GTIN)
	if errors.Is(err, ErrSupplyNoKey) {
		return nil // never held nor shipped one
	} else if err != nil {
		return err
	}
	defer clear(k)
	held, names, err := s.custody.heldUnits(s, org, p.GTIN, k)
	if err != nil {
		return err
	}
	commitments := slices.Sorted(maps.Keys(held)) // the key checks in a stable order
	now := s.now()
	loose, packed := map[ledger.SupplyHolding]int{}, map[ledger.SupplyHolding]int{}
	cases := map[string]*PrivateCase{}
	for _, c := range commitments {
		u, lot, err := v.SupplyUnit(p.GTIN, []byte(c))
		if errors.Is(err, ledger.ErrNotFound) {
			continue // journaled for a commissioning that never committed
		} else if err != nil {
			return err
		}
		if u.Status != supply.StatusActive {
			continue // shipped, dispensed or decommissioned
		}
		if _, err := s.heldKey(org, held[c], u); errors.Is(err, ErrNotHeld) {
			continue
		} else if err != nil {
			return err
		}
		h := ledger.HoldingOf(org, p.GTIN, p.Name, u, lot, now)
		if u.Case == nil {
			loose[h]++
			continue
		}
		packed[h]++ // held by the key holding its case
		pc := cases[string(u.Case)]
		if pc == nil {
			pc = &PrivateCase{GTIN: p.GTIN, Product: p.Name, SSCC: names[string(u.Case)]}
			cases[string(u.Case)] = pc
		}
		pc.Units++
		if !slices.Contains(pc.Lots, u.Lot) {
			pc.Lots = append(pc.Lots, u.Lot)
		}
	}
	st.Held, st.Packed = append(st.Held, holdingsOf(loose)...), append(st.Packed, holdingsOf(packed)...)
	for _, c := range slices.Sorted(maps.Keys(cases)) {
		slices.Sort(cases[c].Lots)
		st.Cases = append(st.Cases, *cases[c])
	}
	return nil
}

// holdingsOf is counts as holdings of so many units, by lot and status.
func holdingsOf(counts map[ledger.SupplyHolding]int) []ledger.SupplyHolding {
	out := make([]ledger.SupplyHolding, 0, len(counts))
	for h, n := range counts {
		h.Units = n
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b ledger.SupplyHolding) int {
		return strings.Compare(a.Lot+"\x00"+string(a.Status), b.Lot+"\x00"+string(b.Status))
	})
	return out
}

// pendingShipments are the pending shipments of private product p sealed
// to org: those shipped to it, then those it shipped.
func (s *Service) pendingShipments(v *ledger.View, org string, p *supply.Product) (in, out []PrivateShipment, err error) {
	id, ok := s.keys.identity(org)
	if !ok {
		return nil, nil, nil
	}
	pending, err := v.SupplyShipments(p.GTIN)
	if err != nil {
		return nil, nil, err
	}
	for _, ps := range pending {
		sh, err := openShipment(id, org, p.GTIN, ps.Claim, ps.Details)
		if errors.Is(err, seal.ErrDecrypt) {
			continue // another organization's
		} else if err != nil {
			return nil, nil, err
		}
		row := PrivateShipment{GTIN: p.GTIN, Product: p.Name, From: sh.From, To: sh.To, Lots: sh.Lots, Units: len(sh.Serials), SSCCs: sh.SSCCs,
			Claim: hex.EncodeToString(ps.Claim)}
		switch org {
		case sh.To:
			in = append(in, row)
		case sh.From:
			out = append(out, row)
		}
	}
	return in, out, nil
}

// ReceiveShipment receives, for signer's organization, the whole pending
// shipment of private product gtin sealed to it under claim (hex of its
// claim key, PrivateShipment.Claim): the node takes the serials from the
// sealed details, so the receiver need not scan them.
func (s *Service) ReceiveShipment(ctx context.Context, signer Signer, gtin, claim string) (PrivateShipment, error) {
	v := s.latest()
	me, err := v.Principal(signer.ID)
	if err != nil {
		return PrivateShipment{}, fmt.Errorf("signer %s: %w", signer.ID, err)
	}
	if !supply.Staff(me) {
		return PrivateShipment{}, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain", me.ID))
	}
	if !isPrivate(v, gtin) {
		return PrivateShipment{}, carechain.E(carechain.KindInvalid, fmt.Errorf("product %s is not a registered private product", gtin))
	}
	in, err := s.incoming(v, me.Org, gtin)
	if err != nil {
		return PrivateShipment{}, err
	}
	sh, ok := in[claim]
	if !ok {
		return PrivateShipment{}, carechain.E(carechain.KindInvalid, fmt.Errorf("no pending shipment of %s under this claim is sealed to %s", gtin, me.Org))
	}
	if _, err := s.transferAs(ctx, signer, SupplyTransferRequest{Action: tx.MoveReceive, GTIN: gtin, Shipment: claim}); err != nil {
		return PrivateShipment{}, err
	}
	return PrivateShipment{GTIN: gtin, From: sh.From, To: sh.To, Lots: sh.Lots, Units: len(sh.Serials), SSCCs: sh.SSCCs, Claim: claim}, nil
}
