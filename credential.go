package carechain

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// CredentialKind is what a practitioner's credential attests.
type CredentialKind string

// Credential kinds known to the ledger.
const (
	// CredentialLicence is a licence to practise; its value is the licence number.
	CredentialLicence CredentialKind = "licence"
	// CredentialBoardCertification is a board certification; its value names the board's field.
	CredentialBoardCertification CredentialKind = "board-certification"
	// CredentialSpecialty is a recognised specialty, such as "cardiology".
	CredentialSpecialty CredentialKind = "specialty"
)

var credentialKinds = []CredentialKind{CredentialLicence, CredentialBoardCertification, CredentialSpecialty}

// CredentialKinds lists every valid credential kind.
func CredentialKinds() []CredentialKind { return slices.Clone(credentialKinds) }

// Valid reports whether k is a known credential kind.
func (k CredentialKind) Valid() bool { return slices.Contains(credentialKinds, k) }

// credentialValuePattern bounds a credential's value: a specialty name or a
// licence number, never free text about a person.
var credentialValuePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$`)

// ValidateCredentialValue checks the syntax of a credential's value.
func ValidateCredentialValue(v string) error {
	if !credentialValuePattern.MatchString(v) {
		return fmt.Errorf("credential value %q: want 1-64 of [A-Za-z0-9 ._/-], starting with a letter or digit", v)
	}
	return nil
}

// Credential is a practitioner's credential as the ledger keeps it. It is
// public, like the practitioner's registration: it names no patient.
type Credential struct {
	ID           string         `cbor:"1,keyasint" json:"id"`
	Practitioner string         `cbor:"2,keyasint" json:"practitioner"`
	Kind         CredentialKind `cbor:"3,keyasint" json:"kind"`
	Value        string         `cbor:"4,keyasint" json:"value"`
	// IssuerOrg is the organization that issued it; Issuer the principal
	// (its admin or a credentialing officer) who signed the issue.
	IssuerOrg string `cbor:"5,keyasint" json:"issuer_org"`
	Issuer    string `cbor:"6,keyasint" json:"issuer"`
	ValidFrom int64  `cbor:"7,keyasint" json:"valid_from"`            // unix seconds
	Expiry    int64  `cbor:"8,keyasint,omitempty" json:"expiry"`      // unix seconds; 0: none
	Height    int64  `cbor:"9,keyasint" json:"height"`                // issued at this height
	IssuedAt  int64  `cbor:"10,keyasint" json:"issued_at"`            // block time, unix seconds
	RevokedAt int64  `cbor:"11,keyasint,omitempty" json:"revoked_at"` // height; 0 if not revoked
	// RevokedTime is the block time of the revocation, unix seconds.
	RevokedTime  int64  `cbor:"12,keyasint,omitempty" json:"revoked_time,omitempty"`
	RevokedBy    string `cbor:"13,keyasint,omitempty" json:"revoked_by,omitempty"`
	RevokeReason string `cbor:"14,keyasint,omitempty" json:"revoke_reason,omitempty"`
}

// Credential states, as Credential.Status reports them.
const (
	CredentialActive  = "active"
	CredentialRevoked = "revoked"
	CredentialExpired = "expired"
	CredentialNotYet  = "not-yet-valid"
)

// Status is the credential's state at unix time now: revoked (from the
// height that revoked it), expired (from its expiry on), not yet valid, or
// active; with a sentence saying why it is not active.
func (c *Credential) Status(now int64) (status, why string) {
	switch {
	case c.RevokedAt != 0:
		why = fmt.Sprintf("credential %s was revoked at height %d by %s", c.ID, c.RevokedAt, c.RevokedBy)
		if c.RevokeReason != "" {
			why += ": " + c.RevokeReason
		}
		return CredentialRevoked, why
	case c.Expiry != 0 && now >= c.Expiry:
		return CredentialExpired, fmt.Sprintf("credential %s expired at %s", c.ID, unixUTC(c.Expiry))
	case now < c.ValidFrom:
		return CredentialNotYet, fmt.Sprintf("credential %s is not valid before %s", c.ID, unixUTC(c.ValidFrom))
	}
	return CredentialActive, ""
}

func unixUTC(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }
