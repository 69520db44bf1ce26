package records

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
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

// transferAs does req for signer: SupplyTransfer on its behalf, a
// dispense co-signed with its key (the co-signature a device makes for
// the CLI, made here because this node holds the key).
func (s *Service) transferAs(ctx context.Context, signer Signer, req SupplyTransferRequest) (SupplyTransferResult, error) {
	v := s.latest()
	me, err := v.Principal(signer.ID)
	if err != nil {
		return SupplyTransferResult{}, fmt.Errorf("signer %s: %w", signer.ID, err)
	}
	if req.Action == tx.MoveDispense && len(req.DispenserSigs) == 0 {
		groups, err := s.SupplyTransfer(ctx, me, req)
		if err != nil {
			return groups, err
		}
		if len(groups.Cosign) == 0 {
			return groups, errors.New("the node named no units to co-sign")
		}
		for _, units := range groups.Cosign {
			req.DispenserSigs = append(req.DispenserSigs, ed25519.Sign(signer.Key, supply.DispenseDigest(v.ChainID(), req.GTIN, units, me.ID)))
		}
	}
	return s.SupplyTransfer(ctx, me, req)
}
