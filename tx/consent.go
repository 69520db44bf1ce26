package tx

import (
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

// Consent: grants, revocations, delegates and emergency (break-glass) access.

const (
	TypeConsentGrant    Type = "consent.grant"
	TypeConsentRevoke   Type = "consent.revoke"
	TypeConsentReplace  Type = "consent.replace"
	TypeConsentDelegate Type = "consent.delegate"
	TypeEmergencySet    Type = "emergency.set"
	TypeEmergencyInvoke Type = "emergency.invoke"
	TypeEmergencyClear  Type = "emergency.clear"
)

func init() {
	register[ConsentGrant](TypeConsentGrant)
	register[ConsentRevoke](TypeConsentRevoke)
	register[ConsentReplace](TypeConsentReplace)
	register[ConsentDelegate](TypeConsentDelegate)
	register[EmergencySet](TypeEmergencySet)
	register[EmergencyInvoke](TypeEmergencyInvoke)
	register[EmergencyClear](TypeEmergencyClear)
}

// CategoryWrap delivers the current epoch key of one category to a grantee.
type CategoryWrap struct {
	Category string `cbor:"1,keyasint"`
	Epoch    uint32 `cbor:"2,keyasint"`
	Wrapped  []byte `cbor:"3,keyasint"`
}

// ConsentGrant is a patient's consent. The ledger assigns the grant's ID.
// Wraps deliver the current epoch keys of the granted categories to the
// grantee's organization, so it can decrypt what the consent allows it to read.
type ConsentGrant struct {
	Grant consent.Grant  `cbor:"1,keyasint"`
	Wraps []CategoryWrap `cbor:"2,keyasint,omitempty"`
}

// Validate implements Body.
func (c *ConsentGrant) Validate() error {
	if c.Grant.ID != "" {
		return fmt.Errorf("%w: the ledger assigns grant ids", ErrInvalid)
	}
	if err := c.Grant.ValidateTerms(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Grant.Revoked || c.Grant.RevokedAt != 0 {
		return fmt.Errorf("%w: a new grant cannot be revoked", ErrInvalid)
	}
	if c.Grant.Order != "" || len(c.Grant.Records) > 0 {
		return fmt.Errorf("%w: the ledger makes an order's grant when the order opens", ErrInvalid)
	}
	return validateCategoryWraps(c.Wraps)
}

func validateCategoryWraps(ws []CategoryWrap) error {
	if len(ws) > MaxWraps {
		return fmt.Errorf("%w: over %d wraps", ErrInvalid, MaxWraps)
	}
	seen := map[string]bool{}
	for _, w := range ws {
		if !categoryPattern.MatchString(w.Category) || w.Epoch == 0 || len(w.Wrapped) == 0 || len(w.Wrapped) > MaxWrapBytes || seen[w.Category] {
			return fmt.Errorf("%w: bad or duplicate wrap for category %q", ErrInvalid, w.Category)
		}
		seen[w.Category] = true
	}
	return nil
}

// ConsentRevoke revokes a grant. Rotations start new epochs for the
// categories the grantee could read, wrapped only to the remaining readers, so
// versions written from now on are unreadable to the revoked party.
type ConsentRevoke struct {
	GrantID   string     `cbor:"1,keyasint"`
	Rotations []NewEpoch `cbor:"2,keyasint,omitempty"`
	// Patient whose grant it is; empty means the signer (a delegate names the patient).
	Patient string `cbor:"3,keyasint,omitempty"`
}

// Validate implements Body.
func (c *ConsentRevoke) Validate() error {
	if c.GrantID == "" || len(c.GrantID) > 64 {
		return fmt.Errorf("%w: grant id required", ErrInvalid)
	}
	return validateRotations(c.Rotations)
}

// validateRotations checks the new epochs a change that shrinks the readers
// of a patient's categories carries: at most one per category.
func validateRotations(rs []NewEpoch) error {
	if len(rs) > 64 {
		return fmt.Errorf("%w: too many rotations", ErrInvalid)
	}
	seen := map[string]bool{}
	for i := range rs {
		if err := rs[i].validate(); err != nil {
			return err
		}
		if seen[rs[i].Category] {
			return fmt.Errorf("%w: category %q rotated twice", ErrInvalid, rs[i].Category)
		}
		seen[rs[i].Category] = true
	}
	return nil
}

// ConsentReplace replaces a grant with another in one transaction: Revoke
// revokes the old grant and Grant makes the new one (the ledger gives it a
// new ID), or neither happens. Grant.Wraps deliver keys to the new grantee;
// Revoke.Rotations start new epochs for the old grant's categories whose
// readers shrink once the new grant is in force, as a revocation's do.
type ConsentReplace struct {
	Revoke ConsentRevoke `cbor:"1,keyasint"`
	Grant  ConsentGrant  `cbor:"2,keyasint"`
}

// Validate implements Body.
func (c *ConsentReplace) Validate() error {
	if err := c.Revoke.Validate(); err != nil {
		return err
	}
	return c.Grant.Validate()
}

// ConsentDelegate names (or, with Revoke, removes) a delegate who may grant
// and revoke consent on the patient's behalf: a person registered with their
// own key, such as a carer. Only the patient signs it. Wraps deliver the
// current epoch keys to the delegate, who needs them to share records;
// revoking a delegate rotates the keys they held (Rotations).
type ConsentDelegate struct {
	Delegate  string         `cbor:"1,keyasint"`
	Revoke    bool           `cbor:"2,keyasint,omitempty"`
	Wraps     []CategoryWrap `cbor:"3,keyasint,omitempty"`
	Rotations []NewEpoch     `cbor:"4,keyasint,omitempty"`
}

// Validate implements Body.
func (d *ConsentDelegate) Validate() error {
	if carechain.OrgOf(d.Delegate) != "" || carechain.ValidatePrincipalID(d.Delegate) != nil {
		return fmt.Errorf("%w: a delegate is a person with their own key (patient/<id>)", ErrInvalid)
	}
	if d.Revoke && len(d.Wraps) > 0 || !d.Revoke && len(d.Rotations) > 0 {
		return fmt.Errorf("%w: naming a delegate carries wraps; revoking one carries rotations", ErrInvalid)
	}
	if err := validateCategoryWraps(d.Wraps); err != nil {
		return err
	}
	return validateRotations(d.Rotations)
}

// EmergencySet is the patient's break-glass rule. Wraps deliver the current
// epoch keys to the organizations the rule admits (escrow), so emergency
// access can be granted at once without the patient.
type EmergencySet struct {
	Rule  consent.EmergencyRule `cbor:"1,keyasint"`
	Wraps []EscrowWrap          `cbor:"2,keyasint,omitempty"`
}

// EscrowWrap is one epoch key wrapped to one organization.
type EscrowWrap struct {
	Category string `cbor:"1,keyasint"`
	Epoch    uint32 `cbor:"2,keyasint"`
	Org      string `cbor:"3,keyasint"`
	Wrapped  []byte `cbor:"4,keyasint"`
}

// Validate implements Body.
func (e *EmergencySet) Validate() error {
	if err := e.Rule.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(e.Wraps) > MaxWraps {
		return fmt.Errorf("%w: over %d wraps", ErrInvalid, MaxWraps)
	}
	for _, w := range e.Wraps {
		if !categoryPattern.MatchString(w.Category) || w.Epoch == 0 || carechain.ValidateOrgID(w.Org) != nil || len(w.Wrapped) == 0 || len(w.Wrapped) > MaxWrapBytes {
			return fmt.Errorf("%w: bad escrow wrap", ErrInvalid)
		}
	}
	return nil
}

// EmergencyInvoke asks for break-glass access to a patient's records under
// the patient's rule. The reason usually speaks of the patient's condition,
// so it travels sealed to the patient (SealedReason, see records): the
// ledger sees only that one was given.
type EmergencyInvoke struct {
	Patient      string `cbor:"1,keyasint"`
	SealedReason []byte `cbor:"2,keyasint,omitempty"`
}

// Validate implements Body.
func (e *EmergencyInvoke) Validate() error {
	if carechain.OrgOf(e.Patient) != "" || carechain.ValidatePrincipalID(e.Patient) != nil {
		return fmt.Errorf("%w: %q is not a patient id", ErrInvalid, e.Patient)
	}
	if len(e.SealedReason) > 8<<10 {
		return fmt.Errorf("%w: sealed reason over 8 KiB", ErrInvalid)
	}
	return nil
}

// EmergencyClear removes the patient's break-glass rule: from its commit no
// one can invoke emergency access (grants already made run their course).
// Rotations start new epochs for the categories whose readers shrink once
// the organizations holding their keys in escrow for the rule no longer must.
type EmergencyClear struct {
	Rotations []NewEpoch `cbor:"1,keyasint,omitempty"`
}

// Validate implements Body.
func (e *EmergencyClear) Validate() error { return validateRotations(e.Rotations) }
