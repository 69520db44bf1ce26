package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Governance: the member organizations vote on who joins (join.go), who is
// removed (removal.go; an organization also leaves on its own), the
// validator set (validators.go) and the governance policy itself. An admin
// of a member organization proposes (gov.propose), which counts as its
// organization's approval; admins of the voting organizations approve
// (gov.approve), one approval per organization. The approval that meets
// the policy carries the proposal out in its own block; a proposal not
// carried out by its expiry stays open forever, unapprovable.
//
// Votes are counted under the policy and the membership in force when each
// approval is judged, not when the proposal opened: an approval from an
// organization that no longer votes does not count, and a policy change
// applies at once to proposals still open.
//
// Chains that began before governance have neither the policy key nor
// proposals: the policy is then the default (tx.GovernancePolicy's zero
// value), and nothing changes until a governance transaction, a type older
// carechains refused, commits.

// GovernanceState is the governance policy in force. Version 0 is the
// default policy of a genesis that declares none.
type GovernanceState struct {
	Policy  tx.GovernancePolicy `cbor:"1,keyasint" json:"policy"`
	Version uint32              `cbor:"2,keyasint" json:"version"`
	Height  int64               `cbor:"3,keyasint" json:"height"`
}

// GovApproval is one organization's approval of a governance proposal.
type GovApproval struct {
	Org    string `cbor:"1,keyasint" json:"org"`
	Signer string `cbor:"2,keyasint" json:"signer"`
	Height int64  `cbor:"3,keyasint" json:"height"`
}

// GovProposal is a governance proposal and its approvals so far.
type GovProposal struct {
	ID        string               `cbor:"1,keyasint" json:"id"`
	Join      *tx.OrgApplication   `cbor:"2,keyasint,omitempty" json:"join,omitempty"`
	Policy    *tx.GovernancePolicy `cbor:"3,keyasint,omitempty" json:"policy,omitempty"`
	Proposer  string               `cbor:"4,keyasint" json:"proposer"`
	Opened    int64                `cbor:"5,keyasint" json:"opened"`  // height
	Expires   int64                `cbor:"6,keyasint" json:"expires"` // block time, unix seconds
	Approvals []GovApproval        `cbor:"7,keyasint" json:"approvals"`
	Status    string               `cbor:"8,keyasint" json:"status"` // ProposalOpen or ProposalCommitted
	Closed    int64                `cbor:"9,keyasint,omitempty" json:"closed,omitempty"`
	// Remove is the organization the proposal removes (removal.go).
	Remove string `cbor:"10,keyasint,omitempty" json:"remove,omitempty"`
	// Validator is the validator change the proposal makes (validators.go).
	Validator *tx.ValidatorChange `cbor:"11,keyasint,omitempty" json:"validator,omitempty"`
	// Upgrade is the consensus upgrade the proposal schedules (upgrade.go).
	Upgrade *tx.UpgradePlan `cbor:"12,keyasint,omitempty" json:"upgrade,omitempty"`
}

func init() {
	handle(tx.TypeGovPropose, (*App).applyGovPropose)
	handle(tx.TypeGovApprove, (*App).applyGovApprove)
}

const governanceKey = "param/governance"

func govProposalKey(id string) string { return "gov-proposal/" + id }

// GovProposalID is the ID the ledger gives the proposal of the gov.propose
// transaction with hash h.
func GovProposalID(h [32]byte) string { return "gov-" + hex.EncodeToString(h[:6]) }

// governance is the policy in force: version 0, the default, if none was set.
func governance(r reader) (*GovernanceState, error) {
	var st GovernanceState
	if err := getCBOR(r, governanceKey, &st); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return &st, nil
}

// putGovernance stores the next version of the governance policy.
func putGovernance(b *store.Block, p tx.GovernancePolicy) error {
	prev, err := governance(b)
	if err != nil {
		return err
	}
	st := GovernanceState{Policy: p, Version: prev.Version + 1, Height: b.Height()}
	return setLogged(b, governanceKey, st, tlog.KindGovernance, fmt.Sprintf("policy@v%d", st.Version))
}

// orgIDs lists every organization the state holds, in ID order.
func orgIDs(r reader) ([]string, error) {
	var orgs []string
	err := scanKeys(r, "org/", func(key string) { orgs = append(orgs, key[len("org/"):]) })
	return orgs, err
}

// memberOrgs lists the member organizations, in ID order: every
// organization that was not removed (removal.go).
func memberOrgs(r reader) ([]string, error) {
	orgs, err := orgIDs(r)
	if err != nil {
		return nil, err
	}
	removed, err := removedOrgs(r)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(orgs, func(o string) bool { return removed[o] }), nil
}

// voters are the organizations whose approvals count under st with members
// as the membership, and how many approvals carry a proposal. A policy's
// voters count only while they are members; if none is left, the default
// applies, so the consortium can always still decide.
func (st *GovernanceState) voters(members []string) ([]string, int) {
	var vs []string
	for _, v := range st.Policy.Voters {
		if slices.Contains(members, v) {
			vs = append(vs, v)
		}
	}
	threshold := int(st.Policy.Threshold)
	if len(vs) == 0 {
		vs, threshold = members, 0
	}
	switch {
	case threshold == 0:
		threshold = len(vs)/2 + 1
	case threshold > len(vs):
		threshold = len(vs)
	}
	return vs, threshold
}

// checkPolicy refuses a policy naming organizations that are not members.
func checkPolicy(p *tx.GovernancePolicy, members []string) *Rejection {
	for _, v := range p.Voters {
		if !slices.Contains(members, v) {
			return reject(CodeInvalid, "voter %q is not a member organization", v)
		}
	}
	return nil
}

// govSigner is the organization an admin signs governance transactions for.
func govSigner(r reader, signer *carechain.Principal) (string, *Rejection) {
	if signer.Kind != carechain.KindAdmin {
		return "", reject(CodeUnauthorized, "only admins of member organizations take part in governance; %s is a %s", signer.ID, signer.Kind)
	}
	if _, err := getOrg(r, signer.Org); errors.Is(err, ErrNotFound) {
		return "", reject(CodeUnauthorized, "%s is not a member organization", signer.Org)
	} else if err != nil {
		return "", reject(CodeInternal, "%v", err)
	}
	if h, removed, err := orgRemoved(r, signer.Org); err != nil {
		return "", reject(CodeInternal, "%v", err)
	} else if removed {
		return "", reject(CodeUnauthorized, "%s was removed from the consortium at height %d", signer.Org, h)
	}
	return signer.Org, nil
}

func (a *App) applyGovPropose(b *store.Block, c *checked, body *tx.GovPropose) *Rejection {
	org, rej := govSigner(b, c.signer)
	if rej != nil {
		return rej
	}
	rules, err := a.rules(b, b.Height())
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if body.Expires <= c.now || body.Expires > c.now+int64(rules.MaxGovTTL.Seconds()) {
		return reject(CodeInvalid, "a governance proposal expires in the future, within %v", rules.MaxGovTTL)
	}
	id := GovProposalID(c.Hash)
	p := &GovProposal{ID: id, Join: body.Join, Policy: body.Policy, Remove: body.Remove, Validator: body.Validator, Upgrade: body.Upgrade,
		Proposer: c.signer.ID, Opened: b.Height(), Expires: body.Expires, Status: ProposalOpen}
	if rej := a.checkProposal(b, p); rej != nil {
		return rej
	}
	if _, err := b.Get(govProposalKey(id)); err == nil {
		return reject(CodeConflict, "governance proposal %s already exists", id)
	} else if !errors.Is(err, store.ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	return a.vote(b, p, org, c.signer.ID, true)
}

func (a *App) applyGovApprove(b *store.Block, c *checked, body *tx.GovApprove) *Rejection {
	org, rej := govSigner(b, c.signer)
	if rej != nil {
		return rej
	}
	var p GovProposal
	if err := getCBOR(b, govProposalKey(body.Proposal), &p); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "no governance proposal %q", body.Proposal)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	switch {
	case p.Status != ProposalOpen:
		return reject(CodeInvalid, "governance proposal %s was carried out at height %d", p.ID, p.Closed)
	case c.now >= p.Expires:
		return reject(CodeInvalid, "governance proposal %s expired", p.ID)
	case slices.ContainsFunc(p.Approvals, func(ap GovApproval) bool { return ap.Org == org }):
		return reject(CodeConflict, "%s already approved governance proposal %s", org, p.ID)
	}
	return a.vote(b, &p, org, c.signer.ID, false)
}

// vote records org's approval of p (on opening, only if org votes), and
// carries p out if the approvals now meet the policy. An organization's
// own removal is its leaving, carried out on opening without a vote; on a
// removal by vote, the organization removed does not vote.
func (a *App) vote(b *store.Block, p *GovProposal, org, signer string, opening bool) *Rejection {
	st, voters, threshold, err := proposalVoters(b, p)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if opening && p.Remove == org { // leaving
		voters, threshold = []string{org}, 1
	}
	switch {
	case slices.Contains(voters, org):
		p.Approvals = append(p.Approvals, GovApproval{Org: org, Signer: signer, Height: b.Height()})
	case !opening:
		return reject(CodeUnauthorized, "%s does not vote under governance policy v%d (voters %v)", org, st.Version, voters)
	}
	approved := 0
	for _, ap := range p.Approvals {
		if slices.Contains(voters, ap.Org) {
			approved++
		}
	}
	if approved >= threshold {
		if rej := a.carryOut(b, p); rej != nil {
			return rej
		}
		p.Status, p.Closed = ProposalCommitted, b.Height()
	}
	if err := setLogged(b, govProposalKey(p.ID), p, tlog.KindGovernance, fmt.Sprintf("%s@%d", p.ID, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// proposalVoters are the policy in force, the organizations whose
// approvals count on p and how many carry it: the policy's voters among the
// members, less the organization p removes.
func proposalVoters(r reader, p *GovProposal) (*GovernanceState, []string, int, error) {
	st, err := governance(r)
	if err != nil {
		return nil, nil, 0, err
	}
	members, err := memberOrgs(r)
	if err != nil {
		return nil, nil, 0, err
	}
	voters, threshold := st.voters(slices.DeleteFunc(members, func(m string) bool { return m == p.Remove }))
	return st, voters, threshold, nil
}

// checkProposal judges what a proposal would do against the state in b; it
// runs when the proposal opens and again when it is carried out, since
// names and keys may have been taken meanwhile.
func (a *App) checkProposal(b *store.Block, p *GovProposal) *Rejection {
	switch {
	case p.Join != nil:
		return a.checkApplication(b, p.Join)
	case p.Remove != "":
		_, rej := checkRemoval(b, p.Remove)
		return rej
	case p.Validator != nil:
		_, rej := a.checkValidatorChange(b, p.Validator)
		return rej
	case p.Upgrade != nil:
		return a.checkUpgrade(b, p.Upgrade)
	}
	members, err := memberOrgs(b)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return checkPolicy(p.Policy, members)
}

// carryOut does what p proposes.
func (a *App) carryOut(b *store.Block, p *GovProposal) *Rejection {
	if rej := a.checkProposal(b, p); rej != nil {
		return rej
	}
	switch {
	case p.Join != nil:
		return a.admit(b, p.Join, p.ID)
	case p.Remove != "":
		return a.removeOrg(b, p)
	case p.Validator != nil:
		return a.changeValidator(b, p)
	case p.Upgrade != nil:
		return a.scheduleUpgrade(b, p)
	}
	if err := putGovernance(b, *p.Policy); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// Governance returns the governance policy in force: version 0 is the
// default policy (every member organization votes; a majority carries).
func (v *View) Governance() (*GovernanceState, error) {
	st, err := governance(v)
	if err != nil {
		return nil, fmt.Errorf("governance at height %d: %w", v.height, err)
	}
	return st, nil
}

// Voters returns the organizations that vote under the policy in force and
// how many approvals carry a proposal.
func (v *View) Voters() ([]string, int, error) {
	st, err := v.Governance()
	if err != nil {
		return nil, 0, err
	}
	members, err := memberOrgs(v)
	if err != nil {
		return nil, 0, fmt.Errorf("members at height %d: %w", v.height, err)
	}
	voters, threshold := st.voters(members)
	return voters, threshold, nil
}

// GovProposal returns a governance proposal; ErrNotFound if there is none.
func (v *View) GovProposal(id string) (*GovProposal, error) {
	var p GovProposal
	if err := getCBOR(v, govProposalKey(id), &p); err != nil {
		return nil, fmt.Errorf("governance proposal %s at height %d: %w", id, v.height, err)
	}
	return &p, nil
}

// ProposalVoters returns the organizations whose approvals count on the
// open governance proposal id and how many approvals carry it: those of
// Voters, less the organization the proposal removes.
func (v *View) ProposalVoters(id string) ([]string, int, error) {
	p, err := v.GovProposal(id)
	if err != nil {
		return nil, 0, err
	}
	_, voters, threshold, err := proposalVoters(v, p)
	if err != nil {
		return nil, 0, fmt.Errorf("voters on %s at height %d: %w", id, v.height, err)
	}
	return voters, threshold, nil
}
