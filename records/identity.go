package records

import (
	"context"

	"github.com/carechain/carechain/tx"
)

// Register submits an identity.register signed by signer (an admin
// registering staff or a patient, a registration clerk a patient): the
// transaction `carechain tx register` builds, judged by the same ledger
// rules.
func (s *Service) Register(ctx context.Context, signer Signer, r tx.Register) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := s.submit(ctx, signer, tx.TypeRegister, &r)
	return err
}

// RevokeKey submits an identity.revoke signed by signer (the principal
// itself, or an admin of a member of staff's organization), as `carechain
// tx revoke` does.
func (s *Service) RevokeKey(ctx context.Context, signer Signer, r tx.Revoke) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := s.submit(ctx, signer, tx.TypeRevoke, &r)
	return err
}

// SetRoles submits an identity.roles signed by signer (an admin of the
// practitioner's organization), as `carechain tx roles` does.
func (s *Service) SetRoles(ctx context.Context, signer Signer, r tx.SetRoles) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := s.submit(ctx, signer, tx.TypeSetRoles, &r)
	return err
}
