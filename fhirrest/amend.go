package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// An update of a record under an approval policy (ledger/amend.go) is a
// proposal, not a write: PUT /fhir/{type}/{id} answers 202 Accepted with
// the FHIR Task that tracks it, Location /fhir/Task/{proposal id}. The new
// version is committed when the policy's signers approve (`carechain amend
// approve`); the Task's status follows it. The header
//
//	X-Amendment-Reason: <why the record is corrected>
//
// is the proposer's reason (empty if absent), sealed like the record for
// its reviewers. A proposal made here stays open for proposalTTL.
const amendReasonHeader = "X-Amendment-Reason"

// proposalTTL is how long a proposal made over FHIR stays open.
const proposalTTL = 7 * 24 * time.Hour

// approvalNeeded returns the head of existing record id and whether an edit
// of it is a proposal (an approval policy covers it). An edit of a record
// of a locked study visit (ledger/studyvisit.go) is a proposal when it
// gives its reason (amending); without one it goes to the ledger, which
// refuses it (409) naming the visit.
func approvalNeeded(c caller, id string, amending bool) (*carechain.RecordHead, bool, error) {
	head, err := c.view.Record(id)
	if err != nil {
		return nil, false, err
	}
	if _, err := c.view.LockedVisit(id); err == nil || !errors.Is(err, ledger.ErrNotFound) {
		return head, err == nil && amending, err
	}
	_, err = c.view.ApprovalPolicy(head)
	if errors.Is(err, ledger.ErrNotFound) {
		return head, false, nil
	}
	return head, err == nil, err
}

// propose proposes it as the next version of the record head, and answers
// 202 with the proposal's Task. A version of another patient or category
// is refused, as the ledger refuses it in a direct write; so is an If-Match
// that is not the record's latest version.
func (s *server) propose(w http.ResponseWriter, r *http.Request, c caller, head *carechain.RecordHead, it records.PutItem) {
	switch {
	case it.Patient != head.Patient || it.Category != head.Category:
		s.failErr(w, carechain.E(carechain.KindConflict, fmt.Errorf("%s is a %s of another patient or category", head.RecordID, head.ResourceType)))
		return
	case it.IfMatch != 0 && it.IfMatch != head.Latest:
		s.failErr(w, fmt.Errorf("%w: %s is at version %d", records.ErrPrecondition, head.RecordID, head.Latest))
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	id, err := s.Records.Propose(r.Context(), signer, it.RecordID, it.Parsed.Canonical(), r.Header.Get(amendReasonHeader), proposalTTL)
	if err != nil {
		s.failErr(w, err)
		return
	}
	p, err := s.App.Latest().Proposal(id) // after it committed
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", s.abs("/fhir/Task/"+id))
	writeFHIR(w, http.StatusAccepted, s.task(p))
}

// A proposal's reviewers sign through its Task, with their key on this node
// (a custodial patient after passphrase login, a practitioner):
//
//	POST /fhir/Task/{id}/$approve   no body, or an empty Parameters
//	POST /fhir/Task/{id}/$reject    Parameters reason (valueString), optional
//
// Each answers 200 with the Task as it stands after the signature
// committed. A proposal the caller may not review is 404, as if absent; a
// signature the policy does not ask of the caller is the ledger's 422.
func (s *server) reviewTask(reject bool) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		id := r.PathValue("id")
		p, err := c.view.Proposal(id)
		if err == nil && !p.Reviewable(c.principal) {
			err = fmt.Errorf("Task/%s: %w", id, ledger.ErrNotFound)
		}
		if err != nil {
			s.failErr(w, err)
			return
		}
		var reason string
		if r.ContentLength != 0 {
			ps, err := readParameters(w, r)
			if err == nil {
				reason, err = reasonOf(ps, reject)
			}
			if err != nil {
				s.failErr(w, err)
				return
			}
		}
		signer, ok := s.signer(w, c)
		if !ok {
			return
		}
		if reject {
			err = s.Records.Reject(r.Context(), signer, id, reason)
		} else {
			err = s.Records.Approve(r.Context(), signer, id)
		}
		if err == nil {
			p, err = s.App.Latest().Proposal(id)
		}
		if err != nil {
			s.failErr(w, err)
			return
		}
		writeFHIR(w, http.StatusOK, s.task(p))
	}
}

// reasonOf is the optional reason parameter of $reject ($approve takes none).
func reasonOf(ps []parameter, reject bool) (string, error) {
	switch {
	case len(ps) == 0:
		return "", nil
	case !reject || len(ps) > 1 || ps[0].Name != "reason" || ps[0].ValueString == nil:
		return "", badParameter(ps[0].Name, errors.New("$approve takes no parameters; $reject one reason (valueString)"))
	}
	return *ps[0].ValueString, nil
}
