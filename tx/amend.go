package tx

import (
	"fmt"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// Multi-party approval of record edits.
const (
	TypeAmendPolicy  Type = "amend.policy"
	TypeAmendPropose Type = "amend.propose"
	TypeAmendApprove Type = "amend.approve"
	TypeAmendReject  Type = "amend.reject"
)

func init() {
	register[AmendPolicy](TypeAmendPolicy)
	register[AmendPropose](TypeAmendPropose)
	register[AmendApprove](TypeAmendApprove)
	register[AmendReject](TypeAmendReject)
}

// Term is one party of an approval rule: a role within an organization, the
// proposal's author, or the patient. A role term may also require a
// credential (Credential, "kind=value" such as "specialty=radiology"):
// the signer must hold one of that kind and value, valid when they sign.
// An admin term (Admin, with Org) is an admin of that organization: only
// the ledger derives rules with one (a locked study visit's, whose
// approvers are the study's sponsor and ethics board); an approval policy
// cannot name one.
type Term struct {
	Role       carechain.Role `cbor:"1,keyasint,omitempty" json:"role,omitempty"`
	Org        string         `cbor:"2,keyasint,omitempty" json:"org,omitempty"`
	Author     bool           `cbor:"3,keyasint,omitempty" json:"author,omitempty"`
	Patient    bool           `cbor:"4,keyasint,omitempty" json:"patient,omitempty"`
	Credential string         `cbor:"5,keyasint,omitempty" json:"credential,omitempty"`
	Admin      bool           `cbor:"6,keyasint,omitempty" json:"admin,omitempty"`
}

func (t Term) String() string {
	switch {
	case t.Admin:
		return "admin@" + t.Org
	case t.Author:
		return "author"
	case t.Patient:
		return "patient"
	case t.Credential != "":
		return string(t.Role) + "@" + t.Org + "+" + t.Credential
	}
	return string(t.Role) + "@" + t.Org
}

// CredentialOf splits a term's credential into its kind and value.
func (t Term) CredentialOf() (kind carechain.CredentialKind, value string, ok bool) {
	k, v, ok := strings.Cut(t.Credential, "=")
	return carechain.CredentialKind(k), v, ok
}

func (t Term) validCredential() bool {
	if t.Credential == "" {
		return true
	}
	kind, value, ok := t.CredentialOf()
	return ok && t.Role != "" && kind.Valid() && carechain.ValidateCredentialValue(value) == nil
}

// Rule kinds.
const (
	AllOf = "all-of"
	AnyOf = "any-of"
	KOfN  = "k-of-n"
)

// Rule says whose signatures commit an amendment.
type Rule struct {
	Kind  string `cbor:"1,keyasint" json:"kind"`
	K     int    `cbor:"2,keyasint,omitempty" json:"k,omitempty"` // for k-of-n
	Terms []Term `cbor:"3,keyasint" json:"terms"`
}

// Needed is how many distinct terms must sign.
func (r Rule) Needed() int {
	switch r.Kind {
	case AllOf:
		return len(r.Terms)
	case AnyOf:
		return 1
	}
	return r.K
}

func (r Rule) validate() error {
	if len(r.Terms) == 0 || len(r.Terms) > 16 {
		return fmt.Errorf("%w: a rule has 1-16 terms", ErrInvalid)
	}
	if r.Kind != AllOf && r.Kind != AnyOf && r.Kind != KOfN {
		return fmt.Errorf("%w: rule kind %q: want all-of, any-of or k-of-n", ErrInvalid, r.Kind)
	}
	if r.Kind == KOfN && (r.K < 1 || r.K > len(r.Terms)) {
		return fmt.Errorf("%w: k must be between 1 and the number of terms", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, t := range r.Terms {
		n := 0
		if t.Role != "" {
			n++
			if !t.Role.Valid() || carechain.ValidateOrgID(t.Org) != nil {
				return fmt.Errorf("%w: term %s: a known role and an organization", ErrInvalid, t)
			}
		}
		if t.Author {
			n++
		}
		if t.Patient {
			n++
		}
		if !t.validCredential() {
			return fmt.Errorf("%w: term %s: a credential is kind=value (licence, board-certification or specialty), after a role", ErrInvalid, t)
		}
		if n != 1 || seen[t.String()] {
			return fmt.Errorf("%w: each term is exactly one of role@org, author or patient, once", ErrInvalid)
		}
		seen[t.String()] = true
	}
	return nil
}

// AmendPolicy sets an organization's approval rule for edits of records of a
// category (and, optionally, one resource type). Signed by the org's admin.
// Policies are versioned; a proposal is judged by the one in force when it opened.
type AmendPolicy struct {
	Org          string `cbor:"1,keyasint"`
	Category     string `cbor:"2,keyasint"`
	ResourceType string `cbor:"3,keyasint,omitempty"`
	Rule         Rule   `cbor:"4,keyasint"`
}

// Validate implements Body.
func (p *AmendPolicy) Validate() error {
	if carechain.ValidateOrgID(p.Org) != nil || !categoryPattern.MatchString(p.Category) || len(p.ResourceType) > 64 {
		return fmt.Errorf("%w: policy needs an organization and a category", ErrInvalid)
	}
	return p.Rule.validate()
}

// MaxAmendTTL bounds how long a proposal stays open.
const MaxAmendTTL = 30 * 24 * time.Hour

// AmendPropose proposes the next version of a record (Put.Version must be
// BaseVersion+1). It commits only when the policy's signers approve. The
// reason may speak of the patient's health, so it is sealed like the record
// (SealedReason: encrypted under the proposed version's epoch key, see records).
type AmendPropose struct {
	Put          RecordPut `cbor:"1,keyasint"`
	BaseVersion  uint64    `cbor:"2,keyasint"`
	SealedReason []byte    `cbor:"3,keyasint"`
	Expires      int64     `cbor:"4,keyasint"` // unix seconds
}

// Validate implements Body.
func (a *AmendPropose) Validate() error {
	if err := a.Put.Validate(); err != nil {
		return err
	}
	if a.BaseVersion == 0 || a.Put.Version != a.BaseVersion+1 || a.Put.Deleted {
		return fmt.Errorf("%w: a proposal amends version BaseVersion with version BaseVersion+1", ErrInvalid)
	}
	if len(a.SealedReason) == 0 || len(a.SealedReason) > 8<<10 || a.Expires <= 0 {
		return fmt.Errorf("%w: a proposal needs a sealed reason (at most 8 KiB) and an expiry", ErrInvalid)
	}
	return nil
}

// AmendApprove approves a proposal; ContentHash must be the proposal's, so
// the signature covers exactly what was reviewed.
type AmendApprove struct {
	ProposalID  string `cbor:"1,keyasint"`
	ContentHash []byte `cbor:"2,keyasint"`
}

// Validate implements Body.
func (a *AmendApprove) Validate() error {
	if a.ProposalID == "" || len(a.ProposalID) > 64 || len(a.ContentHash) != 32 {
		return fmt.Errorf("%w: approval needs a proposal id and its 32-byte content hash", ErrInvalid)
	}
	return nil
}

// AmendReject rejects a proposal, which closes it. Its reason is sealed like
// the proposal's.
type AmendReject struct {
	ProposalID   string `cbor:"1,keyasint"`
	SealedReason []byte `cbor:"2,keyasint,omitempty"`
}

// Validate implements Body.
func (a *AmendReject) Validate() error {
	if a.ProposalID == "" || len(a.ProposalID) > 64 || len(a.SealedReason) > 8<<10 {
		return fmt.Errorf("%w: rejection needs a proposal id (and a sealed reason of at most 8 KiB)", ErrInvalid)
	}
	return nil
}

// ParseTerm reads a signer term as people write it: "author", "patient",
// "role@org", or "role@org+kind=value" (a role holding a credential, such
// as "specialist@st-mary+specialty=radiology").
func ParseTerm(s string) (Term, error) {
	switch s {
	case "author":
		return Term{Author: true}, nil
	case "patient":
		return Term{Patient: true}, nil
	}
	s, cred, _ := strings.Cut(s, "+")
	role, org, ok := strings.Cut(s, "@")
	if !ok || role == "" || org == "" {
		return Term{}, fmt.Errorf("signer %q: want role@org, role@org+kind=value, author or patient", s)
	}
	t := Term{Role: carechain.Role(role), Org: org, Credential: cred}
	if !t.validCredential() {
		return Term{}, fmt.Errorf("signer %q: a credential is kind=value, kind licence, board-certification or specialty", t)
	}
	return t, nil
}
