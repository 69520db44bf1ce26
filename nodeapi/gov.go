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
	Proposals []GovProposal          `json:"proposals"`
	// Removed are the organizations that left or were voted out.
	Removed []ledger.OrgRemoval `json:"removed"`
	// Upgrades are the approved consensus upgrade plans: the one scheduled,
	// those applied and those replaced.
	Upgrades []ledger.UpgradeState `json:"upgrades"`
}

// GovProposal is a governance proposal and, while it is open, the
// organizations whose approvals count on it and how many carry it (a
// removal's target does not vote on it).
type GovProposal struct {
	ledger.GovProposal
	Voters    []string `json:"voters,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
}

func proposalAt(v *ledger.View, p *ledger.GovProposal) (GovProposal, error) {
	out := GovProposal{GovProposal: *p}
	if p.Status != ledger.ProposalOpen {
		return out, nil
	}
	voters, threshold, err := v.ProposalVoters(p.ID)
	out.Voters, out.Threshold = voters, threshold
	return out, err
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
	g := &Governance{Height: v.Height(), Policy: *st, Voters: nonNil(voters), Threshold: threshold, Proposals: []GovProposal{}}
	for i := range ps {
		p, err := proposalAt(v, &ps[i])
		if err != nil {
			return nil, err
		}
		g.Proposals = append(g.Proposals, p)
	}
	rs, err := v.OrgRemovals()
	if err != nil {
		return nil, err
	}
	g.Removed = nonNil(rs)
	us, err := v.Upgrades()
	g.Upgrades = nonNil(us)
	return g, err
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
	out, err := proposalAt(v, p)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// Governance reads the governance policy, voters and proposals at height (0: latest).
func (c *Client) Governance(ctx context.Context, height int64) (Governance, error) {
	var g Governance
	_, err := c.do(ctx, http.MethodGet, "/v1/governance"+heightQuery(height, ""), nil, &g)
	return g, err
}

// GovProposal reads a governance proposal at height (0: latest).
func (c *Client) GovProposal(ctx context.Context, id string, height int64) (GovProposal, error) {
	var p GovProposal
	_, err := c.do(ctx, http.MethodGet, "/v1/governance/proposals/"+id+heightQuery(height, ""), nil, &p)
	return p, err
}
