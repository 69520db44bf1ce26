package records

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// The receiver's check of a shipment's sender (supply/shipsig.go): a
// pending shipment sealed to the receiver is from its From only if its
// signer is, now (at the height of the view the node reads), active supply
// staff of From, and the signature by the signer's current key verifies
// over the shipment's statement, which names the unit. A signer since
// deactivated, or whose key has rotated, leaves the shipment unauthenticated:
// the receiver asks the shipper to ship again.

// pendingShipment is the pending shipment of private unit u of gtin sealed
// to org, nil if there is none.
func (s *Service) pendingShipment(v *ledger.View, org, gtin string, u *supply.Unit) (*supply.Shipment, error) {
	if u.Status != supply.StatusInTransit {
		return nil, nil
	}
	sh, ok, err := s.incomingOf(v, org, gtin, u.Claim)
	if err != nil || !ok {
		return nil, err
	}
	return &sh, nil
}

// shipSigner checks that shipment sh, under claim key claim, is signed by
// active supply staff of sh.From over a statement naming unit c, and
// returns the signer; else an error wrapping supply.ErrUnsigned.
func (s *Service) shipSigner(v *ledger.View, sh *supply.Shipment, claim, c []byte) (*carechain.Principal, error) {
	if sh.Signer == "" {
		return nil, fmt.Errorf("%w: the shipment is not signed", supply.ErrUnsigned)
	}
	p, err := v.Principal(sh.Signer)
	if err != nil || p.Org != sh.From || !supply.Staff(p) {
		return nil, fmt.Errorf("%w: %s is not active supply staff of %s", supply.ErrUnsigned, sh.Signer, sh.From)
	}
	if !s.custody.statementVerified(p.PublicKey, v.ChainID(), sh, claim) { // checked once a statement and key
		if !ed25519.Verify(p.PublicKey, supply.ShipDigest(v.ChainID(), sh.GTIN, claim, sh.From, sh.To, sh.Lots, sh.Units, sh.Signer), sh.Sig) {
			return nil, fmt.Errorf("%w: the signature of %s does not verify", supply.ErrUnsigned, sh.Signer)
		}
		s.custody.statementChecked(p.PublicKey, v.ChainID(), sh, claim)
	}
	if !slices.ContainsFunc(sh.Units, func(u []byte) bool { return bytes.Equal(u, c) }) {
		return nil, fmt.Errorf("%w: the signed statement does not name this unit", supply.ErrUnsigned)
	}
	return p, nil
}

// proveShipment makes b, the bundle of unit c of gtin, a bundle of version
// 2 if the product is private, adding the shipper's signed statement when
// the unit is in a pending shipment sealed to org whose sender
// authenticates (proof.SupplyBundle.Shipment).
func (s *Service) proveShipment(v *ledger.View, org, gtin string, c []byte, b *proof.SupplyBundle) error {
	p, err := v.SupplyProduct(gtin)
	if err != nil || !p.Private || c == nil {
		return nil // the bundle proves the product unregistered or public
	}
	b.Version = 2
	u, _, err := v.SupplyUnit(gtin, c)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	sh, err := s.pendingShipment(v, org, gtin, u)
	if err != nil || sh == nil {
		return err
	}
	signer, err := s.shipSigner(v, sh, u.Claim, c)
	if errors.Is(err, supply.ErrUnsigned) {
		return nil // of unknown origin: the bundle carries no statement
	} else if err != nil {
		return err
	}
	st := sh.Statement(u.Claim, signer.PublicKey)
	b.Shipment = &st
	return nil
}
