package consent

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain"
)

// OrderRule is a patient's rule for orders (ServiceRequests) to another
// organization: whether an open order lets its performer read what it
// names and write its results (ledger/orders.go). With no rule set, every
// organization of the consortium may be given that access (OrdersToAll).
type OrderRule struct {
	Allow OrderAllow `cbor:"1,keyasint" json:"allow"`
	// Orgs are the organizations Allow names: those admitted (only) or
	// excluded (except).
	Orgs []string `cbor:"2,keyasint,omitempty" json:"orgs,omitempty"`
}

// OrderAllow says which performers an OrderRule admits.
type OrderAllow string

// What an OrderRule admits.
const (
	OrdersToAll    OrderAllow = "all"    // every organization
	OrdersToNone   OrderAllow = "none"   // none: no order gives access
	OrdersToOnly   OrderAllow = "only"   // the organizations in Orgs
	OrdersToExcept OrderAllow = "except" // every organization but those in Orgs
)

// Validate checks r on its own.
func (r OrderRule) Validate() error {
	switch r.Allow {
	case OrdersToAll, OrdersToNone:
		if len(r.Orgs) > 0 {
			return fmt.Errorf("order rule %q names no organizations", r.Allow)
		}
	case OrdersToOnly, OrdersToExcept:
		if len(r.Orgs) == 0 {
			return fmt.Errorf("order rule %q names its organizations", r.Allow)
		}
	default:
		return fmt.Errorf("order rule: allow %q, want all, none, only or except", r.Allow)
	}
	if len(r.Orgs) > maxListLen {
		return fmt.Errorf("order rule: %d organizations, more than %d", len(r.Orgs), maxListLen)
	}
	for i, o := range r.Orgs {
		if err := carechain.ValidateOrgID(o); err != nil {
			return fmt.Errorf("order rule: %w", err)
		}
		if slices.Contains(r.Orgs[:i], o) {
			return fmt.Errorf("order rule: %s named twice", o)
		}
	}
	return nil
}

// Admits reports whether an order to org may give it access.
func (r OrderRule) Admits(org string) bool {
	switch r.Allow {
	case OrdersToAll:
		return true
	case OrdersToOnly:
		return slices.Contains(r.Orgs, org)
	case OrdersToExcept:
		return !slices.Contains(r.Orgs, org)
	}
	return false
}

// String says r in words, for refusals and pages.
func (r OrderRule) String() string {
	switch r.Allow {
	case OrdersToAll:
		return "orders to any organization give it access"
	case OrdersToOnly:
		return fmt.Sprintf("only orders to %v give access", r.Orgs)
	case OrdersToExcept:
		return fmt.Sprintf("orders to any organization but %v give access", r.Orgs)
	}
	return "no order gives access"
}
