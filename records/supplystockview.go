package records

import (
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
)

// SupplyStock is an organization's whole stock: of open products as the
// ledger counts it, of private ones as its node knows it.
type SupplyStock struct {
	Open    []ledger.SupplyHolding `json:"open"`
	Private PrivateStock           `json:"private"`
}

// SupplyStock returns caller's organization's stock, for its supply staff.
func (s *Service) SupplyStock(caller *carechain.Principal) (SupplyStock, error) {
	var out SupplyStock
	if !supply.Staff(caller) {
		return out, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain", caller.ID))
	}
	open, err := s.latest().SupplyHoldings(caller.Org, s.now())
	if err != nil {
		return out, fmt.Errorf("stock of %s: %w", caller.Org, err)
	}
	if out.Private, err = s.PrivateStock(caller); err != nil {
		return out, err
	}
	out.Open = open
	return out, nil
}
