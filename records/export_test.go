package records

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TransferAs is transferAs, for the tests of package records_test.
func (s *Service) TransferAs(ctx context.Context, signer Signer, req SupplyTransferRequest) (SupplyTransferResult, error) {
	return s.transferAs(ctx, signer, req)
}

// ForgeShip ships req's units for shipper's organization as SupplyTransfer
// does, but with a statement that says it is from from, signed by
// stSigner (an empty ID: unsigned): what a node that does not follow the
// rules could seal.
func (s *Service) ForgeShip(ctx context.Context, shipper Signer, from string, stSigner Signer, req SupplyTransferRequest) error {
	v := s.latest()
	me, err := v.Principal(shipper.ID)
	if err != nil {
		return err
	}
	k, err := s.productKey(v, me, req.GTIN)
	if err != nil {
		return err
	}
	groups, err := s.custodyGroups(v, me.Org, req, k)
	if err != nil {
		return err
	}
	req.Nonce = make([]byte, claimNonceSize)
	rand.Read(req.Nonce)
	if err := s.claimKeys(me.Org, req, groups); err != nil {
		return err
	}
	for _, g := range groups {
		claim := g.claim.Public().(ed25519.PublicKey)
		sh := supply.Shipment{From: from, To: req.To, GTIN: req.GTIN, Lots: g.lots, Serials: g.serials, ProductKey: k, ClaimSeed: g.claim.Seed(), Units: g.units}
		if stSigner.ID != "" {
			sh.Signer = stSigner.ID
			sh.Sig = ed25519.Sign(stSigner.Key, supply.ShipDigest(v.ChainID(), req.GTIN, claim, from, req.To, g.lots, g.units, stSigner.ID))
		}
		t := &tx.SupplyTransfer{Action: tx.MoveShip, GTIN: req.GTIN, Units: g.units, Claim: claim}
		if t.Details, err = sealShipment(v, sh, claim); err != nil {
			return err
		}
		if _, err := s.submit(ctx, Signer{ID: supply.CustodySigner(g.key.Public().(ed25519.PublicKey)), Key: g.key}, tx.TypeSupplyTransfer, t); err != nil {
			return err
		}
	}
	return nil
}
