package records

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Transfers of private units by a member whose key this node holds (the
// portal's pages, EPCIS capture, a FHIR MedicationDispense, the demo): the
// same acts as for any product (SupplyMove, SupplyFlag, SupplyCapture)
// take the private path by themselves, so a user never needs to know which
// products are private.

// isPrivate reports whether gtin is a registered private product in v.
func isPrivate(v *ledger.View, gtin string) bool {
	p, err := v.SupplyProduct(gtin)
	return err == nil && p.Private
}

// transferAs carries out req for signer: a dispense or ship asks for the
// groups of units, signs each with signer's key (CosignDigest: the
// dispenser's co-signature, the shipper's statement; what a device signs
// for the CLI, made here because this node holds the key) and submits
// them.
func (s *Service) transferAs(ctx context.Context, signer Signer, req SupplyTransferRequest) (SupplyTransferResult, error) {
	me, err := s.latest().Principal(signer.ID)
	if err != nil {
		return SupplyTransferResult{}, fmt.Errorf("signer %s: %w", signer.ID, err)
	}
	if req.Action != tx.MoveDispense && req.Action != tx.MoveShip {
		return s.SupplyTransfer(ctx, me, req)
	}
	req.Sigs, req.Nonce = nil, nil
	plan, err := s.SupplyTransfer(ctx, me, req)
	if err != nil {
		return plan, err
	}
	if len(plan.Cosign) == 0 {
		return plan, errors.New("the node named no units to sign for")
	}
	chainID := s.latest().ChainID()
	for _, g := range plan.Cosign {
		req.Sigs = append(req.Sigs, ed25519.Sign(signer.Key, cosignDigest(chainID, me, req, g)))
	}
	req.Nonce = plan.Nonce
	return s.SupplyTransfer(ctx, me, req)
}
