package tx

import (
	"crypto/sha256"
	"fmt"
	"regexp"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

var (
	recordIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	categoryPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// KeyWrap is an epoch key wrapped (seal.WrapEpochKey) to one reader: a
// patient (principal ID) or an organization (organization ID).
type KeyWrap struct {
	Reader  string `cbor:"1,keyasint"`
	Wrapped []byte `cbor:"2,keyasint"`
}

// NewEpoch starts epoch Epoch of a patient's category: a fresh epoch key,
// wrapped to every reader.
type NewEpoch struct {
	Category string    `cbor:"1,keyasint"`
	Epoch    uint32    `cbor:"2,keyasint"`
	Wraps    []KeyWrap `cbor:"3,keyasint"`
}

func (e *NewEpoch) validate() error {
	if !categoryPattern.MatchString(e.Category) || e.Epoch == 0 {
		return fmt.Errorf("%w: new epoch needs a category and an epoch >= 1", ErrInvalid)
	}
	if len(e.Wraps) == 0 || len(e.Wraps) > MaxWraps {
		return fmt.Errorf("%w: new epoch needs 1-%d wraps", ErrInvalid, MaxWraps)
	}
	seen := map[string]bool{}
	for _, w := range e.Wraps {
		if w.Reader == "" || len(w.Reader) > 128 || len(w.Wrapped) == 0 || len(w.Wrapped) > MaxWrapBytes || seen[w.Reader] {
			return fmt.Errorf("%w: bad or duplicate wrap for reader %q", ErrInvalid, w.Reader)
		}
		seen[w.Reader] = true
	}
	return nil
}

// RecordPut writes version Version of a record: a FHIR resource for Patient,
// encrypted (seal.Seal) under a data key that is wrapped under the patient's
// epoch key for Category. Version 1 creates the record.
type RecordPut struct {
	RecordID     string `cbor:"1,keyasint"`
	Version      uint64 `cbor:"2,keyasint"`
	Patient      string `cbor:"3,keyasint"`
	Category     string `cbor:"4,keyasint"`
	ResourceType string `cbor:"5,keyasint"`
	Epoch        uint32 `cbor:"6,keyasint"`
	// NewEpoch, if set, starts Epoch with fresh wraps (required when the
	// author's organization cannot read the current epoch, or there is none).
	NewEpoch       *NewEpoch `cbor:"7,keyasint,omitempty"`
	CiphertextHash []byte    `cbor:"8,keyasint"`
	Ciphertext     []byte    `cbor:"9,keyasint"`
	WrappedKey     []byte    `cbor:"10,keyasint"`
	// Deleted marks a version that deletes the record (FHIR delete): later
	// reads say it is gone; earlier versions stay.
	Deleted bool `cbor:"11,keyasint,omitempty"`
}

// Validate implements Body.
func (r *RecordPut) Validate() error {
	if !recordIDPattern.MatchString(r.RecordID) {
		return fmt.Errorf("%w: record id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, r.RecordID)
	}
	if r.Version == 0 || r.Epoch == 0 {
		return fmt.Errorf("%w: version and epoch start at 1", ErrInvalid)
	}
	if carechain.OrgOf(r.Patient) != "" || carechain.ValidatePrincipalID(r.Patient) != nil {
		return fmt.Errorf("%w: %q is not a patient id", ErrInvalid, r.Patient)
	}
	if !categoryPattern.MatchString(r.Category) {
		return fmt.Errorf("%w: category %q", ErrInvalid, r.Category)
	}
	if r.ResourceType == "" || len(r.ResourceType) > 64 {
		return fmt.Errorf("%w: resource type required", ErrInvalid)
	}
	if len(r.Ciphertext) == 0 || len(r.Ciphertext) > MaxCiphertext || len(r.WrappedKey) == 0 || len(r.WrappedKey) > MaxWrapBytes {
		return fmt.Errorf("%w: ciphertext must be 1..%d bytes with a wrapped key", ErrInvalid, MaxCiphertext)
	}
	if sum := sha256.Sum256(r.Ciphertext); string(sum[:]) != string(r.CiphertextHash) {
		return fmt.Errorf("%w: ciphertext hash does not match the ciphertext", ErrInvalid)
	}
	if r.NewEpoch != nil {
		if err := r.NewEpoch.validate(); err != nil {
			return err
		}
		if r.NewEpoch.Category != r.Category || r.NewEpoch.Epoch != r.Epoch {
			return fmt.Errorf("%w: new epoch must be the record's category and epoch", ErrInvalid)
		}
	}
	return nil
}

// RecordBatch writes several record versions atomically: all are committed
// in this transaction, or none (a FHIR transaction Bundle).
type RecordBatch struct {
	Puts []RecordPut `cbor:"1,keyasint"`
}

// Validate implements Body.
func (b *RecordBatch) Validate() error {
	if len(b.Puts) == 0 || len(b.Puts) > MaxBatch {
		return fmt.Errorf("%w: a batch holds 1-%d record versions", ErrInvalid, MaxBatch)
	}
	for i := range b.Puts {
		if err := b.Puts[i].Validate(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
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
	c.Grant.ID = "pending" // Grant.Validate wants an ID; restored below
	err := c.Grant.Validate()
	c.Grant.ID = ""
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Grant.Revoked || c.Grant.RevokedAt != 0 {
		return fmt.Errorf("%w: a new grant cannot be revoked", ErrInvalid)
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
	if len(c.Rotations) > 64 {
		return fmt.Errorf("%w: too many rotations", ErrInvalid)
	}
	seen := map[string]bool{}
	for i := range c.Rotations {
		if err := c.Rotations[i].validate(); err != nil {
			return err
		}
		if seen[c.Rotations[i].Category] {
			return fmt.Errorf("%w: category %q rotated twice", ErrInvalid, c.Rotations[i].Category)
		}
		seen[c.Rotations[i].Category] = true
	}
	return nil
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
	return (&ConsentRevoke{GrantID: "delegate", Rotations: d.Rotations}).Validate()
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

// SealedEvent is one access event, its details encrypted to the patient.
type SealedEvent struct {
	ID      string `cbor:"1,keyasint"` // unique per node: <node>-<sequence>
	Patient string `cbor:"2,keyasint"`
	Time    int64  `cbor:"3,keyasint"` // unix milliseconds, when the node saw the access
	Sealed  []byte `cbor:"4,keyasint"` // HPKE to the patient's encryption key
}

// AuditAnchor puts a batch of a node's access events on the ledger.
type AuditAnchor struct {
	Node   string        `cbor:"1,keyasint"`
	Events []SealedEvent `cbor:"2,keyasint"`
}

// Validate implements Body.
func (a *AuditAnchor) Validate() error {
	if a.Node == "" || len(a.Node) > 64 || len(a.Events) == 0 || len(a.Events) > MaxAuditEvents {
		return fmt.Errorf("%w: anchor needs a node and 1-%d events", ErrInvalid, MaxAuditEvents)
	}
	for _, e := range a.Events {
		if e.ID == "" || len(e.ID) > 128 || carechain.OrgOf(e.Patient) != "" || len(e.Sealed) == 0 || len(e.Sealed) > 16<<10 {
			return fmt.Errorf("%w: bad audit event %q", ErrInvalid, e.ID)
		}
	}
	return nil
}
