package records

import (
	"context"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// IssueCredential submits a credential.issue signed by signer (an admin
// or credentialing officer of a licensing body or hospital), as
// `carechain credential issue` does; the ledger judges it.
func (s *Service) IssueCredential(ctx context.Context, signer Signer, c tx.CredentialIssue) error {
	if err := c.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	_, err := s.submit(ctx, signer, tx.TypeCredentialIssue, &c)
	return err
}

// RevokeCredential submits a credential.revoke signed by signer, of the
// issuing organization, as `carechain credential revoke` does.
func (s *Service) RevokeCredential(ctx context.Context, signer Signer, c tx.CredentialRevoke) error {
	if err := c.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	_, err := s.submit(ctx, signer, tx.TypeCredentialRevoke, &c)
	return err
}
