package tx

import (
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

// TypeRolePolicy sets an organization's role policy (consent.RolePolicy).
const TypeRolePolicy Type = "role.policy"

func init() { register[RolePolicySet](TypeRolePolicy) }

// RolePolicySet replaces an organization's role policy with a new version.
// Signed by an admin of the organization.
type RolePolicySet struct {
	Org    string             `cbor:"1,keyasint" json:"org"`
	Policy consent.RolePolicy `cbor:"2,keyasint" json:"policy"`
}

// Validate implements Body.
func (p *RolePolicySet) Validate() error {
	if err := carechain.ValidateOrgID(p.Org); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := p.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
