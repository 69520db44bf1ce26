package records

import "context"

// TransferAs is transferAs, for the tests of package records_test.
func (s *Service) TransferAs(ctx context.Context, signer Signer, req SupplyTransferRequest) (SupplyTransferResult, error) {
	return s.transferAs(ctx, signer, req)
}
