package nodeapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/carechain/carechain/ledger"
)

// ProposalContent is the body of GET /v1/proposals/{id}/content.
type ProposalContent struct {
	Proposal    *ledger.Proposal `json:"proposal"`
	Resource    json.RawMessage  `json:"resource"` // the proposed FHIR resource, for the reviewer
	Reason      string           `json:"reason"`
	CloseReason string           `json:"close_reason,omitempty"`
}

func (s *server) proposals(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	if who := r.URL.Query().Get("waiting-for"); who != "" {
		p, err := v.Principal(who)
		if err != nil {
			s.queryFail(w, err)
			return
		}
		ps, err := v.Waiting(p)
		if err != nil {
			s.queryFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, nonNil(ps))
		return
	}
	ps, err := v.Proposals()
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(ps))
}

func (s *server) proposal(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	p, err := v.Proposal(r.PathValue("id"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

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
