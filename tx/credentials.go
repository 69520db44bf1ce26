package tx

import (
	"fmt"

	"github.com/carechain/carechain"
)

// Practitioners' credentials (carechain.Credential). A licensing body's or
// a hospital's admin, or its credentialing officer, issues a credential
// (CredentialIssue) to a registered practitioner and revokes it
// (CredentialRevoke); both are public, like the practitioner's
// registration.
const (
	TypeCredentialIssue  Type = "credential.issue"
	TypeCredentialRevoke Type = "credential.revoke"
)

func init() {
	register[CredentialIssue](TypeCredentialIssue)
	register[CredentialRevoke](TypeCredentialRevoke)
}

// CredentialIssue issues credential ID to Practitioner: Kind and Value
// (a specialty such as "cardiology", a licence number), valid from
// ValidFrom until Expiry (unix seconds; 0: no expiry). The issuer is the
// signer's organization.
type CredentialIssue struct {
	ID           string                   `cbor:"1,keyasint"`
	Practitioner string                   `cbor:"2,keyasint"`
	Kind         carechain.CredentialKind `cbor:"3,keyasint"`
	Value        string                   `cbor:"4,keyasint"`
	ValidFrom    int64                    `cbor:"5,keyasint"`
	Expiry       int64                    `cbor:"6,keyasint,omitempty"`
}

// Validate implements Body.
func (c *CredentialIssue) Validate() error {
	switch {
	case !recordIDPattern.MatchString(c.ID):
		return fmt.Errorf("%w: credential id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, c.ID)
	case carechain.ValidatePrincipalID(c.Practitioner) != nil || carechain.OrgOf(c.Practitioner) == "":
		return fmt.Errorf("%w: %q is not a practitioner id (<org>/<name>)", ErrInvalid, c.Practitioner)
	case !c.Kind.Valid():
		return fmt.Errorf("%w: credential kind %q: want one of %v", ErrInvalid, c.Kind, carechain.CredentialKinds())
	case c.ValidFrom <= 0 || c.Expiry != 0 && c.Expiry <= c.ValidFrom:
		return fmt.Errorf("%w: a credential is valid from a time (unix seconds > 0) and expires after it, if at all", ErrInvalid)
	}
	if err := carechain.ValidateCredentialValue(c.Value); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// CredentialRevoke revokes credential ID from the height that commits it,
// for Reason (shown to whoever the revocation refuses).
type CredentialRevoke struct {
	ID     string `cbor:"1,keyasint"`
	Reason string `cbor:"2,keyasint"`
}

// Validate implements Body.
func (c *CredentialRevoke) Validate() error {
	if !recordIDPattern.MatchString(c.ID) {
		return fmt.Errorf("%w: credential id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, c.ID)
	}
	if c.Reason == "" {
		return fmt.Errorf("%w: a revocation gives its reason", ErrInvalid)
	}
	return checkText("reason", c.Reason)
}
