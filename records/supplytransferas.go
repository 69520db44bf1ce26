package records

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/carechain/carechain/tx"
)

// transferAs carries out req for signer, a member whose key this node
// holds (the portal, the demo, EPCIS capture): a dispense or ship asks for
// the groups of units, signs each with signer's key (CosignDigest: the
// dispenser's co-signature, the shipper's statement) and submits them.
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
	chainID := s.latest().ChainID()
	for _, g := range plan.Cosign {
		req.Sigs = append(req.Sigs, ed25519.Sign(signer.Key, cosignDigest(chainID, me, req, g)))
	}
	req.Nonce = plan.Nonce
	return s.SupplyTransfer(ctx, me, req)
}
