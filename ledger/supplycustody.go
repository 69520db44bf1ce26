package ledger

import (
	"bytes"
	"errors"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Custody of supply units (supply.move), flags (supply.flag), the
// manufacturer's decisions on them (supply.resolve) and recalls
// (supply.recall). See supply.go.

// movable reads the units a move names and checks each may take part in
// it; a batch is applied whole or not at all. inCase is the commitment of
// the case a move of cases moves them with (nil: they move loose, and a
// unit packed in a case is refused).
func movable(b *store.Block, c *checked, m *tx.SupplyMove, inCase []byte) ([]*supply.Unit, *Rejection) {
	org := c.signer.Org
	now := judgedAt(c)
	out := make([]*supply.Unit, len(m.Units))
	lots := map[string]*supply.Lot{}
	for i, cm := range m.Units {
		u, lot, rej := unitAndLot(b, m.GTIN, i, cm, lots)
		if rej != nil {
			return nil, rej
		}
		st := supply.Effective(*u, *lot, now)
		want, holder := supply.StatusActive, u.Custodian
		if m.Action == tx.MoveReceive {
			want, holder = supply.StatusInTransit, u.To
		}
		switch {
		case holder != org:
			return nil, reject(CodeUnauthorized, "unit #%d of %s: %s may not %s it: %s", i, m.GTIN, org, m.Action, notYours(m.Action, u))
		case !bytes.Equal(u.Case, inCase):
			return nil, reject(CodeInvalid, "unit #%d of %s may not be %s: %s", i, m.GTIN, pastTense(m.Action), packedWhy(u, inCase))
		case m.Action == tx.MoveDecommission && (st == supply.StatusActive || st == supply.StatusRecalled ||
			st == supply.StatusSuspect || st == supply.StatusIllegitimate || st == supply.StatusExpired):
			// a custodian may always take a unit it holds out of the chain
		case st != want:
			return nil, reject(CodeInvalid, "unit #%d of %s may not be %s: %s", i, m.GTIN, pastTense(m.Action), supply.Why(st, *u, *lot))
		}
		out[i] = u
	}
	return out, nil
}

// unitAndLot reads unit #i of gtin, by its commitment cm, and its lot
// (from lots, which it fills, or the state).
func unitAndLot(b *store.Block, gtin string, i int, cm []byte, lots map[string]*supply.Lot) (*supply.Unit, *supply.Lot, *Rejection) {
	u, err := getUnit(b, gtin, cm)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, reject(CodeInvalid, "unit #%d of %s: no unit with this serial was commissioned", i, gtin)
	} else if err != nil {
		return nil, nil, reject(CodeInternal, "%v", err)
	}
	lot, ok := lots[u.Lot]
	if !ok {
		if lot, err = getLot(b, gtin, u.Lot); err != nil {
			return nil, nil, reject(CodeInternal, "%v", err)
		}
		lots[u.Lot] = lot
	}
	return u, lot, nil
}

func notYours(action string, u *supply.Unit) string {
	if action == tx.MoveReceive {
		if u.Status != supply.StatusInTransit {
			return "no shipment of it is pending"
		}
		return "it is shipped to " + u.To
	}
	return "it is held by " + u.Custodian
}

func pastTense(action string) string {
	switch action {
	case tx.MoveShip:
		return "shipped"
	case tx.MoveReceive:
		return "received"
	case tx.MoveDispense:
		return "dispensed"
	}
	return "decommissioned"
}

func (a *App) applySupplyMove(b *store.Block, c *checked, m *tx.SupplyMove) *Rejection {
	s := c.signer
	if rej := supplyStaff(s, m.Action+" units"); rej != nil {
		return rej
	}
	if rej := refusePrivate(b, m.GTIN); rej != nil {
		return rej
	}
	if rej := mayMove(b, s, m); rej != nil {
		return rej
	}
	units, rej := movable(b, c, m, nil)
	if rej != nil {
		return rej
	}
	return setMoved(b, m, units)
}

// setMoved writes units, which m moves, as moved.
func setMoved(b *store.Block, m *tx.SupplyMove, units []*supply.Unit) *Rejection {
	for i, u := range units {
		switch m.Action {
		case tx.MoveShip:
			u.Status, u.To = supply.StatusInTransit, m.To
		case tx.MoveReceive:
			u.Status, u.Custodian, u.To = supply.StatusActive, u.To, ""
		case tx.MoveDispense:
			u.Status = supply.StatusDispensed
		case tx.MoveDecommission:
			u.Status, u.To = supply.StatusDecommissioned, ""
		}
		u.Height = b.Height()
		if err := setCBOR(b, supplyUnitKey(m.GTIN, m.Units[i]), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

// mayMove checks the organizations of a move: a ship goes to another
// supply-chain organization, which gets the product key with its first
// shipment; only a pharmacy or hospital dispenses.
func mayMove(b *store.Block, s *carechain.Principal, m *tx.SupplyMove) *Rejection {
	switch m.Action {
	case tx.MoveShip:
		to, err := getOrg(b, m.To)
		if errors.Is(err, ErrNotFound) || err == nil && (!slices.Contains(supplyOrgTypes, to.Type) || to.ID == s.Org) {
			return reject(CodeInvalid, "%q is not another manufacturer, wholesaler, pharmacy or hospital of the consortium", m.To)
		} else if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		err = getCBOR(b, supplyKeyWrapKey(m.GTIN, m.To), new([]byte))
		switch {
		case errors.Is(err, ErrNotFound) && len(m.KeyWrap) == 0:
			return reject(CodeInvalid, "%s holds no key of product %s: the first shipment to it carries one", m.To, m.GTIN)
		case errors.Is(err, ErrNotFound):
			if err := setCBOR(b, supplyKeyWrapKey(m.GTIN, m.To), m.KeyWrap); err != nil {
				return reject(CodeInternal, "%v", err)
			}
		case err != nil:
			return reject(CodeInternal, "%v", err)
		}
	case tx.MoveDispense:
		org, err := getOrg(b, s.Org)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if org.Type != carechain.OrgPharmacy && org.Type != carechain.OrgHospital {
			return reject(CodeUnauthorized, "%s may not dispense: %s is a %s, not a pharmacy or hospital", s.ID, s.Org, org.Type)
		}
	}
	return nil
}

func (a *App) applySupplyFlag(b *store.Block, c *checked, f *tx.SupplyFlag) *Rejection {
	s := c.signer
	if rej := supplyStaff(s, "flag units"); rej != nil {
		return rej
	}
	if rej := refusePrivate(b, f.GTIN); rej != nil {
		return rej
	}
	u, err := getUnit(b, f.GTIN, f.Unit)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "no unit of %s with this serial was commissioned", f.GTIN)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	holds := u.Status == supply.StatusActive && u.Custodian == s.Org || u.Status == supply.StatusInTransit && (u.Custodian == s.Org || u.To == s.Org)
	if !holds {
		return reject(CodeUnauthorized, "%s may not flag this unit of %s: only its custodian or receiver does", s.ID, f.GTIN)
	}
	if f.WholeLot {
		return setSuspicion(b, supplyLotKey(f.GTIN, u.Lot), func(l *supply.Lot) *supply.Suspicion { return &l.Suspicion }, supply.SuspicionFlagged)
	}
	return setSuspicion(b, supplyUnitKey(f.GTIN, f.Unit), func(u *supply.Unit) *supply.Suspicion { return &u.Suspicion }, supply.SuspicionFlagged)
}

// setSuspicion moves the suspicion of the unit or lot at key: a flag on one
// not flagged yet, a decision on one flagged.
func setSuspicion[T any](b *store.Block, key string, field func(*T) *supply.Suspicion, to supply.Suspicion) *Rejection {
	var v T
	if err := getCBOR(b, key, &v); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "%s does not exist", key)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	have := field(&v)
	switch {
	case to == supply.SuspicionFlagged && *have != supply.SuspicionNone:
		return reject(CodeConflict, "already %s", *have)
	case to != supply.SuspicionFlagged && *have != supply.SuspicionFlagged:
		return reject(CodeInvalid, "no flag to decide on: it is not suspect")
	}
	*have = to
	if err := setCBOR(b, key, v); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applySupplyResolve(b *store.Block, c *checked, r *tx.SupplyResolve) *Rejection {
	if _, rej := ownProduct(b, c.signer, r.GTIN, "decide on flags"); rej != nil {
		return rej
	}
	to := supply.SuspicionNone
	if r.Outcome == tx.ResolveConfirm {
		to = supply.SuspicionConfirmed
	}
	if r.Lot != "" {
		return setSuspicion(b, supplyLotKey(r.GTIN, r.Lot), func(l *supply.Lot) *supply.Suspicion { return &l.Suspicion }, to)
	}
	return setSuspicion(b, supplyUnitKey(r.GTIN, r.Unit), func(u *supply.Unit) *supply.Suspicion { return &u.Suspicion }, to)
}

func (a *App) applySupplyRecall(b *store.Block, c *checked, r *tx.SupplyRecall) *Rejection {
	if _, rej := ownProduct(b, c.signer, r.GTIN, "recall lots"); rej != nil {
		return rej
	}
	lot, err := getLot(b, r.GTIN, r.Lot)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "lot %s of %s was never commissioned", r.Lot, r.GTIN)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if lot.Recalled {
		return reject(CodeConflict, "lot %s of %s is already recalled", r.Lot, r.GTIN)
	}
	lot.Recalled, lot.RecallReason = true, r.Reason
	if err := setCBOR(b, supplyLotKey(r.GTIN, r.Lot), lot); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
