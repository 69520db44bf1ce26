package records

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// Enrol enrols patient in study studyID as signer, a site's practitioner
// whose key this node holds: it decrypts the patient's records the signer
// may read for treatment (each read an access event), evaluates the
// criteria of the protocol in force over them here, and submits only the
// outcome (ledger/enrolment.go). An ineligible patient is a
// *study.IneligibleError naming the criterion, and nothing is submitted;
// a patient without a study consent in force is a *DeniedError.
func (s *Service) Enrol(ctx context.Context, signer Signer, studyID, patient string) (*ledger.Enrolment, error) {
	v := s.latest()
	st, err := v.Study(studyID)
	if err != nil {
		return nil, err
	}
	versions, err := v.StudyVersions(studyID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(versions, func(x ledger.StudyVersion) bool { return x.Version == st.Version })
	grants, err := v.Grants(patient)
	if err != nil {
		return nil, err
	}
	g := slices.IndexFunc(grants, func(sg ledger.StoredGrant) bool { return sg.Study == studyID && !sg.Revoked })
	if i < 0 || g < 0 {
		return nil, &DeniedError{Reason: fmt.Sprintf("enrolment in study %s requires the patient's consent to it: %s has none in force", studyID, patient)}
	}
	recs, err := s.ReadPatient(ctx, Query{Requester: signer.ID, Patient: patient, Purpose: consent.PurposeTreatment,
		Keep: func(h *carechain.RecordHead) bool { return !h.Deleted && study.CriteriaReads(h.ResourceType) }})
	if err != nil {
		return nil, err
	}
	resources := make([]json.RawMessage, len(recs))
	for j, r := range recs {
		resources[j] = r.Resource
	}
	if err := versions[i].Protocol.Eligible(study.SubjectOf(resources, s.now())); err != nil {
		return nil, err
	}
	grant := grants[g].ID
	if _, err := s.submit(ctx, signer, tx.TypeStudyEnrol, &tx.StudyEnrol{Study: studyID, Consent: grant, Eligible: true, Version: st.Version}); err != nil {
		return nil, err
	}
	ens, err := s.latest().Enrolments(studyID)
	if err != nil {
		return nil, err
	}
	for _, e := range ens {
		if e.Consent == grant {
			return &e, nil
		}
	}
	return nil, fmt.Errorf("enrolment of consent %s in study %s: committed but not found", grant, studyID)
}
