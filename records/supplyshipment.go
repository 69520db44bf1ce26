package records

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// namedShipment fills a receive that names a whole shipment (req.Shipment)
// with the serials, or the cases, of the pending shipment of that claim key
// sealed to caller's organization.
func (s *Service) namedShipment(v *ledger.View, caller *carechain.Principal, req *SupplyTransferRequest) error {
	if req.Shipment == "" {
		return nil
	}
	if req.Action != tx.MoveReceive || len(req.Serials)+len(req.SSCCs) > 0 {
		return carechain.E(carechain.KindInvalid, errors.New("a shipment is named only by a receive, instead of its serials or cases"))
	}
	if !isPrivate(v, req.GTIN) {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("product %s is not a registered private product", req.GTIN))
	}
	in, err := s.incoming(v, caller.Org, req.GTIN)
	if err != nil {
		return err
	}
	sh, ok := in[req.Shipment]
	if !ok {
		return fmt.Errorf("%w: no pending shipment of %s under this claim key is sealed to %s", ErrNotHeld, req.GTIN, caller.Org)
	}
	if len(sh.SSCCs) > 0 { // a shipment of cases is received by case
		req.SSCCs = sh.SSCCs
	} else {
		req.Serials = sh.Serials
	}
	req.Shipment = ""
	return nil
}
