package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// What a caller learns of a record it may not read: nothing. Visible and
// MayProve answer ErrNotVisible both for what does not exist and for what
// the caller may not see, so the answer does not tell them apart; a refusal
// still goes into the patient's access log. Who may see a record is who may
// read it (Service.allowed, the rule Read applies).

// ErrNotVisible is a record or log entry that does not exist or that the
// requester may not see: the two are one answer.
var ErrNotVisible = carechain.NewError(carechain.KindNotFound, "not found")

// ActionProof is the access-log action of a proof fetch.
const ActionProof = "proof"

// Visible returns the head of record recordID if requester may see it: the
// record exists and requester may read its latest version for purpose.
// Otherwise it returns ErrNotVisible, and logs a refusal in the patient's
// access log as an attempt of action. Callers ask it before anything else
// that depends on the record (its type, versions, patient).
func (s *Service) Visible(ctx context.Context, requester, recordID string, purpose consent.Purpose, action consent.Action) (*carechain.RecordHead, error) {
	v := s.latest()
	head, err := v.Record(recordID)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, ErrNotVisible
	}
	if err != nil {
		return nil, err
	}
	rv, err := v.RecordVersion(recordID, head.Latest)
	if err != nil {
		return nil, err
	}
	d, _, err := s.allowed(v, requester, rv, purpose)
	var denied *DeniedError
	if errors.As(err, &denied) {
		s.refused(ctx, v, versionEvent(requester, d.org, rv, purpose, string(action)), denied.Reason)
		return nil, ErrNotVisible
	}
	if err != nil {
		return nil, err
	}
	return head, nil
}

// versionEvent is an access event of requester on rv, without its decision.
func versionEvent(requester, org string, rv *carechain.RecordVersion, purpose consent.Purpose, action string) Event {
	return Event{Requester: requester, RequesterOrg: org, Patient: rv.Patient, RecordID: rv.RecordID, Version: rv.Version,
		Category: rv.Category, ResourceType: rv.ResourceType, Purpose: string(purpose), Action: action}
}

// refused logs ev as a refusal for reason. Its error is not returned: a
// refusal serves nothing, and answering it differently when the log is down
// would tell the caller the record exists (record logs the failure).
func (s *Service) refused(ctx context.Context, v *ledger.View, ev Event, reason string) {
	ev.Decision, ev.Reason = carechain.DecisionDeny, reason
	_ = s.record(ctx, v, ev)
}

// ProofRequest asks for the proof of the log entry (Kind, Key), a tlog kind
// and log key.
type ProofRequest struct {
	// Requester is the principal who signed the request; "" if unsigned.
	Requester string
	// Source is the network address of an unsigned request, for the log.
	Source    string
	Kind, Key string
	// Purpose is the purpose a reader of a record reads it for.
	Purpose consent.Purpose
}

// MayProve decides whether the requester may have the proof of a log entry:
//   - an entry that concerns no patient (a change of a staff, admin or
//     node identity): anyone, as those principals are public (/v1/principals);
//   - a record version: the patient, whoever may read the version for the
//     purpose (the rule Read applies), and an auditor;
//   - a consent, an access event or a patient's identity change: the
//     patient and an auditor.
//
// An auditor is an active practitioner with carechain.RoleAuditor, of any
// organization. Every decision on an entry that concerns a patient is in
// the patient's access log (action "proof"); an allowed one is served only
// once its event is journaled. Absent entries and refusals are both
// ErrNotVisible.
func (s *Service) MayProve(ctx context.Context, q ProofRequest) error {
	v := s.latest()
	subj, err := v.LogEntrySubject(q.Kind, q.Key)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return ErrNotVisible
	case err != nil:
		return err
	case subj.Patient == "":
		return nil
	case q.Requester == "":
		if subj.Version != nil {
			s.RecordRefused("(unsigned)", q.Source, subj.Version.RecordID, ActionProof, "unsigned proof request")
		}
		return ErrNotVisible
	}
	ev := Event{Requester: q.Requester, Patient: subj.Patient, Purpose: string(q.Purpose), Action: ActionProof}
	if subj.Version != nil {
		ev = versionEvent(q.Requester, "", subj.Version, q.Purpose, ActionProof)
	}
	reason, err := s.proofReason(v, q, subj)
	if p, perr := v.Principal(q.Requester); perr == nil {
		ev.RequesterOrg = p.Org
	}
	var denied *DeniedError
	if errors.As(err, &denied) {
		s.refused(ctx, v, ev, denied.Reason)
		return ErrNotVisible
	}
	if err != nil {
		return err
	}
	ev.Decision, ev.Reason = carechain.DecisionAllow, reason
	return s.record(ctx, v, ev) // logged before served
}

// proofReason is why the requester may have the proof of an entry about
// subj, or a *DeniedError.
func (s *Service) proofReason(v *ledger.View, q ProofRequest, subj ledger.EntrySubject) (string, error) {
	p, err := v.Principal(q.Requester)
	switch {
	case err != nil || p.Status != carechain.StatusActive:
		return "", &DeniedError{Reason: fmt.Sprintf("%s is not an active principal", q.Requester)}
	case p.ID == subj.Patient:
		return "the patient's own entry", nil
	case p.Kind == carechain.KindPractitioner && p.HasRole(carechain.RoleAuditor):
		return "auditor", nil
	case subj.Version == nil:
		return "", &DeniedError{Reason: "only the patient and auditors have proofs of consent, identity and access-log entries"}
	}
	d, _, err := s.allowed(v, q.Requester, subj.Version, q.Purpose)
	if err != nil {
		return "", err
	}
	return "may read the record: " + d.reason, nil
}
