package consent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// MaxEmergencyDuration bounds how long break-glass access lasts: 7 days.
const MaxEmergencyDuration = 7 * 24 * 60 * 60

// MaxReasonLen bounds the reason a requester gives for break-glass access.
const MaxReasonLen = 1024

// ErrEmergencyRefused wraps every refusal of Authorize that is about the
// requester rather than the rule, so the ledger can report it as a denial.
var ErrEmergencyRefused = errors.New("emergency access refused")

// EmergencyRule is a patient's break-glass rule: who may read their records
// at once in an emergency, without asking. Access granted under it is always
// logged with its reason and shown to the patient.
type EmergencyRule struct {
	OrgTypes        []carechain.OrgType `cbor:"1,keyasint" json:"org_types,omitempty"`  // empty = any organization type
	Roles           []carechain.Role    `cbor:"2,keyasint" json:"roles"`                // at least one
	DurationSeconds int64               `cbor:"3,keyasint" json:"duration_seconds"`     // 1 s to MaxEmergencyDuration
	Categories      []string            `cbor:"4,keyasint" json:"categories,omitempty"` // empty = all categories
	RequireReason   bool                `cbor:"5,keyasint" json:"require_reason,omitempty"`
}

// Validate checks the rule on its own. Roles may not be empty: "any
// practitioner" would include registration clerks and claims officers.
func (r *EmergencyRule) Validate() error {
	if err := checkEnums("organization types", r.OrgTypes, 0); err != nil {
		return fmt.Errorf("emergency rule: %w", err)
	}
	if err := checkEnums("roles", r.Roles, 1); err != nil {
		return fmt.Errorf("emergency rule: %w", err)
	}
	if r.DurationSeconds <= 0 || r.DurationSeconds > MaxEmergencyDuration {
		return fmt.Errorf("emergency rule: duration %ds, want 1s to 7 days (%ds)", r.DurationSeconds, MaxEmergencyDuration)
	}
	if err := checkStrings("categories", r.Categories); err != nil {
		return fmt.Errorf("emergency rule: %w", err)
	}
	return nil
}

// Admits reports whether the rule lets organizations of type t break the
// glass (no types: any).
func (r *EmergencyRule) Admits(t carechain.OrgType) bool {
	return len(r.OrgTypes) == 0 || slices.Contains(r.OrgTypes, t)
}

// Covers reports whether the rule opens category (no categories: all).
func (r *EmergencyRule) Covers(category string) bool {
	return len(r.Categories) == 0 || slices.Contains(r.Categories, category)
}

// Authorize decides a break-glass request by req, a practitioner of an
// organization of type orgType, at time now (unix seconds, block time). If
// the rule allows it, it returns the grant to create: read, for emergency,
// for req alone, over the rule's categories (AnyCategory if it names none),
// valid from now for the rule's duration. The caller fills in the grant's ID
// and Patient. Refusals wrap ErrEmergencyRefused; an invalid rule is reported
// as such.
func (r *EmergencyRule) Authorize(req *carechain.Principal, orgType carechain.OrgType, reason string, now int64) (*Grant, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: the patient has set no emergency rule", ErrEmergencyRefused)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	switch {
	case req == nil || req.Kind != carechain.KindPractitioner || req.Status == carechain.StatusRevoked:
		return nil, fmt.Errorf("%w: only an active practitioner may break the glass", ErrEmergencyRefused)
	case !orgType.Valid() || !r.Admits(orgType):
		return nil, fmt.Errorf("%w: organization type %q is not one the patient allows", ErrEmergencyRefused, orgType)
	case !slices.ContainsFunc(r.Roles, req.HasRole):
		return nil, fmt.Errorf("%w: %s holds none of the roles %v", ErrEmergencyRefused, req.ID, r.Roles)
	case r.RequireReason && strings.TrimSpace(reason) == "":
		return nil, fmt.Errorf("%w: the patient requires a reason", ErrEmergencyRefused)
	case len(reason) > MaxReasonLen:
		return nil, fmt.Errorf("%w: reason longer than %d bytes", ErrEmergencyRefused, MaxReasonLen)
	}
	categories := slices.Clone(r.Categories)
	if len(categories) == 0 {
		categories = []string{AnyCategory}
	}
	return &Grant{
		Grantee:    Grantee{Principal: req.ID},
		Categories: categories,
		Actions:    []Action{ActionRead},
		Purposes:   []Purpose{PurposeEmergency},
		NotBefore:  now,
		NotAfter:   now + r.DurationSeconds,
	}, nil
}
