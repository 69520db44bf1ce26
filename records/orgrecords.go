package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Organization records (tx.OrgResourceTypes) name no patient: they are
// signed and written in plain, with no epoch, no seal and no access event.
// The ledger decides who may write them (ledger/orgrecords.go).

// OrgPut is a write of an organization record.
type OrgPut struct {
	ResourceType, ID string
	// IfMatch, if not 0, is the version the write replaces; a record at
	// another version refuses it with ErrPrecondition. Without it the write
	// follows the latest version (1 for a new record).
	IfMatch uint64
	// Resource is the resource's canonical FHIR JSON; none for a deletion.
	Resource []byte
	Deleted  bool
}

// maxOrgRetries bounds the retries of a write that another writer of the
// same record overtook (without If-Match).
const maxOrgRetries = 3

// PutOrgRecord writes p, signed by author, and returns the version written.
func (s *Service) PutOrgRecord(ctx context.Context, author Signer, p OrgPut) (PutResult, error) {
	for attempt := 0; ; attempt++ {
		version := p.IfMatch + 1
		if p.IfMatch == 0 {
			head, err := s.latest().OrgRecord(p.ResourceType, p.ID)
			switch {
			case errors.Is(err, ledger.ErrNotFound):
				version = 1
			case err != nil:
				return PutResult{}, err
			default:
				version = head.Latest + 1
			}
		}
		body := &tx.OrgRecordPut{ResourceType: p.ResourceType, ID: p.ID, Version: version, Resource: p.Resource, Deleted: p.Deleted}
		if err := body.Validate(); err != nil { // what no ledger state decides: a clear 400, nothing signed
			return PutResult{}, carechain.E(carechain.KindMalformed, err)
		}
		out, err := s.submit(ctx, author, tx.TypeOrgRecordPut, body)
		switch {
		case rejectedWith(err, ledger.CodeStaleVersion) && p.IfMatch != 0:
			return PutResult{}, fmt.Errorf("%w: %s/%s is no longer at version %d: %w", ErrPrecondition, p.ResourceType, p.ID, p.IfMatch, err)
		case (rejectedWith(err, ledger.CodeStaleVersion) || rejectedWith(err, ledger.CodeBadNonce)) && attempt < maxOrgRetries:
			continue
		case err != nil:
			return PutResult{}, err
		}
		return PutResult{RecordID: p.ID, Version: version, Height: out.Height}, nil
	}
}
