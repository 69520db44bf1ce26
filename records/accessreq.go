package records

import (
	"cmp"
	"context"
	"slices"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// AccessRequest is a practitioner's request for access to a patient's
// records, with its reason opened for the patient.
type AccessRequest struct {
	ledger.AccessRequest
	Reason string // "" if none was given or it cannot be opened here
}

// RequestAccess asks patient for access to categories for purposes, signed
// by practitioner; the reason, if any, is sealed to the patient (the ledger
// sees only that there is one). It returns the request's ID.
func (s *Service) RequestAccess(ctx context.Context, practitioner Signer, patient string, categories []string, purposes []consent.Purpose, reason string) (string, error) {
	v := s.latest()
	body := &tx.AccessRequest{Patient: patient, Categories: categories, Purposes: purposes}
	if reason != "" {
		var err error
		if body.SealedReason, err = sealToPatient(v, patient, requestReasonContext, practitioner.ID, []byte(reason)); err != nil {
			return "", err
		}
	}
	out, err := s.submit(ctx, practitioner, tx.TypeAccessRequest, body)
	if err != nil {
		return "", err
	}
	return ledger.AccessRequestID(out.Hash), nil
}

// AccessRequests returns patient's access requests, newest first, their
// reasons opened with the patient's key held on this node (custodial).
func (s *Service) AccessRequests(patient string) ([]AccessRequest, error) {
	key, ok := s.keys.identity(patient)
	if !ok {
		return nil, &DeniedError{Reason: "this node holds no key for " + patient}
	}
	reqs, err := s.latest().AccessRequests(patient)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(reqs, func(a, b ledger.AccessRequest) int { return cmp.Compare(b.Time, a.Time) })
	opener := &sealedOpener{key: key}
	out := make([]AccessRequest, 0, len(reqs))
	for _, r := range reqs {
		ar := AccessRequest{AccessRequest: r}
		if len(r.SealedReason) > 0 {
			if plain, err := opener.open(patient, requestReasonContext, r.Requester, r.SealedReason); err == nil {
				ar.Reason = string(plain)
			}
		}
		out = append(out, ar)
	}
	return out, nil
}

// AnswerAccessRequest closes patient's open request id: granted by the
// patient's grant grantID, or declined (grantID "").
func (s *Service) AnswerAccessRequest(ctx context.Context, patient Signer, patientID, id, grantID string) error {
	body := &tx.AccessAnswer{Patient: patientID, RequestID: id, Answer: tx.AnswerDeclined}
	if grantID != "" {
		body.Answer, body.GrantID = tx.AnswerGranted, grantID
	}
	_, err := s.submit(ctx, patient, tx.TypeAccessAnswer, body)
	return err
}
