package tx

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
)

// Identities: principals are registered, rotate their keys and are revoked.
const (
	TypeRegister Type = "identity.register"
	TypeRotate   Type = "identity.rotate"
	TypeRevoke   Type = "identity.revoke"
	// TypeRotateEncryption replaces a reader's encryption key.
	TypeRotateEncryption Type = "identity.rotate-encryption"
)

func init() {
	register[Register](TypeRegister)
	register[Rotate](TypeRotate)
	register[Revoke](TypeRevoke)
	register[RotateEncryption](TypeRotateEncryption)
}

// Register adds a principal. Staff and nodes are registered by their
// organization's admin; patients by an admin or registration clerk of any
// organization, with the patient's own public key. A node's registration
// names its CometBFT node ID.
type Register struct {
	ID        string            `cbor:"1,keyasint"`
	Kind      carechain.Kind    `cbor:"2,keyasint"`
	Roles     []carechain.Role  `cbor:"3,keyasint,omitempty"`
	Name      string            `cbor:"4,keyasint,omitempty"`
	PublicKey ed25519.PublicKey `cbor:"5,keyasint"`
	// EncryptionKey is the principal's HPKE public key (seal.PublicKey bytes),
	// needed before records can be written for a patient.
	EncryptionKey []byte `cbor:"6,keyasint,omitempty"`
	// NodeID is the CometBFT node ID of a node (carechain.ValidateNodeID);
	// only node registrations carry one.
	NodeID string `cbor:"7,keyasint,omitempty"`
}

// Validate implements Body.
func (r *Register) Validate() error {
	if err := carechain.ValidatePrincipalID(r.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkKey(r.PublicKey); err != nil {
		return err
	}
	if len(r.Roles) > MaxRoles {
		return fmt.Errorf("%w: %d roles, limit %d", ErrInvalid, len(r.Roles), MaxRoles)
	}
	for _, role := range r.Roles {
		if !role.Valid() {
			return fmt.Errorf("%w: unknown role %q", ErrInvalid, role)
		}
	}
	if err := checkText("name", r.Name); err != nil {
		return err
	}
	if len(r.EncryptionKey) > MaxEncryptionKey {
		return fmt.Errorf("%w: encryption key over %d bytes", ErrInvalid, MaxEncryptionKey)
	}
	patientID := carechain.OrgOf(r.ID) == ""
	if r.Kind != carechain.KindNode && r.NodeID != "" {
		return fmt.Errorf("%w: only a node registration carries a node id", ErrInvalid)
	}
	switch r.Kind {
	case carechain.KindPatient:
		if !patientID {
			return fmt.Errorf("%w: patient id must start with %q", ErrInvalid, carechain.PatientPrefix)
		}
		// No personal data on the ledger: a patient is a pseudonym and a key.
		if r.Name != "" || len(r.Roles) > 0 {
			return fmt.Errorf("%w: a patient registration carries no name or roles", ErrInvalid)
		}
	case carechain.KindPractitioner, carechain.KindAdmin:
		if patientID {
			return fmt.Errorf("%w: staff id must be <org>/<name>", ErrInvalid)
		}
	case carechain.KindNode:
		if patientID {
			return fmt.Errorf("%w: node id must be <org>/<name>", ErrInvalid)
		}
		if err := carechain.ValidateNodeID(r.NodeID); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		// A node signs anchors and peers; it does no clinical work and
		// reads through its organization's key.
		if len(r.Roles) > 0 || len(r.EncryptionKey) > 0 {
			return fmt.Errorf("%w: a node registration carries no roles or encryption key", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, r.Kind)
	}
	return nil
}

// Rotate replaces the signer's key. It is signed with the current key, and
// Proof is a signature by the new key over RotationMessage, so nobody can
// rotate to a key they do not hold.
type Rotate struct {
	NewKey ed25519.PublicKey `cbor:"1,keyasint"`
	Proof  []byte            `cbor:"2,keyasint"`
	// NewEncryptionKey, if set, also replaces the principal's HPKE public key.
	NewEncryptionKey []byte `cbor:"3,keyasint,omitempty"`
}

// Validate implements Body.
func (r *Rotate) Validate() error {
	if err := checkKey(r.NewKey); err != nil {
		return err
	}
	if len(r.Proof) != ed25519.SignatureSize {
		return fmt.Errorf("%w: proof must be a %d-byte signature", ErrInvalid, ed25519.SignatureSize)
	}
	if len(r.NewEncryptionKey) > MaxEncryptionKey {
		return fmt.Errorf("%w: encryption key over %d bytes", ErrInvalid, MaxEncryptionKey)
	}
	return nil
}

// RotationMessage is what the new key signs in a Rotate: the chain, the
// principal and the nonce of the rotating transaction, so a proof cannot be
// replayed elsewhere.
func RotationMessage(chainID, principal string, nonce uint64, newKey ed25519.PublicKey) []byte {
	return fmt.Appendf(nil, "carechain/rotate/v1\x00%s\x00%s\x00%d\x00%x", chainID, principal, nonce, []byte(newKey))
}

// Revoke revokes a principal's key. The principal can revoke their own key; an
// organization's admin can revoke the keys of its staff.
type Revoke struct {
	ID     string `cbor:"1,keyasint"`
	Reason string `cbor:"2,keyasint,omitempty"`
}

// Validate implements Body.
func (r *Revoke) Validate() error {
	if err := carechain.ValidatePrincipalID(r.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return checkText("reason", r.Reason)
}

// RotateEncryption replaces a reader's encryption key (an HPKE public key,
// seal.PublicKey bytes): an organization's, signed by one of its admins (Org
// set), or the signer's own, a patient's (Org empty). Records written after
// it go to new epochs wrapped to the new key: the ledger refuses a record
// written into an epoch wrapped to the reader's old key. Versions written
// before stay under the old key, which the reader keeps to read them.
//
// Rotate's NewEncryptionKey also replaces a principal's key, but only this
// type marks the change for epochs begun before wraps carried key IDs.
type RotateEncryption struct {
	Org              string `cbor:"1,keyasint,omitempty"`
	NewEncryptionKey []byte `cbor:"2,keyasint"`
}

// Validate implements Body.
func (r *RotateEncryption) Validate() error {
	if r.Org != "" {
		if err := carechain.ValidateOrgID(r.Org); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if len(r.NewEncryptionKey) == 0 || len(r.NewEncryptionKey) > MaxEncryptionKey {
		return fmt.Errorf("%w: a new encryption key of 1 to %d bytes is required", ErrInvalid, MaxEncryptionKey)
	}
	return nil
}

// TypeSetRoles changes a practitioner's roles.
const TypeSetRoles Type = "identity.roles"

func init() { register[SetRoles](TypeSetRoles) }

// SetRoles replaces the roles of a practitioner: signed by an admin of
// their organization. Access already granted to the practitioner by name
// is unchanged; what their roles allow changes from its block on.
type SetRoles struct {
	ID    string           `cbor:"1,keyasint"`
	Roles []carechain.Role `cbor:"2,keyasint"`
}

// Validate implements Body.
func (r *SetRoles) Validate() error {
	if err := carechain.ValidatePrincipalID(r.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(r.Roles) > MaxRoles {
		return fmt.Errorf("%w: %d roles, limit %d", ErrInvalid, len(r.Roles), MaxRoles)
	}
	for i, role := range r.Roles {
		if !role.Valid() || slices.Contains(r.Roles[:i], role) {
			return fmt.Errorf("%w: unknown or repeated role %q", ErrInvalid, role)
		}
	}
	return nil
}
