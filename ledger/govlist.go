package ledger

import "fmt"

// GovProposals lists every governance proposal, open or carried out, in ID
// order. Proposals are few (each needs a member admin's signature) and
// never deleted.
func (v *View) GovProposals() ([]GovProposal, error) {
	ps, err := scanValues[GovProposal](v, "gov-proposal/")
	if err != nil {
		return nil, fmt.Errorf("governance proposals at height %d: %w", v.height, err)
	}
	return ps, nil
}

// OrgRemovals lists the organizations removed from the consortium (that
// left or were voted out), in ID order.
func (v *View) OrgRemovals() ([]OrgRemoval, error) {
	rs, err := scanValues[OrgRemoval](v, orgRemovedPrefix)
	if err != nil {
		return nil, fmt.Errorf("removed organizations at height %d: %w", v.height, err)
	}
	return rs, nil
}
