package records

import (
	"context"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// SetRolePolicy submits a role.policy signed by signer (an admin of
// p.Org), as `carechain role-policy set` does; the ledger judges it.
func (s *Service) SetRolePolicy(ctx context.Context, signer Signer, p tx.RolePolicySet) error {
	if err := p.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	_, err := s.submit(ctx, signer, tx.TypeRolePolicy, &p)
	return err
}

// SetApprovalPolicy submits an amend.policy signed by signer (an admin of
// p.Org), as `carechain amend policy` does; the ledger judges it.
func (s *Service) SetApprovalPolicy(ctx context.Context, signer Signer, p tx.AmendPolicy) error {
	if err := p.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	_, err := s.submit(ctx, signer, tx.TypeAmendPolicy, &p)
	return err
}
