package tx

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
)

// Insurance claims (package claims). An insurer's admin publishes a plan's
// adjudication rules (PlanRules, in plain: plan data, not health data); a
// provider's staff submits a claim (ClaimSubmit) sealed to the patient, the
// insurer and the provider, with the plain facts the ledger's rules need;
// the insurer's node posts the adjudication (ClaimAdjudicate), sealed the
// same way, with the hash of the claim and the rules version it used.
const (
	TypePlanRules       Type = "claims.rules"
	TypeClaimSubmit     Type = "claim.submit"
	TypeClaimAdjudicate Type = "claim.adjudicate"
)

func init() {
	register[PlanRules](TypePlanRules)
	register[ClaimSubmit](TypeClaimSubmit)
	register[ClaimAdjudicate](TypeClaimAdjudicate)
}

// PlanRules is version Version of the rules of the signer's organization's
// plan Plan: a claims.Rules JSON document.
type PlanRules struct {
	Plan    string `cbor:"1,keyasint"`
	Version uint64 `cbor:"2,keyasint"`
	Rules   []byte `cbor:"3,keyasint"`
}

// Validate implements Body: a plan id, a version from 1, rules that parse
// and whose conditions compile.
func (p *PlanRules) Validate() error {
	if !claims.ValidPlanID(p.Plan) || p.Version == 0 {
		return fmt.Errorf("%w: plan rules need a plan id (1-64 of [a-z0-9._-]) and a version >= 1", ErrInvalid)
	}
	if _, err := claims.ParseRules(p.Rules); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// MaxPreAuths bounds the prior authorizations one claim refers to.
const MaxPreAuths = 8

// ClaimSubmit submits claim ID of Patient to Insurer under Plan. Sealed is
// the JSON of a seal.PartySealed holding the claim; Commitment is the
// SHA-256 the submitter computes over the claim's billable content
// (records.ClaimCommitment), which the ledger keeps to refuse the same
// claim twice.
type ClaimSubmit struct {
	ID         string   `cbor:"1,keyasint"`
	Patient    string   `cbor:"2,keyasint"`
	Insurer    string   `cbor:"3,keyasint"`
	Plan       string   `cbor:"4,keyasint"`
	Use        string   `cbor:"5,keyasint"`
	Commitment []byte   `cbor:"6,keyasint"`
	PreAuths   []string `cbor:"7,keyasint,omitempty"`
	Sealed     []byte   `cbor:"8,keyasint"`
}

// Validate implements Body.
func (c *ClaimSubmit) Validate() error {
	switch {
	case !recordIDPattern.MatchString(c.ID):
		return fmt.Errorf("%w: claim id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, c.ID)
	case carechain.OrgOf(c.Patient) != "" || carechain.ValidatePrincipalID(c.Patient) != nil:
		return fmt.Errorf("%w: %q is not a patient id", ErrInvalid, c.Patient)
	case c.Insurer == "" || len(c.Insurer) > 64 || !claims.ValidPlanID(c.Plan):
		return fmt.Errorf("%w: a claim names its insurer and plan", ErrInvalid)
	case c.Use != claims.UseClaim && c.Use != claims.UsePreauthorization:
		return fmt.Errorf("%w: use %q: want claim or preauthorization", ErrInvalid, c.Use)
	case len(c.Commitment) != 32:
		return fmt.Errorf("%w: the commitment is a SHA-256 (32 bytes)", ErrInvalid)
	case len(c.Sealed) == 0 || len(c.Sealed) > MaxCiphertext:
		return fmt.Errorf("%w: the sealed claim must be 1..%d bytes", ErrInvalid, MaxCiphertext)
	case len(c.PreAuths) > MaxPreAuths:
		return fmt.Errorf("%w: at most %d prior authorizations", ErrInvalid, MaxPreAuths)
	}
	for i, id := range c.PreAuths {
		if !recordIDPattern.MatchString(id) || slices.Contains(c.PreAuths[:i], id) || id == c.ID {
			return fmt.Errorf("%w: prior authorization %q is not a claim id, or named twice", ErrInvalid, id)
		}
	}
	return nil
}

// ClaimAdjudicate posts the adjudication of claim Claim: Outcome (plain:
// approved, partial, denied) and Sealed, the JSON of a seal.PartySealed
// holding the claims.Result, sealed to the claim's parties. ClaimHash is
// the SHA-256 of the sealed claim it decided, RulesVersion the version of
// the plan's rules it applied: the ledger checks both against the claim.
// Under rules with limits per year (claims/usage.go), PrevUsage is the
// commitment to the patient's usage of the plan that year it started from
// (empty for the year's first claim) and Usage the commitment to the usage
// after the claim; both are absent otherwise.
type ClaimAdjudicate struct {
	Claim        string `cbor:"1,keyasint"`
	ClaimHash    []byte `cbor:"2,keyasint"`
	RulesVersion uint64 `cbor:"3,keyasint"`
	Outcome      string `cbor:"4,keyasint"`
	Sealed       []byte `cbor:"5,keyasint"`
	PrevUsage    []byte `cbor:"6,keyasint,omitempty"`
	Usage        []byte `cbor:"7,keyasint,omitempty"`
}

// Validate implements Body.
func (a *ClaimAdjudicate) Validate() error {
	switch {
	case !recordIDPattern.MatchString(a.Claim):
		return fmt.Errorf("%w: claim id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, a.Claim)
	case len(a.ClaimHash) != 32 || a.RulesVersion == 0:
		return fmt.Errorf("%w: an adjudication names the claim's hash (32 bytes) and the rules version", ErrInvalid)
	case !claims.ValidOutcome(a.Outcome):
		return fmt.Errorf("%w: outcome %q: want approved, partial or denied", ErrInvalid, a.Outcome)
	case len(a.Sealed) == 0 || len(a.Sealed) > MaxCiphertext:
		return fmt.Errorf("%w: the sealed adjudication must be 1..%d bytes", ErrInvalid, MaxCiphertext)
	case len(a.Usage) != 0 && len(a.Usage) != 32 || len(a.PrevUsage) != 0 && (len(a.PrevUsage) != 32 || len(a.Usage) == 0):
		return fmt.Errorf("%w: usage commitments are SHA-256 hashes (32 bytes), the previous one only with the next", ErrInvalid)
	}
	return nil
}
