package ledger

import (
	"bytes"
	"errors"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Cases of private units (supply.transfer naming a Case; supplycase.go for
// the cases organizations hold). A case of a private product is held by a
// custody key, never by an organization, and every unit in it by the same
// key, so the supply map proves each unit's status and holder as the case
// moves:
//
//   - pack: the key holding every unit named (active: not in transit,
//     recalled, suspect, expired, nor in a case) packs them into a new case,
//     held from then on, with them, by Next, a fresh key of the same
//     organization; or into a case it holds itself (naming no Next);
//   - ship: the case's key sends it, and every unit in it, in transit under
//     a claim key, as for loose units (keepShipment);
//   - receive: the claim key takes the case and its units and hands them to
//     Next;
//   - unpack: the case's key takes the units named (none: all) out of it;
//     they stay held by that key, and an emptied case is gone.
//
// A packed unit is neither shipped, received, dispensed nor decommissioned
// on its own (transferable): it is unpacked first. Pack, unpack and a Case
// are new to supply.transfer: earlier blocks replay unchanged.

func transferCase(b *store.Block, c *checked, t *tx.SupplyTransfer) *Rejection {
	key := c.signer.PublicKey
	k, err := getCase(b, t.GTIN, t.Case)
	switch {
	case errors.Is(err, ErrNotFound) && t.Action == tx.TransferPack:
		if len(t.Next) == 0 {
			return reject(CodeInvalid, "a new case of %s names the custody key that holds it (next)", t.GTIN)
		}
		k = &supply.Case{Custody: t.Next, Status: supply.StatusActive}
	case errors.Is(err, ErrNotFound):
		return reject(CodeInvalid, "no case of %s with this SSCC is packed", t.GTIN)
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case t.Action == tx.MoveReceive:
		if k.Status != supply.StatusInTransit || !bytes.Equal(k.Claim, key) {
			return reject(CodeUnauthorized, "this key may not receive the case of %s: %s", t.GTIN, caseNotHeld(k))
		}
		if bytes.Equal(t.Next, key) {
			return reject(CodeInvalid, "the next custody key is the claim key: the receiver takes a fresh one")
		}
	case !bytes.Equal(k.Custody, key):
		return reject(CodeUnauthorized, "this key may not %s the case of %s: another key holds it", t.Action, t.GTIN)
	case k.Status != supply.StatusActive:
		return reject(CodeInvalid, "the case of %s is in transit: its receiver receives it first", t.GTIN)
	case t.Action == tx.TransferPack && len(t.Next) != 0:
		return reject(CodeConflict, "a case of %s with this SSCC is packed: its key packs more units into it, naming no next key", t.GTIN)
	}
	var rej *Rejection
	switch t.Action {
	case tx.TransferPack:
		rej = packByKey(b, c, t, k)
	case tx.TransferUnpack:
		rej = unpackByKey(b, t, k)
	default:
		rej = moveCaseByKey(b, c, t, k)
	}
	if rej != nil {
		return rej
	}
	k.Height = b.Height()
	if len(k.Units) == 0 {
		err = b.Delete(supply.CaseKey(t.GTIN, t.Case))
	} else {
		err = setCBOR(b, supply.CaseKey(t.GTIN, t.Case), k)
	}
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func caseNotHeld(k *supply.Case) string {
	if k.Status != supply.StatusInTransit {
		return "no shipment of it is pending"
	}
	return "it is shipped to another claim key"
}

// packByKey packs the units t names into case k: each held by the signing
// key, active and loose. They are held by the case's key from then on.
func packByKey(b *store.Block, c *checked, t *tx.SupplyTransfer, k *supply.Case) *Rejection {
	if len(k.Units)+len(t.Units) > supply.MaxUnits {
		return reject(CodeInvalid, "a case holds at most %d units; this one holds %d", supply.MaxUnits, len(k.Units))
	}
	key, now := c.signer.PublicKey, judgedAt(c)
	lots := map[string]*supply.Lot{}
	units := make([]*supply.Unit, len(t.Units))
	for i, cm := range t.Units {
		u, lot, rej := unitAndLot(b, t.GTIN, i, cm, lots)
		if rej != nil {
			return rej
		}
		switch st := supply.Effective(*u, *lot, now); {
		case u.Case != nil:
			return reject(CodeConflict, "unit #%d of %s is already packed in a case: unpack it first", i, t.GTIN)
		case !bytes.Equal(u.Custody, key):
			return reject(CodeUnauthorized, "unit #%d of %s: this key may not pack it: %s", i, t.GTIN, notHeld(t.Action, u))
		case st != supply.StatusActive:
			return reject(CodeInvalid, "unit #%d of %s may not be packed: %s", i, t.GTIN, supply.Why(st, *u, *lot))
		}
		units[i] = u
	}
	for i, u := range units {
		u.Case, u.Custody, u.Height = t.Case, k.Custody, b.Height()
		if err := setCBOR(b, supply.UnitKey(t.GTIN, t.Units[i]), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	k.Units = append(k.Units, t.Units...)
	return nil
}

// unpackByKey takes the units t names (none: all) out of case k: they stay
// held by the case's key.
func unpackByKey(b *store.Block, t *tx.SupplyTransfer, k *supply.Case) *Rejection {
	ag := &tx.SupplyAggregate{Action: tx.AggregateUnpack, GTIN: t.GTIN, Case: t.Case, Units: t.Units}
	return unpack(b, ag, k)
}

// moveCaseByKey ships or receives case k and every unit in it.
func moveCaseByKey(b *store.Block, c *checked, t *tx.SupplyTransfer, k *supply.Case) *Rejection {
	now := judgedAt(c)
	lots := map[string]*supply.Lot{}
	want := supply.StatusActive
	if t.Action == tx.MoveReceive {
		want = supply.StatusInTransit
	}
	units := make([]*supply.Unit, len(k.Units))
	for i, cm := range k.Units {
		u, lot, rej := unitAndLot(b, t.GTIN, i, cm, lots)
		if rej != nil {
			return rej
		}
		if !bytes.Equal(u.Case, t.Case) { // the case's own record names it: cannot happen
			return reject(CodeInternal, "unit #%d of the case of %s is not packed in it", i, t.GTIN)
		}
		if st := supply.Effective(*u, *lot, now); st != want {
			return reject(CodeInvalid, "the case of %s may not be %s: unit #%d in it: %s", t.GTIN, pastTense(t.Action), i, supply.Why(st, *u, *lot))
		}
		units[i] = u
	}
	if rej := keepShipment(b, c, t); rej != nil {
		return rej
	}
	if t.Action == tx.MoveShip {
		k.Status, k.Claim = supply.StatusInTransit, t.Claim
	} else {
		k.Status, k.Custody, k.Claim = supply.StatusActive, t.Next, nil
	}
	for i, u := range units {
		u.Status, u.Custody, u.Claim, u.Height = k.Status, k.Custody, k.Claim, b.Height()
		if err := setCBOR(b, supply.UnitKey(t.GTIN, k.Units[i]), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}
