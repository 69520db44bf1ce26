// Package consent implements consent contracts, modelled on FHIR Consent, and
// their deterministic evaluation.
//
// A patient issues Grants; the ledger stores them and, to decide whether a
// Request may proceed, passes the patient's grants to Evaluate (or to an
// Evaluator, which caches compiled conditions). Evaluation denies by default,
// and its Decision always carries a sentence saying which grant allowed or why
// nothing did, for the audit log and for the patient.
//
// Evaluation is a pure function of its arguments: the time comes with the
// request (block time in consensus), grants are considered in the order given,
// and CEL conditions see only the request (see CompileCondition). The same
// grants and request give the same Decision on every node.
//
// Break-glass access is an EmergencyRule set by the patient; Authorize turns
// a qualifying request into a short-lived emergency Grant.
package consent

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
)

// Action is what a request does to a record.
type Action string

// Actions.
const (
	ActionRead  Action = "read"
	ActionWrite Action = "write"
)

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return a == ActionRead || a == ActionWrite }

// Purpose is the purpose of use of a request.
type Purpose string

// Purposes of use.
const (
	PurposeTreatment     Purpose = "treatment"
	PurposeEmergency     Purpose = "emergency"
	PurposeResearch      Purpose = "research"
	PurposeBilling       Purpose = "billing"
	PurposeSecondOpinion Purpose = "second-opinion"
)

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool {
	return slices.Contains([]Purpose{PurposeTreatment, PurposeEmergency, PurposeResearch, PurposeBilling, PurposeSecondOpinion}, p)
}

// AnyCategory in Grant.Categories covers every category. A grant must name
// its scope, so "everything" has to be said explicitly.
const AnyCategory = "*"

// Limits on a Grant, so that a stored grant stays small and cheap to evaluate.
const (
	maxListLen      = 32
	maxStringLen    = 256
	maxConditionLen = 2048
)

// Grantee is who a grant is for: exactly one of Principal or Org, and
// optionally a Role within Org.
type Grantee struct {
	Principal string         `cbor:"1,keyasint" json:"principal,omitempty"`
	Org       string         `cbor:"2,keyasint" json:"org,omitempty"`
	Role      carechain.Role `cbor:"3,keyasint" json:"role,omitempty"`
}

// Matches reports whether the grantee matches p: p's ID for a principal
// grantee; otherwise a practitioner of the organization, holding Role if one
// is set. Org grants never match patients (whose Org is merely where they
// registered) or admins, and no grant matches a principal whose key is revoked.
func (g Grantee) Matches(p *carechain.Principal) bool {
	switch {
	case p == nil || p.Status == carechain.StatusRevoked:
		return false
	case g.Principal != "":
		return p.ID == g.Principal
	case g.Org != "":
		return p.Kind == carechain.KindPractitioner && p.Org == g.Org && (g.Role == "" || p.HasRole(g.Role))
	}
	return false
}

func (g Grantee) validate() error {
	switch {
	case (g.Principal == "") == (g.Org == ""):
		return errors.New("grantee: want exactly one of principal and org")
	case g.Principal != "" && g.Role != "":
		return errors.New("grantee: a role applies only to an org grantee")
	case g.Principal != "":
		return carechain.ValidatePrincipalID(g.Principal)
	case g.Role != "" && !g.Role.Valid():
		return fmt.Errorf("grantee: unknown role %q", g.Role)
	}
	return carechain.ValidateOrgID(g.Org)
}

// Grant is a patient's consent for a grantee to act on some of their records.
//
// Scope: a request is covered when its category is in Categories (or
// Categories holds AnyCategory), its resource type is in ResourceTypes, its
// record is RecordID and one of Records; an empty list or RecordID puts no
// limit on that dimension, but at least one must be set.
//
// The period is [NotBefore, NotAfter) in unix seconds; NotAfter 0 never
// expires. A revoked grant allows nothing; the ledger keeps it for the record.
type Grant struct {
	ID            string    `cbor:"1,keyasint" json:"id"` // assigned by the ledger before Validate
	Patient       string    `cbor:"2,keyasint" json:"patient"`
	Grantee       Grantee   `cbor:"3,keyasint" json:"grantee"`
	Categories    []string  `cbor:"4,keyasint" json:"categories,omitempty"`
	ResourceTypes []string  `cbor:"5,keyasint" json:"resource_types,omitempty"` // FHIR resource types
	RecordID      string    `cbor:"6,keyasint" json:"record_id,omitempty"`      // one record only, e.g. for a second opinion
	Actions       []Action  `cbor:"7,keyasint" json:"actions"`
	Purposes      []Purpose `cbor:"8,keyasint" json:"purposes"`
	NotBefore     int64     `cbor:"9,keyasint" json:"not_before"`
	NotAfter      int64     `cbor:"10,keyasint" json:"not_after,omitempty"`
	Condition     string    `cbor:"11,keyasint" json:"condition,omitempty"` // CEL, see CompileCondition
	Revoked       bool      `cbor:"12,keyasint" json:"revoked,omitempty"`
	RevokedAt     int64     `cbor:"13,keyasint" json:"revoked_at,omitempty"` // unix seconds
	// Records are the records of an order's grant (ledger/orders.go): the
	// order and what it names. Grants made before it have none, and encode
	// as they always did.
	Records []string `cbor:"14,keyasint,omitempty" json:"records,omitempty"`
	// Order is the order (a ServiceRequest record) whose grant this is: the
	// ledger made it when the order opened and revokes it when it closes.
	Order string `cbor:"15,keyasint,omitempty" json:"order,omitempty"`
	// Identified lets a research grantee have the patient's data with
	// their identifiers; without it research answers are de-identified
	// (fhirrest/deid.go). The ledger does not read it; grants made before
	// it encode as they always did.
	Identified bool `cbor:"16,keyasint,omitempty" json:"identified,omitempty"`
	// Study makes the grant a patient's consent to a study (eConsent): the
	// ledger requires its terms to be the study's (ledger/studyconsent.go).
	// Revoking it is withdrawing from the study: WithdrawnHeight is the
	// height of the revocation, and records recorded before it stay
	// readable for research under the grant, as data collected before a
	// withdrawal stays in a trial; what is recorded from then on is not.
	Study           string `cbor:"17,keyasint,omitempty" json:"study,omitempty"`
	WithdrawnHeight int64  `cbor:"18,keyasint,omitempty" json:"withdrawn_height,omitempty"`
}

// Validate checks g on its own, without ledger state: syntax of IDs, known
// enums, a sane period, bounded sizes, and a condition that compiles.
func (g *Grant) Validate() error {
	if g.ID == "" || len(g.ID) > maxStringLen {
		return fmt.Errorf("grant id must be 1-%d bytes", maxStringLen)
	}
	return g.ValidateTerms()
}

// ValidateTerms is Validate without the grant's ID: the terms of a grant
// not yet made, whose ID the ledger assigns.
func (g *Grant) ValidateTerms() error {
	if len(g.RecordID) > maxStringLen {
		return fmt.Errorf("record id longer than %d bytes", maxStringLen)
	}
	if carechain.ValidatePrincipalID(g.Patient) != nil || carechain.OrgOf(g.Patient) != "" {
		return fmt.Errorf("patient %q is not a patient id", g.Patient)
	}
	if len(g.Categories) == 0 && len(g.ResourceTypes) == 0 && g.RecordID == "" && len(g.Records) == 0 {
		return fmt.Errorf("scope: want at least one category (%q for any), resource type or record", AnyCategory)
	}
	if g.NotBefore < 0 || g.NotAfter < 0 || (g.NotAfter != 0 && g.NotAfter <= g.NotBefore) {
		return fmt.Errorf("period [%d, %d) is empty or negative", g.NotBefore, g.NotAfter)
	}
	if !g.Revoked && g.RevokedAt != 0 {
		return errors.New("revoked_at set on a grant that is not revoked")
	}
	if g.Identified && !slices.Contains(g.Purposes, PurposeResearch) {
		return errors.New("identified is for research grants: add the purpose research")
	}
	if g.Study != "" && (!slices.Equal(g.Purposes, []Purpose{PurposeResearch}) || !slices.Equal(g.Actions, []Action{ActionRead}) || len(g.Study) > maxStringLen) {
		return errors.New("a study consent grants read for research only")
	}
	if g.WithdrawnHeight != 0 && !g.Revoked {
		return errors.New("withdrawn_height set on a grant that is not revoked")
	}
	if err := cmp.Or(g.Grantee.validate(),
		checkStrings("categories", g.Categories), checkStrings("resource types", g.ResourceTypes), checkRecords(g.Records),
		checkEnums("actions", g.Actions, 1), checkEnums("purposes", g.Purposes, 1)); err != nil {
		return err
	}
	if g.Condition == "" {
		return nil
	}
	if _, err := CompileCondition(g.Condition); err != nil {
		return fmt.Errorf("condition: %w", err)
	}
	return nil
}

// MaxGrantRecords bounds Grant.Records: an order's results.
const MaxGrantRecords = 512

func checkRecords(list []string) error {
	if len(list) > MaxGrantRecords {
		return fmt.Errorf("%d records, more than %d", len(list), MaxGrantRecords)
	}
	for _, s := range list {
		if s == "" || len(s) > maxStringLen {
			return fmt.Errorf("records: each must be 1-%d bytes", maxStringLen)
		}
	}
	return nil
}

func checkStrings(what string, list []string) error {
	if len(list) > maxListLen {
		return fmt.Errorf("%d %s, more than %d", len(list), what, maxListLen)
	}
	for _, s := range list {
		if s == "" || len(s) > maxStringLen {
			return fmt.Errorf("%s: each must be 1-%d bytes", what, maxStringLen)
		}
	}
	return nil
}

func checkEnums[E interface {
	~string
	Valid() bool
}](what string, list []E, least int) error {
	if len(list) < least || len(list) > maxListLen {
		return fmt.Errorf("want %d-%d %s, got %d", least, maxListLen, what, len(list))
	}
	for _, e := range list {
		if !e.Valid() {
			return fmt.Errorf("%s: unknown %q", what, e)
		}
	}
	return nil
}
