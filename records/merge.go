package records

import (
	"context"
	"errors"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Merging a duplicate patient (ledger/merge.go): a registration clerk or
// admin proposes it, the person answers with each identity's key.

// PatientLinks are a patient's completed merges, served as FHIR
// Patient.link on their Patient resource.
type PatientLinks struct {
	ReplacedBy string   // the patient that replaces this one, or ""
	Replaces   []string // the duplicates this patient replaces
}

// ProposeMerge proposes, signed by a registration clerk or admin, that
// patient source is a duplicate of target, which survives.
func (s *Service) ProposeMerge(ctx context.Context, clerk Signer, source, target string) error {
	_, err := s.submit(ctx, clerk, tx.TypeMerge, &tx.Merge{Source: source, Target: target})
	return err
}

// AnswerMerge is the person's answer to the proposed merge of source,
// signed by the source or the target identity: the target accepts first,
// then the source approves, delivering its current keys to the target;
// either may decline instead. It reports the merge's state after it.
func (s *Service) AnswerMerge(ctx context.Context, patient Signer, source string, decline bool) (string, error) {
	v := s.latest()
	body := &tx.MergeApprove{Source: source, Decline: decline}
	// Without a proposal, the ledger gives the reason.
	if m, err := v.Merge(source); err == nil && patient.ID == m.Source && !decline && m.Status == ledger.MergeAccepted {
		cats, err := v.Categories()
		if err != nil {
			return "", err
		}
		if body.Wraps, err = s.deliver(v, m.Source, m.Source, m.Target, cats); err != nil {
			return "", err
		}
	}
	if _, err := s.submit(ctx, patient, tx.TypeMergeApprove, body); err != nil {
		return "", err
	}
	m, err := s.latest().Merge(source)
	if errors.Is(err, ledger.ErrNotFound) {
		return "declined", nil
	} else if err != nil {
		return "", err
	}
	if m.Status == ledger.MergeDone {
		s.indexNow(ledger.Changes{Patients: []string{m.Source, m.Target}})
	}
	return m.Status, nil
}

// patientLinks are the links of the patient of a Patient record version.
func patientLinks(v *ledger.View, patient string) (PatientLinks, error) {
	by, replaces, err := v.Links(patient)
	return PatientLinks{ReplacedBy: by, Replaces: replaces}, err
}
