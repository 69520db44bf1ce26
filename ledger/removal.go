package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
)

// Leaving and removal. A gov.propose whose Remove names the proposer's own
// organization is that organization leaving: it is carried out in its
// block, with no vote. Any other removal is voted on under the governance
// policy by the member organizations other than the one removed (governance.go,
// vote). Carrying out the removal of an organization:
//
//   - marks it removed (org-removed/<org>, logged); its organization entry
//     stays, so its past signatures and the history it wrote still verify,
//     and its ID is never given to another organization;
//   - revokes each of its principals (admins, staff, nodes) at that height,
//     as identity.revoke does: nobody signs for it again, and its nodes no
//     longer peer (AdmitPeer);
//   - takes its nodes' validators out of the set (power 0);
//   - stops it from reading anything written later: no epoch is wrapped to
//     it again (readersWithout, startEpoch), and every epoch it holds the
//     key of is stale (staleReader), so the next write starts a new epoch
//     without it. What was written before stays readable with the keys it
//     already has: that cannot be taken back.
//
// A removal is refused if it would leave no member organization, or take
// out validators and leave none with power above 0: CometBFT halts on an
// empty validator set.

// OrgRemoval records an organization's removal.
type OrgRemoval struct {
	Org      string `cbor:"1,keyasint" json:"org"`
	Height   int64  `cbor:"2,keyasint" json:"height"`
	Proposal string `cbor:"3,keyasint" json:"proposal"`
	Left     bool   `cbor:"4,keyasint,omitempty" json:"left,omitempty"` // it left (proposed its own removal)
}

const orgRemovedPrefix = "org-removed/"

func orgRemovedKey(org string) string { return orgRemovedPrefix + org }

// orgRemoved reports whether org was removed, and at what height.
func orgRemoved(r reader, org string) (int64, bool, error) {
	var rm OrgRemoval
	if err := getCBOR(r, orgRemovedKey(org), &rm); errors.Is(err, ErrNotFound) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	return rm.Height, true, nil
}

// removedOrgs is the set of removed organizations.
func removedOrgs(r reader) (map[string]bool, error) {
	set := map[string]bool{}
	err := scanKeys(r, orgRemovedPrefix, func(k string) { set[k[len(orgRemovedPrefix):]] = true })
	return set, err
}

// isRemovedReader reports whether reader (a patient or an organization ID)
// is a removed organization.
func isRemovedReader(r reader, reader string) (bool, error) {
	if strings.HasPrefix(reader, carechain.PatientPrefix) {
		return false, nil
	}
	_, removed, err := orgRemoved(r, reader)
	return removed, err
}

// checkNotRemoved refuses a grant or a key for reader, an organization
// removed from the consortium.
func checkNotRemoved(r reader, reader string) *Rejection {
	removed, err := isRemovedReader(r, reader)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if removed {
		return reject(CodeInvalid, "organization %s was removed from the consortium: nothing is granted or sealed to it", reader)
	}
	return nil
}

// checkRemoval refuses to remove an organization that is not a member, the
// last member, or the nodes of the last validators; it returns the
// validators the removal takes out.
func checkRemoval(r reader, org string) ([]Validator, *Rejection) {
	members, err := memberOrgs(r)
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	found := false
	for _, m := range members {
		found = found || m == org
	}
	switch {
	case !found:
		return nil, reject(CodeInvalid, "%q is not a member organization", org)
	case len(members) == 1:
		return nil, reject(CodeInvalid, "%s is the last member organization: the consortium cannot be left empty", org)
	}
	return leaving(r, func(v Validator) bool { return v.Node != "" && carechain.OrgOf(v.Node) == org },
		"the nodes of "+org+" run the only validators: removing it would leave the chain without validators")
}

// leaving returns the recorded validators that match, which are to leave
// the set; refused, with refusal, if no validator with power above 0 would
// be left.
func leaving(r reader, match func(Validator) bool, refusal string) ([]Validator, *Rejection) {
	vs, err := validators(r)
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	var out []Validator
	var left int64
	for _, v := range vs {
		if match(v) {
			out = append(out, v)
		} else {
			left += v.Power
		}
	}
	if len(out) > 0 && left == 0 {
		return nil, reject(CodeInvalid, "%s", refusal)
	}
	return out, nil
}

// removeOrg carries out p, the removal of p.Remove (checked).
func (a *App) removeOrg(b *store.Block, p *GovProposal) *Rejection {
	org := p.Remove
	vs, rej := checkRemoval(b, org)
	if rej != nil {
		return rej
	}
	rm := OrgRemoval{Org: org, Height: b.Height(), Proposal: p.ID, Left: carechain.OrgOf(p.Proposer) == org}
	if err := setLogged(b, orgRemovedKey(org), rm, tlog.KindGovernance, identityLogKey(orgRemovedKey(org), b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	principals, err := scanValues[carechain.Principal](b, principalKey(org+"/"))
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for _, pr := range principals {
		if pr.Status == carechain.StatusRevoked {
			continue
		}
		pr.Status, pr.RevokedAt = carechain.StatusRevoked, b.Height()
		if rej := a.putPrincipal(b, &pr); rej != nil {
			return rej
		}
	}
	for _, v := range vs {
		v.Power = 0
		if err := a.setValidator(b, v, p.ID); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

// OrgRemoved reports whether org was removed from the consortium (it left
// or was voted out) and at what height.
func (v *View) OrgRemoved(org string) (int64, bool, error) {
	h, removed, err := orgRemoved(v, org)
	if err != nil {
		return 0, false, fmt.Errorf("removal of %s at height %d: %w", org, v.height, err)
	}
	return h, removed, nil
}

// OrgRemoval returns the record of org's removal; ErrNotFound if it is a
// member (or unknown).
func (v *View) OrgRemoval(org string) (*OrgRemoval, error) {
	var rm OrgRemoval
	if err := getCBOR(v, orgRemovedKey(org), &rm); err != nil {
		return nil, fmt.Errorf("removal of %s at height %d: %w", org, v.height, err)
	}
	return &rm, nil
}
