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
// of it is a proposal (an approval policy covers it).
func approvalNeeded(c caller, id string) (*carechain.RecordHead, bool, error) {
	head, err := c.view.Record(id)
	if err != nil {
		return nil, false, err
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
