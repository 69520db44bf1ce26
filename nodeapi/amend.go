package nodeapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// ProposalContent is the body of GET /v1/proposals/{id}/content.
type ProposalContent struct {
	Proposal    *ledger.Proposal `json:"proposal"`
	Resource    json.RawMessage  `json:"resource"` // the proposed FHIR resource, for the reviewer
	Reason      string           `json:"reason"`
	CloseReason string           `json:"close_reason,omitempty"`
}

// proposals serves GET /v1/proposals (signed): the proposals the signer may
// review (ledger.Proposal.Reviewable); with ?waiting=true only those the
// signer can approve now.
func (s *server) proposals(w http.ResponseWriter, r *http.Request) {
	me, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	var ps []ledger.Proposal
	var err error
	switch r.URL.Query().Get("waiting") {
	case "true":
		ps, err = v.Waiting(me, time.Now().Unix())
	case "", "false":
		ps, err = v.Proposals()
	default:
		err = carechain.E(carechain.KindMalformed, errors.New("waiting must be true or false"))
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	ps = slices.DeleteFunc(ps, func(p ledger.Proposal) bool { return !p.Reviewable(me) })
	writeJSON(w, http.StatusOK, nonNil(ps))
}

// proposal serves GET /v1/proposals/{id} (signed) to those who may review
// it; to anyone else it is absent.
func (s *server) proposal(w http.ResponseWriter, r *http.Request) {
	me, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	p, err := v.Proposal(r.PathValue("id"))
	if err == nil && !p.Reviewable(me) {
		err = errProposalNotFound
	}
	if errors.Is(err, ledger.ErrNotFound) {
		err = errProposalNotFound
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// errProposalNotFound is the one answer for a proposal that does not exist
// and one the caller may not see.
var errProposalNotFound = carechain.NewError(carechain.KindNotFound, "proposal not found")

// proposalContent decrypts a proposed version for a reviewer (signed request).
func (s *server) proposalContent(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if s.opts.Records == nil {
		s.fail(w, http.StatusServiceUnavailable, errors.New("records are off on this node"))
		return
	}
	rv, err := s.opts.Records.ReadProposal(r.Context(), p.ID, r.PathValue("id"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ProposalContent{Proposal: rv.Proposal, Resource: rv.Resource, Reason: rv.Reason, CloseReason: rv.CloseReason})
}
