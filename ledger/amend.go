package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Multi-party approval: an organization's admins set approval policies; an
// edit of a record under a policy is a proposal, committed in the block of
// the approval that satisfies the policy, and the committed version is
// locked: any later change needs another proposal.

// PolicyState is an approval policy in force.
type PolicyState struct {
	tx.AmendPolicy `cbor:"1,keyasint"`
	Version        uint32 `cbor:"2,keyasint" json:"version"`
	Height         int64  `cbor:"3,keyasint" json:"height"`
}

// Approval is one signer's approval of a proposal.
type Approval struct {
	Signer string `cbor:"1,keyasint" json:"signer"`
	Term   string `cbor:"2,keyasint" json:"term"` // the term of the rule it satisfies
	Height int64  `cbor:"3,keyasint" json:"height"`
}

// Proposal statuses.
const (
	ProposalOpen      = "open"
	ProposalCommitted = "committed"
	ProposalRejected  = "rejected"
)

// Proposal is a proposed edit of a record.
type Proposal struct {
	ID                string       `cbor:"1,keyasint" json:"id"`
	RecordID          string       `cbor:"2,keyasint" json:"record_id"`
	Patient           string       `cbor:"3,keyasint" json:"patient"`
	Category          string       `cbor:"4,keyasint" json:"category"`
	ResourceType      string       `cbor:"5,keyasint" json:"resource_type"`
	BaseVersion       uint64       `cbor:"6,keyasint" json:"base_version"`
	Put               tx.RecordPut `cbor:"7,keyasint" json:"-"`
	Author            string       `cbor:"8,keyasint" json:"author"`
	SealedReason      []byte       `cbor:"9,keyasint" json:"-"` // under the proposed version's epoch key
	Expires           int64        `cbor:"10,keyasint" json:"expires"`
	Opened            int64        `cbor:"11,keyasint" json:"opened"` // height
	PolicyVersion     uint32       `cbor:"12,keyasint" json:"policy_version"`
	Rule              tx.Rule      `cbor:"13,keyasint" json:"rule"`
	ContentHash       []byte       `cbor:"14,keyasint" json:"content_hash"`
	Approvals         []Approval   `cbor:"15,keyasint" json:"approvals"`
	Status            string       `cbor:"16,keyasint" json:"status"`
	ClosedBy          string       `cbor:"17,keyasint,omitempty" json:"closed_by,omitempty"`
	SealedCloseReason []byte       `cbor:"18,keyasint,omitempty" json:"-"`
}

// Reviewable reports whether by may see proposal p and its content: its
// author, its patient, the holders of the roles its rule names and the admins
// it names (a locked study visit's rule). To
// everyone else a proposal is as if absent: it names a patient, a record and
// a category.
func (p *Proposal) Reviewable(by *carechain.Principal) bool {
	switch {
	case by == nil || by.Status != carechain.StatusActive:
		return false
	case by.ID == p.Author || by.ID == p.Patient:
		return true
	}
	return slices.ContainsFunc(p.Rule.Terms, func(t tx.Term) bool {
		if t.Admin {
			return by.Kind == carechain.KindAdmin && by.Org == t.Org
		}
		return t.Role != "" && by.Kind == carechain.KindPractitioner && by.Org == t.Org && by.HasRole(t.Role)
	})
}

func init() {
	handle(tx.TypeAmendPolicy, (*App).applyAmendPolicy)
	handle(tx.TypeAmendPropose, (*App).applyAmendPropose)
	handle(tx.TypeAmendApprove, (*App).applyAmendApprove)
	handle(tx.TypeAmendReject, (*App).applyAmendReject)
}

// ProposalID is the ID the ledger gives the proposal of the amend.propose
// transaction with hash h.
func ProposalID(h [32]byte) string { return "am-" + hex.EncodeToString(h[:6]) }

func policyKey(org, category, resourceType string) string {
	if resourceType == "" {
		resourceType = "*"
	}
	return "policy/" + org + "/" + category + "/" + resourceType
}
func proposalKey(id string) string         { return "proposal/" + id }
func openProposalKey(record string) string { return "proposal-open/" + record }

// ContentHash is what approvals sign: SHA-256 of the proposed version's encoding.
func ContentHash(put *tx.RecordPut) []byte {
	b, err := tx.Marshal(put)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode proposal: %v", err)) // plain struct: cannot fail
	}
	h := sha256.Sum256(b)
	return h[:]
}

// policyFor finds the policy of the record's owner for its category and
// resource type (or the whole category).
func policyFor(r reader, head *carechain.RecordHead) (*PolicyState, error) {
	for _, rt := range []string{head.ResourceType, ""} {
		var p PolicyState
		err := getCBOR(r, policyKey(head.Owner, head.Category, rt), &p)
		if err == nil {
			return &p, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, ErrNotFound
}

// ApprovalPolicy is the approval policy edits of the record head fall
// under, which makes an edit a proposal (amend.propose); ErrNotFound if
// none does and the record is edited directly.
func (v *View) ApprovalPolicy(head *carechain.RecordHead) (*PolicyState, error) {
	if head.Owner == "" {
		return nil, ErrNotFound
	}
	return policyFor(v, head)
}

// ApprovalPolicies lists org's approval policies in force, by category and
// resource type.
func (v *View) ApprovalPolicies(org string) ([]PolicyState, error) {
	ps, err := scanValues[PolicyState](v, "policy/"+org+"/")
	if err != nil {
		return nil, fmt.Errorf("approval policies of %s at height %d: %w", org, v.height, err)
	}
	return ps, nil
}

// needsApproval refuses a direct edit of a locked record or of one under an
// approval policy.
func needsApproval(r reader, head *carechain.RecordHead) *Rejection {
	if head.Locked {
		if rej := visitRefusal(r, head); rej != nil { // studyvisit.go
			return rej
		}
		return reject(CodeUnauthorized, "record %s is locked by an approved amendment: propose a change (amend.propose)", head.RecordID)
	}
	if head.Owner == "" {
		return nil
	}
	if p, err := policyFor(r, head); err == nil {
		return reject(CodeUnauthorized, "edits of %s %s records of %s need approval (policy v%d): propose a change (amend.propose)", head.Category, head.ResourceType, head.Owner, p.Version)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyAmendPolicy(b *store.Block, c *checked, p *tx.AmendPolicy) *Rejection {
	if c.signer.Kind != carechain.KindAdmin || c.signer.Org != p.Org {
		return reject(CodeUnauthorized, "only an admin of %s sets its approval policies", p.Org)
	}
	if !categoryKnown(b, p.Category) {
		return reject(CodeInvalid, "unknown category %q", p.Category)
	}
	var prev PolicyState
	if err := getCBOR(b, policyKey(p.Org, p.Category, p.ResourceType), &prev); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	st := PolicyState{AmendPolicy: *p, Version: prev.Version + 1, Height: b.Height()}
	key := policyKey(p.Org, p.Category, p.ResourceType)
	if err := setLogged(b, key, st, tlog.KindAmendment, fmt.Sprintf("%s@v%d", key, st.Version)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyAmendPropose(b *store.Block, c *checked, body *tx.AmendPropose) *Rejection {
	put := &body.Put
	var head carechain.RecordHead
	if err := getCBOR(b, recordKey(put.RecordID), &head); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "record %s does not exist: proposals amend existing records", put.RecordID)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if head.Deleted {
		return reject(CodeInvalid, "record %s is deleted", put.RecordID)
	}
	if body.BaseVersion != head.Latest {
		return reject(CodeConflict, "stale base: record %s is at version %d, the proposal amends %d", put.RecordID, head.Latest, body.BaseVersion)
	}
	if id, err := b.Get(openProposalKey(put.RecordID)); err == nil {
		return reject(CodeConflict, "record %s already has an open proposal %s", put.RecordID, id)
	}
	if body.Expires <= c.now || body.Expires > c.now+int64(tx.MaxAmendTTL.Seconds()) {
		return reject(CodeInvalid, "a proposal expires in the future, within %v", tx.MaxAmendTTL)
	}
	policy, err := amendPolicy(b, &head) // a locked visit's study's rule, or the owner's policy
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "no approval policy covers %s %s records of %s: edit the record directly", head.Category, head.ResourceType, head.Owner)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	// The proposed version must be one the author could write, and every
	// organization named by the rule must be able to decrypt it for review.
	trial := b.Child()
	if rej := a.putRecord(trial, c.signer, c.now, put, "trial"); rej != nil {
		return rej
	}
	ep, err := getEpoch(trial, put.Patient, put.Category)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for _, t := range policy.Rule.Terms {
		if t.Role != "" && !slices.Contains(ep.Readers, t.Org) {
			return reject(CodeInvalid, "reviewers of %s cannot decrypt the proposal: the %s key of %s is not wrapped to %s", t.Org, put.Category, put.Patient, t.Org)
		}
	}
	id := ProposalID(c.Hash)
	p := Proposal{
		ID: id, RecordID: put.RecordID, Patient: put.Patient, Category: put.Category, ResourceType: put.ResourceType,
		BaseVersion: body.BaseVersion, Put: *put, Author: c.signer.ID, SealedReason: body.SealedReason, Expires: body.Expires,
		Opened: b.Height(), PolicyVersion: policy.Version, Rule: policy.Rule, ContentHash: ContentHash(put), Status: ProposalOpen,
	}
	if err := setLogged(b, proposalKey(id), p, tlog.KindAmendment, id); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := b.Set(openProposalKey(put.RecordID), []byte(id)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// openProposal loads a proposal that can still be approved or rejected at now.
func openProposal(r reader, id string, now int64) (*Proposal, *Rejection) {
	var p Proposal
	if err := getCBOR(r, proposalKey(id), &p); errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInvalid, "no proposal %s", id)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if p.Status != ProposalOpen {
		return nil, reject(CodeInvalid, "proposal %s is closed (%s)", id, p.Status)
	}
	if now >= p.Expires {
		return nil, reject(CodeInvalid, "proposal %s expired", id)
	}
	return &p, nil
}

// satisfies reports whether signer fills term for proposal p at unix
// time now; a term requiring a credential reads the signer's from r.
func satisfies(r reader, now int64, t tx.Term, signer *carechain.Principal, p *Proposal) bool {
	switch {
	case t.Author:
		return signer.ID == p.Author
	case t.Patient:
		return signer.ID == p.Patient
	case t.Admin: // only in a rule the ledger derives (VisitRule)
		return signer.Kind == carechain.KindAdmin && signer.Org == t.Org
	}
	if signer.Kind != carechain.KindPractitioner || signer.Org != t.Org || !signer.HasRole(t.Role) {
		return false
	}
	return t.Credential == "" || holdsCredential(r, signer.ID, t, now)
}

func (a *App) applyAmendApprove(b *store.Block, c *checked, body *tx.AmendApprove) *Rejection {
	p, rej := openProposal(b, body.ProposalID, c.now)
	if rej != nil {
		return rej
	}
	if string(body.ContentHash) != string(p.ContentHash) {
		return reject(CodeInvalid, "the approval signs content %x, the proposal's is %x", body.ContentHash, p.ContentHash)
	}
	if slices.ContainsFunc(p.Approvals, func(ap Approval) bool { return ap.Signer == c.signer.ID }) {
		return reject(CodeConflict, "%s already approved %s", c.signer.ID, p.ID)
	}
	term := ""
	for _, t := range p.Rule.Terms {
		used := slices.ContainsFunc(p.Approvals, func(ap Approval) bool { return ap.Term == t.String() })
		if !used && satisfies(b, c.now, t, c.signer, p) {
			term = t.String()
			break
		}
	}
	if term == "" {
		return reject(CodeUnauthorized, "%s fills no open term of the rule of %s (%s of %v)", c.signer.ID, p.ID, p.Rule.Kind, p.Rule.Terms)
	}
	p.Approvals = append(p.Approvals, Approval{Signer: c.signer.ID, Term: term, Height: b.Height()})
	if len(p.Approvals) >= p.Rule.Needed() {
		author, err := getPrincipal(b, p.Author)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if rej := a.putRecord(b, author, c.now, &p.Put, p.ID); rej != nil {
			return reject(rej.Code, "the approved version cannot be committed: %s", rej.Msg)
		}
		p.Status = ProposalCommitted
		if err := b.Delete(openProposalKey(p.RecordID)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	if err := setLogged(b, proposalKey(p.ID), p, tlog.KindAmendment, fmt.Sprintf("%s/approved/%s", p.ID, c.signer.ID)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyAmendReject(b *store.Block, c *checked, body *tx.AmendReject) *Rejection {
	p, rej := openProposal(b, body.ProposalID, c.now)
	if rej != nil {
		return rej
	}
	if !slices.ContainsFunc(p.Rule.Terms, func(t tx.Term) bool { return satisfies(b, c.now, t, c.signer, p) }) {
		return reject(CodeUnauthorized, "%s is not a signer of %s", c.signer.ID, p.ID)
	}
	p.Status, p.ClosedBy, p.SealedCloseReason = ProposalRejected, c.signer.ID, body.SealedReason
	if err := b.Delete(openProposalKey(p.RecordID)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, proposalKey(p.ID), p, tlog.KindAmendment, p.ID+"/rejected"); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
