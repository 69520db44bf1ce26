package nodeapi

import (
	"context"
	"net/http"

	"github.com/carechain/carechain/ledger"
)

// Governance is the body of GET /v1/governance: the policy in force, the
// organizations whose approvals count under it and how many carry a
// proposal, and every proposal. Membership is consortium business, not
// health data: anyone may read it, as they read the organizations.
type Governance struct {
	Height    int64                  `json:"height"`
	Policy    ledger.GovernanceState `json:"policy"`
	Voters    []string               `json:"voters"`
	Threshold int                    `json:"threshold"`
	Proposals []ledger.GovProposal   `json:"proposals"`
}

func (s *server) governance(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	g, err := governanceAt(v)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func governanceAt(v *ledger.View) (*Governance, error) {
	st, err := v.Governance()
	if err != nil {
		return nil, err
	}
	voters, threshold, err := v.Voters()
	if err != nil {
		return nil, err
	}
	ps, err := v.GovProposals()
	if err != nil {
		return nil, err
	}
	return &Governance{Height: v.Height(), Policy: *st, Voters: nonNil(voters), Threshold: threshold, Proposals: nonNil(ps)}, nil
}

func (s *server) govProposal(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	p, err := v.GovProposal(r.PathValue("id"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// Governance reads the governance policy, voters and proposals at height (0: latest).
func (c *Client) Governance(ctx context.Context, height int64) (Governance, error) {
	var g Governance
	_, err := c.do(ctx, http.MethodGet, "/v1/governance"+heightQuery(height, ""), nil, &g)
	return g, err
}

// GovProposal reads a governance proposal at height (0: latest).
func (c *Client) GovProposal(ctx context.Context, id string, height int64) (ledger.GovProposal, error) {
	var p ledger.GovProposal
	_, err := c.do(ctx, http.MethodGet, "/v1/governance/proposals/"+id+heightQuery(height, ""), nil, &p)
	return p, err
}
