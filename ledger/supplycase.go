package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Cases and pallets (supply/case.go). The custodian of units packs them
// into a case it names by the case's commitment (supply.aggregate, pack),
// adds more to a case it holds, and unpacks some or all of them (unpack; an
// emptied case is gone, and its SSCC may name a new one). It ships a case
// to another supply-chain organization and that receiver receives it
// (supply.case-move): every unit in the case moves with it, in state and
// so in the supply map, and a unit's own Case names its container. A unit
// in a case is neither shipped, received, dispensed nor decommissioned on
// its own (supply.move): it is unpacked first. Both transaction types are
// new: earlier blocks replay unchanged.

func init() {
	handle(tx.TypeSupplyAggregate, (*App).applySupplyAggregate)
	handle(tx.TypeSupplyCaseMove, (*App).applySupplyCaseMove)
}

// SupplyCase returns the case of units of gtin with commitment c
// (ErrNotFound if none is packed).
func (v *View) SupplyCase(gtin string, c []byte) (*supply.Case, error) { return getCase(v, gtin, c) }

func getCase(r reader, gtin string, c []byte) (*supply.Case, error) {
	var k supply.Case
	if err := getCBOR(r, supply.CaseKey(gtin, c), &k); err != nil {
		return nil, fmt.Errorf("case %x of %s: %w", c[:min(len(c), 8)], gtin, err)
	}
	return &k, nil
}

// packedWhy says why a unit in case u.Case does not move with inCase.
func packedWhy(u *supply.Unit, inCase []byte) string {
	if u.Case == nil {
		return "it is not in the case"
	}
	if inCase == nil {
		return "the unit is packed in a case; unpack it first"
	}
	return "it is packed in another case"
}

func (a *App) applySupplyAggregate(b *store.Block, c *checked, ag *tx.SupplyAggregate) *Rejection {
	if rej := supplyStaff(c.signer, ag.Action+" cases"); rej != nil {
		return rej
	}
	if rej := refusePrivate(b, ag.GTIN); rej != nil {
		return rej
	}
	org := c.signer.Org
	k, err := getCase(b, ag.GTIN, ag.Case)
	switch {
	case errors.Is(err, ErrNotFound) && ag.Action == tx.AggregateUnpack:
		return reject(CodeInvalid, "no case of %s with this SSCC is packed", ag.GTIN)
	case errors.Is(err, ErrNotFound):
		k = &supply.Case{Custodian: org, Status: supply.StatusActive}
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case k.Custodian != org:
		return reject(CodeUnauthorized, "%s may not %s this case of %s: it is held by %s", org, ag.Action, ag.GTIN, k.Custodian)
	case k.Status != supply.StatusActive:
		return reject(CodeInvalid, "the case of %s is in transit to %s: its receiver receives it first", ag.GTIN, k.To)
	}
	var rej *Rejection
	if ag.Action == tx.AggregatePack {
		rej = pack(b, c, ag, k)
	} else {
		rej = unpack(b, ag, k)
	}
	if rej != nil {
		return rej
	}
	k.Height = b.Height()
	if len(k.Units) == 0 {
		err = b.Delete(supply.CaseKey(ag.GTIN, ag.Case))
	} else {
		err = setCBOR(b, supply.CaseKey(ag.GTIN, ag.Case), k)
	}
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// pack adds the units ag names to case k: each held by the signer's
// organization, sellable (not in transit, recalled, suspect, expired, …)
// and in no case yet.
func pack(b *store.Block, c *checked, ag *tx.SupplyAggregate, k *supply.Case) *Rejection {
	if len(k.Units)+len(ag.Units) > supply.MaxUnits {
		return reject(CodeInvalid, "a case holds at most %d units; this one holds %d", supply.MaxUnits, len(k.Units))
	}
	org, now := c.signer.Org, judgedAt(c)
	units := make([]*supply.Unit, len(ag.Units))
	for i, cm := range ag.Units {
		u, err := getUnit(b, ag.GTIN, cm)
		if errors.Is(err, ErrNotFound) {
			return reject(CodeInvalid, "unit #%d of %s: no unit with this serial was commissioned", i, ag.GTIN)
		} else if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		lot, err := getLot(b, ag.GTIN, u.Lot)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		switch st := supply.Effective(*u, *lot, now); {
		case u.Case != nil:
			return reject(CodeConflict, "unit #%d of %s is already packed in a case: unpack it first", i, ag.GTIN)
		case u.Custodian != org:
			return reject(CodeUnauthorized, "unit #%d of %s: %s may not pack it: it is held by %s", i, ag.GTIN, org, u.Custodian)
		case st != supply.StatusActive:
			return reject(CodeInvalid, "unit #%d of %s may not be packed: %s", i, ag.GTIN, supply.Why(st, *u, *lot))
		}
		units[i] = u
	}
	for i, u := range units {
		u.Case, u.Height = ag.Case, b.Height()
		if err := setCBOR(b, supply.UnitKey(ag.GTIN, ag.Units[i]), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	k.Units = append(k.Units, ag.Units...)
	return nil
}

// unpack takes the units ag names (none: all) out of case k.
func unpack(b *store.Block, ag *tx.SupplyAggregate, k *supply.Case) *Rejection {
	out := ag.Units
	if len(out) == 0 {
		out = k.Units
	}
	keep := make([][]byte, 0, len(k.Units))
	for _, cm := range k.Units {
		if !containsBytes(out, cm) {
			keep = append(keep, cm)
		}
	}
	if len(keep)+len(out) != len(k.Units) {
		for i, cm := range out {
			if !containsBytes(k.Units, cm) {
				return reject(CodeInvalid, "unit #%d of %s is not in this case", i, ag.GTIN)
			}
		}
	}
	for _, cm := range out {
		u, err := getUnit(b, ag.GTIN, cm)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		u.Case, u.Height = nil, b.Height()
		if err := setCBOR(b, supply.UnitKey(ag.GTIN, cm), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	k.Units = keep
	return nil
}

func containsBytes(list [][]byte, x []byte) bool {
	for _, y := range list {
		if bytes.Equal(x, y) {
			return true
		}
	}
	return false
}

func (a *App) applySupplyCaseMove(b *store.Block, c *checked, m *tx.SupplyCaseMove) *Rejection {
	s := c.signer
	if rej := supplyStaff(s, m.Action+" cases"); rej != nil {
		return rej
	}
	if rej := refusePrivate(b, m.GTIN); rej != nil {
		return rej
	}
	loose := &tx.SupplyMove{Action: m.Action, GTIN: m.GTIN, To: m.To, KeyWrap: m.KeyWrap}
	if rej := mayMove(b, s, loose); rej != nil {
		return rej
	}
	cases := make([]*supply.Case, len(m.Cases))
	moves := make([]*tx.SupplyMove, len(m.Cases))
	units := make([][]*supply.Unit, len(m.Cases))
	for i, cm := range m.Cases {
		k, err := getCase(b, m.GTIN, cm)
		if errors.Is(err, ErrNotFound) {
			return reject(CodeInvalid, "case #%d of %s: no case with this SSCC is packed", i, m.GTIN)
		} else if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		switch {
		case m.Action == tx.MoveShip && k.Custodian != s.Org:
			return reject(CodeUnauthorized, "case #%d of %s: %s may not ship it: it is held by %s", i, m.GTIN, s.Org, k.Custodian)
		case m.Action == tx.MoveShip && k.Status != supply.StatusActive:
			return reject(CodeInvalid, "case #%d of %s may not be shipped: it is in transit to %s", i, m.GTIN, k.To)
		case m.Action == tx.MoveReceive && (k.Status != supply.StatusInTransit || k.To != s.Org):
			return reject(CodeUnauthorized, "case #%d of %s: %s may not receive it: %s", i, m.GTIN, s.Org, caseNotYours(k))
		}
		moves[i] = &tx.SupplyMove{Action: m.Action, GTIN: m.GTIN, Units: k.Units, To: m.To}
		var rej *Rejection
		if units[i], rej = movable(b, c, moves[i], cm); rej != nil {
			return reject(rej.Code, "case #%d: %s", i, rej.Msg)
		}
		cases[i] = k
	}
	for i, k := range cases {
		if rej := setMoved(b, moves[i], units[i]); rej != nil {
			return rej
		}
		if m.Action == tx.MoveShip {
			k.Status, k.To = supply.StatusInTransit, m.To
		} else {
			k.Status, k.Custodian, k.To = supply.StatusActive, k.To, ""
		}
		k.Height = b.Height()
		if err := setCBOR(b, supply.CaseKey(m.GTIN, m.Cases[i]), k); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

func caseNotYours(k *supply.Case) string {
	if k.Status != supply.StatusInTransit {
		return "no shipment of it is pending"
	}
	return "it is shipped to " + k.To
}
