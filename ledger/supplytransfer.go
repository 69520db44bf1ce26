package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Private custody (supply.transfer; supply/custody.go). The units of a
// product its manufacturer registers as private are held by one-time
// custody keys, not by organizations: commissioning (signed by the
// manufacturer's supply staff, as for any product) names the key the new
// units start with, and from then on they move only by supply.transfer,
// signed by the custody key itself under the pseudo-signer
// custody/<hex of the key>, which authenticate checks against the key in
// its own name (no registration; nonces as for any signer):
//
//   - ship: the key holding the units sends them in transit and names the
//     claim key of the shipment, a fresh key whose seed the shipper's node
//     seals to the receiver in Details (records/supplycustody.go);
//   - receive: the claim key takes them and names the receiver's next
//     custody key (not itself), which holds them from then on;
//   - decommission: the holding key takes them out of the chain;
//   - flag: the holding or the claim key flags a unit, or its lot, as
//     suspect;
//   - dispense: the holding key, co-signed by a supply staff member of a
//     pharmacy or hospital (supply.DispenseDigest): the dispensing
//     organization is named, on the ledger, at dispense only.
//
// A registered principal never signs a transfer, a custody key nothing
// else; supply.move, supply.flag, supply.aggregate and supply.case-move
// refuse private units, which a transfer packs into cases, ships and
// receives in cases and unpacks (supplytransfercase.go). The
// manufacturer still recalls their lots and resolves flags on them, and
// each transfer follows the same status rules as supply.move (Effective,
// Why), for all its units or none. The event's details (who ships what to
// whom, prices, and the product key the receiver needs to compute serial
// commitments) travel in Details, sealed by the client to the parties and
// only bounded here; transfers write no supply-key wrap. A ship's Details
// stay in state under its claim key until the receive (keepShipment), so
// the receiver's node finds the shipments sealed to it without following
// blocks.
//
// What a competitor's node still sees: the product catalogue and which
// manufacturer owns each private product, its lots, expiry dates and
// recalls, how many units each manufacturer commissions and when; for each
// transfer its action, size (unit count, and the sealed details' length)
// and block time; and the chain of custody keys each unit passes through,
// so the path of one batch (how often it changes hands, how it splits)
// but not whose hands; and at the end the organization that dispenses
// it. It does not see which organization holds, ships or receives a unit,
// nor any serial: the keys are derived one per shipment (supply.CustodyKey)
// and are linked to no principal.

func init() { handle(tx.TypeSupplyTransfer, (*App).applySupplyTransfer) }

// refusePrivate refuses an organization's move of units of gtin if the
// product is private.
func refusePrivate(b *store.Block, gtin string) *Rejection {
	p, err := getProduct(b, gtin)
	if errors.Is(err, ErrNotFound) {
		return nil // the units' own checks refuse them
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if p.Private {
		return reject(CodeInvalid, "units of a private product move by their custody keys: %s", tx.TypeSupplyTransfer)
	}
	return nil
}

func (a *App) applySupplyTransfer(b *store.Block, c *checked, t *tx.SupplyTransfer) *Rejection {
	if c.signer.Kind != kindCustody { // authenticate lets no other signer through; deny by default all the same
		return reject(CodeUnauthorized, "%s is signed by a custody key", tx.TypeSupplyTransfer)
	}
	p, err := getProduct(b, t.GTIN)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "product %s is not registered", t.GTIN)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !p.Private {
		return reject(CodeInvalid, "product %s is not private: its units move by %s", t.GTIN, tx.TypeSupplyMove)
	}
	if t.Action == tx.TransferPack || t.Action == tx.TransferUnpack || len(t.Case) != 0 {
		return transferCase(b, c, t)
	}
	switch t.Action {
	case tx.TransferFlag:
		return flagByKey(b, c, t)
	case tx.MoveReceive:
		if bytes.Equal(t.Next, c.signer.PublicKey) {
			return reject(CodeInvalid, "the next custody key is the claim key: the receiver takes a fresh one")
		}
	case tx.MoveDispense:
		if rej := checkDispenser(b, c, t); rej != nil {
			return rej
		}
	}
	units, rej := transferable(b, c, t)
	if rej != nil {
		return rej
	}
	if rej := keepShipment(b, c, t); rej != nil {
		return rej
	}
	for i, u := range units {
		switch t.Action {
		case tx.MoveShip:
			u.Status, u.Claim = supply.StatusInTransit, t.Claim
		case tx.MoveReceive:
			u.Status, u.Custody, u.Claim = supply.StatusActive, t.Next, nil
		case tx.MoveDispense:
			u.Status = supply.StatusDispensed
		case tx.MoveDecommission:
			u.Status, u.Claim = supply.StatusDecommissioned, nil
		}
		u.Height = b.Height()
		if err := setCBOR(b, supplyUnitKey(t.GTIN, t.Units[i]), u); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

// transferable reads the units t names and checks that the signing key
// may take each through t, as movable does for organizations.
func transferable(b *store.Block, c *checked, t *tx.SupplyTransfer) ([]*supply.Unit, *Rejection) {
	key, now := c.signer.PublicKey, judgedAt(c)
	out := make([]*supply.Unit, len(t.Units))
	lots := map[string]*supply.Lot{}
	for i, cm := range t.Units {
		u, lot, rej := unitAndLot(b, t.GTIN, i, cm, lots)
		if rej != nil {
			return nil, rej
		}
		st := supply.Effective(*u, *lot, now)
		want, holder := supply.StatusActive, u.Custody
		if t.Action == tx.MoveReceive {
			want, holder = supply.StatusInTransit, u.Claim
		}
		switch {
		case !bytes.Equal(holder, key):
			return nil, reject(CodeUnauthorized, "unit #%d of %s: this key may not %s it: %s", i, t.GTIN, t.Action, notHeld(t.Action, u))
		case u.Case != nil: // no private unit was packed before cases of them (supplytransfercase.go): the message is new
			return nil, reject(CodeInvalid, "unit #%d of %s may not be %s: %s", i, t.GTIN, pastTense(t.Action), packedWhy(u, nil))
		case t.Action == tx.MoveDecommission && (st == supply.StatusActive || st == supply.StatusRecalled ||
			st == supply.StatusSuspect || st == supply.StatusIllegitimate || st == supply.StatusExpired):
			// the holder may always take a unit out of the chain
		case st != want:
			return nil, reject(CodeInvalid, "unit #%d of %s may not be %s: %s", i, t.GTIN, pastTense(t.Action), supply.Why(st, *u, *lot))
		}
		out[i] = u
	}
	return out, nil
}

// notHeld says why a key may not move u: named without naming any key.
func notHeld(action string, u *supply.Unit) string {
	if action == tx.MoveReceive {
		if u.Status != supply.StatusInTransit {
			return "no shipment of it is pending"
		}
		return "it is shipped to another claim key"
	}
	return "another key holds it"
}

// flagByKey flags the unit t names, or its lot, if the signing key holds
// it or claims its pending shipment.
func flagByKey(b *store.Block, c *checked, t *tx.SupplyTransfer) *Rejection {
	key := c.signer.PublicKey
	u, err := getUnit(b, t.GTIN, t.Units[0])
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "no unit of %s with this serial was commissioned", t.GTIN)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	holds := u.Status == supply.StatusActive && bytes.Equal(u.Custody, key) ||
		u.Status == supply.StatusInTransit && (bytes.Equal(u.Custody, key) || bytes.Equal(u.Claim, key))
	if !holds {
		return reject(CodeUnauthorized, "this key may not flag this unit of %s: only its holding or claim key does", t.GTIN)
	}
	if t.WholeLot {
		return setSuspicion(b, supplyLotKey(t.GTIN, u.Lot), func(l *supply.Lot) *supply.Suspicion { return &l.Suspicion }, supply.SuspicionFlagged)
	}
	return setSuspicion(b, supplyUnitKey(t.GTIN, t.Units[0]), func(u *supply.Unit) *supply.Suspicion { return &u.Suspicion }, supply.SuspicionFlagged)
}

// checkDispenser checks a dispense's co-signature: t.Dispenser is the
// supply staff of a pharmacy or hospital and signed DispenseDigest.
func checkDispenser(b *store.Block, c *checked, t *tx.SupplyTransfer) *Rejection {
	d, err := getPrincipal(b, t.Dispenser)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeUnauthorized, "dispenser %q is not registered", t.Dispenser)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !supply.Staff(d) {
		return reject(CodeUnauthorized, "%s may not dispense: only the active admin, supply officers and pharmacists of a pharmacy or hospital do", d.ID)
	}
	org, err := getOrg(b, d.Org)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if org.Type != carechain.OrgPharmacy && org.Type != carechain.OrgHospital {
		return reject(CodeUnauthorized, "%s may not dispense: %s is a %s, not a pharmacy or hospital", d.ID, d.Org, org.Type)
	}
	if !tx.VerifySignature(d.PublicKey, t.DispenseDigest(c.ChainID), t.DispenserSig) {
		return reject(CodeBadSignature, "the co-signature of dispenser %s does not verify", d.ID)
	}
	return nil
}

// keepShipment keeps a ship's sealed details in state, under its claim
// key, until a receive by the claim key takes them away: the receiver's
// node finds the shipments sealed to it there (by trial opening), without
// following blocks. They are as opaque here as in the transaction.
func keepShipment(b *store.Block, c *checked, t *tx.SupplyTransfer) *Rejection {
	var err error
	switch {
	case t.Action == tx.MoveShip && len(t.Details) > 0:
		// Claim keys are public once shipped to: without this, any holder of
		// units of the product could overwrite another pending shipment's
		// details, and its receiver's node would not find them.
		if _, err := b.Get(supplyShipmentKey(t.GTIN, t.Claim)); err == nil {
			return reject(CodeConflict, "a shipment under this claim key is pending: each shipment takes a fresh claim key")
		} else if !errors.Is(err, store.ErrNotFound) {
			return reject(CodeInternal, "%v", err)
		}
		err = b.Set(supplyShipmentKey(t.GTIN, t.Claim), t.Details)
	case t.Action == tx.MoveReceive:
		err = b.Delete(supplyShipmentKey(t.GTIN, c.signer.PublicKey))
	}
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// supplyShipmentKey is the state key of the sealed details of the
// shipment of gtin claimed by key claim.
func supplyShipmentKey(gtin string, claim []byte) string {
	return "supply-shipment/" + gtin + "/" + hex.EncodeToString(claim)
}

// SupplyShipment is a pending shipment of a private product: its claim
// key and its sealed details.
type SupplyShipment struct {
	Claim   []byte
	Details []byte
}

// SupplyShipments returns the pending shipments of private product gtin
// whose ship carried details, in key order.
func (v *View) SupplyShipments(gtin string) ([]SupplyShipment, error) {
	prefix := supplyShipmentKey(gtin, nil)
	var out []SupplyShipment
	err := v.Scan(prefix, func(k string, val []byte) error {
		claim, err := hex.DecodeString(strings.TrimPrefix(k, prefix))
		if err != nil {
			return fmt.Errorf("shipment key %q: %w", k, err)
		}
		out = append(out, SupplyShipment{Claim: claim, Details: bytes.Clone(val)})
		return nil
	})
	return out, err
}

// SupplyShipment returns the sealed details of the pending shipment of
// private product gtin under claim key claim (ErrNotFound: none).
func (v *View) SupplyShipment(gtin string, claim []byte) ([]byte, error) {
	b, err := v.Get(supplyShipmentKey(gtin, claim))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return b, err
}

// custodyKeyOf is the custody key a commissioning of product p names, or
// a rejection: a private product's units start with one, no other's do.
func custodyKeyOf(p *supply.Product, cm *tx.SupplyCommission) ([]byte, *Rejection) {
	switch {
	case p.Private && len(cm.Custody) == 0:
		return nil, reject(CodeInvalid, "product %s is private: its units are commissioned to a custody key", p.GTIN)
	case !p.Private && len(cm.Custody) != 0:
		return nil, reject(CodeInvalid, "product %s is not private: its units are held by %s, not by a custody key", p.GTIN, p.Owner)
	}
	return cm.Custody, nil
}
