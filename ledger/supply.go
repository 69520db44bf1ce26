package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Supply-chain rules (package supply). A manufacturer's supply staff (its
// admin, or a supply officer) registers a product and commissions its
// units; each unit is known by its serial commitment only. The custodian
// organization ships units to another supply-chain organization, which
// receives them; a pharmacy or hospital dispenses them; a custodian
// decommissions them. A custodian flags a unit or its lot as suspect
// (quarantined); the manufacturer confirms (illegitimate, for good) or
// clears the flag, and recalls lots. A unit that is recalled, suspect,
// illegitimate or expired is neither shipped, received nor dispensed.
// Units travel packed in cases and pallets too (supplycase.go). The units
// of a private product are held by custody keys instead, and move by
// supply.transfer (supplytransfer.go).
//
// In plain on the ledger: products (public catalogue data), lots and their
// expiry, recalls and flags, and per unit commitment its custodian
// organization, pending receiver and status; so any member's node sees
// who ships how many units of which product and lot to whom, and when.
// Serials, prices and quantities beyond unit counts are not on the ledger.
// None of these transaction types existed before: earlier blocks replay
// unchanged, and a chain without supply state writes nothing new.

func init() {
	handle(tx.TypeSupplyProduct, (*App).applySupplyProduct)
	handle(tx.TypeSupplyCommission, (*App).applySupplyCommission)
	handle(tx.TypeSupplyMove, (*App).applySupplyMove)
	handle(tx.TypeSupplyFlag, (*App).applySupplyFlag)
	handle(tx.TypeSupplyResolve, (*App).applySupplyResolve)
	handle(tx.TypeSupplyRecall, (*App).applySupplyRecall)
}

func supplyProductKey(gtin string) string        { return supply.ProductKey(gtin) }
func supplyKeyWrapKey(gtin, org string) string   { return "supply-key/" + gtin + "/" + org }
func supplyLotKey(gtin, lot string) string       { return supply.LotKey(gtin, lot) }
func supplyUnitKey(gtin string, c []byte) string { return supply.UnitKey(gtin, c) }

// supplyOrgTypes are the organizations that hold units.
var supplyOrgTypes = []carechain.OrgType{carechain.OrgManufacturer, carechain.OrgWholesaler, carechain.OrgPharmacy, carechain.OrgHospital}

// SupplyProduct returns a registered product (ErrNotFound if none).
func (v *View) SupplyProduct(gtin string) (*supply.Product, error) { return getProduct(v, gtin) }

// SupplyKeyWrap returns the product key of gtin wrapped to org's
// encryption key (ErrNotFound if org was given none).
func (v *View) SupplyKeyWrap(gtin, org string) ([]byte, error) {
	var w []byte
	if err := getCBOR(v, supplyKeyWrapKey(gtin, org), &w); err != nil {
		return nil, fmt.Errorf("key of product %s for %s: %w", gtin, org, err)
	}
	return w, nil
}

// SupplyUnit returns the unit of gtin with serial commitment c and its lot
// (ErrNotFound if no such unit was commissioned).
func (v *View) SupplyUnit(gtin string, c []byte) (*supply.Unit, *supply.Lot, error) {
	u, err := getUnit(v, gtin, c)
	if err != nil {
		return nil, nil, err
	}
	lot, err := getLot(v, gtin, u.Lot)
	if err != nil {
		return nil, nil, err
	}
	return u, lot, nil
}

func getProduct(r reader, gtin string) (*supply.Product, error) {
	var p supply.Product
	if err := getCBOR(r, supplyProductKey(gtin), &p); err != nil {
		return nil, fmt.Errorf("product %s: %w", gtin, err)
	}
	return &p, nil
}

func getUnit(r reader, gtin string, c []byte) (*supply.Unit, error) {
	var u supply.Unit
	if err := getCBOR(r, supplyUnitKey(gtin, c), &u); err != nil {
		return nil, fmt.Errorf("unit %x of %s: %w", c[:min(len(c), 8)], gtin, err)
	}
	return &u, nil
}

func getLot(r reader, gtin, lot string) (*supply.Lot, error) {
	var l supply.Lot
	if err := getCBOR(r, supplyLotKey(gtin, lot), &l); err != nil {
		return nil, fmt.Errorf("lot %s of %s: %w", lot, gtin, err)
	}
	return &l, nil
}

// supplyStaff refuses a signer who is not its organization's admin or a
// supply officer (or, in a pharmacy or hospital, a pharmacist).
func supplyStaff(s *carechain.Principal, what string) *Rejection {
	if supply.Staff(s) {
		return nil
	}
	return reject(CodeUnauthorized, "%s may not %s: its organization's admin or supply officers do", s.ID, what)
}

// ownProduct returns gtin's product if the signer's organization owns it.
func ownProduct(b *store.Block, s *carechain.Principal, gtin, what string) (*supply.Product, *Rejection) {
	if rej := supplyStaff(s, what); rej != nil {
		return nil, rej
	}
	p, err := getProduct(b, gtin)
	if errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInvalid, "product %s is not registered", gtin)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if p.Owner != s.Org {
		return nil, reject(CodeUnauthorized, "%s may not %s: product %s belongs to %s", s.ID, what, gtin, p.Owner)
	}
	return p, nil
}

func (a *App) applySupplyProduct(b *store.Block, c *checked, p *tx.SupplyProduct) *Rejection {
	s := c.signer
	if rej := supplyStaff(s, "register products"); rej != nil {
		return rej
	}
	org, err := getOrg(b, s.Org)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if org.Type != carechain.OrgManufacturer {
		return reject(CodeUnauthorized, "%s may not register products: %s is a %s, not a manufacturer", s.ID, s.Org, org.Type)
	}
	if have, err := getProduct(b, p.GTIN); err == nil {
		return reject(CodeConflict, "product %s is already registered by %s", p.GTIN, have.Owner)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	prod := supply.Product{GTIN: p.GTIN, Name: p.Name, Form: p.Form, Strength: p.Strength, Kind: p.Kind, Owner: s.Org, Height: b.Height(),
		Private: p.Private}
	if err := setCBOR(b, supplyProductKey(p.GTIN), prod); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, supplyKeyWrapKey(p.GTIN, s.Org), p.KeyWrap); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applySupplyCommission(b *store.Block, c *checked, cm *tx.SupplyCommission) *Rejection {
	p, rej := ownProduct(b, c.signer, cm.GTIN, "commission units")
	if rej != nil {
		return rej
	}
	custody, rej := custodyKeyOf(p, cm)
	if rej != nil {
		return rej
	}
	lot, err := getLot(b, cm.GTIN, cm.Lot)
	if errors.Is(err, ErrNotFound) {
		lot = &supply.Lot{Expiry: cm.Expiry}
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if lot.Expiry != cm.Expiry {
		return reject(CodeInvalid, "lot %s of %s expires on %s, not %s", cm.Lot, cm.GTIN, lot.Expiry, cm.Expiry)
	}
	if lot.Recalled {
		return reject(CodeInvalid, "lot %s of %s is recalled: commission no more units in it", cm.Lot, cm.GTIN)
	}
	for i, u := range cm.Units {
		if _, err := getUnit(b, cm.GTIN, u); err == nil {
			return reject(CodeConflict, "unit #%d (%x…) of %s is already commissioned: a serial is commissioned once", i, u[:8], cm.GTIN)
		} else if !errors.Is(err, ErrNotFound) {
			return reject(CodeInternal, "%v", err)
		}
	}
	for _, u := range cm.Units {
		unit := supply.Unit{Lot: cm.Lot, Custodian: c.signer.Org, Status: supply.StatusActive, Height: b.Height()}
		if custody != nil { // private: held by the key, by no organization
			unit.Custodian, unit.Custody = "", custody
		}
		if err := setCBOR(b, supplyUnitKey(cm.GTIN, u), unit); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	lot.Units += uint64(len(cm.Units))
	if err := setCBOR(b, supplyLotKey(cm.GTIN, cm.Lot), lot); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// judgedAt is the time a transaction is judged at.
func judgedAt(c *checked) time.Time { return time.Unix(c.now, 0).UTC() }
