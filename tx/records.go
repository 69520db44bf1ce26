package tx

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"

	"github.com/carechain/carechain"
)

// Records: versions of encrypted FHIR resources.
const (
	TypeRecordPut   Type = "record.put"
	TypeRecordBatch Type = "record.batch"
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
	// Books are the ids of the Slots (organization records) an Appointment
	// version holds: the ledger books them for this record, refusing a Slot
	// another record holds or that is not free, and frees those an earlier
	// version held that this one does not name (ledger/booking.go).
	Books []string `cbor:"12,keyasint,omitempty"`
	// Supply is a MedicationRequest version's dispense allowance, in
	// thousandths of its quantity's unit: dispenseRequest.quantity times
	// one plus numberOfRepeatsAllowed, 0 once it is stopped, cancelled,
	// completed or in error. None: it states no quantity, and nothing is
	// dispensed against it (ledger/dispensing.go).
	Supply *int64 `cbor:"13,keyasint,omitempty"`
	// Dispense is what a MedicationDispense version dispenses against a
	// prescription (a MedicationRequest record of the same patient); none
	// for one that is cancelled, declined or in error, or names none.
	Dispense *Dispense `cbor:"14,keyasint,omitempty"`
	// Order is what a ServiceRequest version orders of another
	// organization while it is open; none once it is completed, revoked or
	// entered in error, which closes the order (tx/orders.go,
	// ledger/orders.go).
	Order *Order `cbor:"15,keyasint,omitempty"`
	// BasedOn is the order (a ServiceRequest record of the same patient) a
	// result version answers: the ledger refuses it once the order is
	// closed, and lets the order's performer write it while it is open.
	BasedOn string `cbor:"16,keyasint,omitempty"`
	// Rotations start new epochs for the categories whose readers shrink
	// when this ServiceRequest version closes an order, as a revocation's do.
	Rotations []NewEpoch `cbor:"17,keyasint,omitempty"`
	// Blob is the sealed content of a Binary version, kept off the ledger
	// (carechain.BlobRef): the ledger records that this version names it
	// (ledger/blobs.go), so every node can fetch and check a copy.
	Blob *carechain.BlobRef `cbor:"18,keyasint,omitempty"`
}

// Dispense is a quantity dispensed against a prescription.
type Dispense struct {
	Prescription string `cbor:"1,keyasint"`
	// Quantity is in thousandths of the prescription's quantity unit.
	Quantity int64 `cbor:"2,keyasint"`
}

// MaxBooks bounds the Slots one Appointment version holds.
const MaxBooks = 16

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
	if err := r.validateBooks(); err != nil {
		return err
	}
	if err := r.validateSupply(); err != nil {
		return err
	}
	if err := r.validateOrder(); err != nil {
		return err
	}
	if err := r.validateBlob(); err != nil {
		return err
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

// validateBooks checks Books: only an Appointment that is not deleted
// books Slots, at most MaxBooks distinct ids.
func (r *RecordPut) validateBooks() error {
	if len(r.Books) == 0 {
		return nil
	}
	if r.ResourceType != "Appointment" || r.Deleted || len(r.Books) > MaxBooks {
		return fmt.Errorf("%w: only an Appointment that is not deleted books Slots, at most %d", ErrInvalid, MaxBooks)
	}
	for i, id := range r.Books {
		if !recordIDPattern.MatchString(id) || slices.Contains(r.Books[:i], id) {
			return fmt.Errorf("%w: booked Slot id %q is not an id, or named twice", ErrInvalid, id)
		}
	}
	return nil
}

// validateSupply checks Supply and Dispense: each only on its type, not
// on a deletion, never negative; a dispense of something, against a
// record id.
func (r *RecordPut) validateSupply() error {
	if r.Supply != nil && (r.ResourceType != "MedicationRequest" || r.Deleted || *r.Supply < 0) {
		return fmt.Errorf("%w: only a MedicationRequest that is not deleted states a supply, not below 0", ErrInvalid)
	}
	if d := r.Dispense; d != nil && (r.ResourceType != "MedicationDispense" || r.Deleted || d.Quantity <= 0 || !recordIDPattern.MatchString(d.Prescription)) {
		return fmt.Errorf("%w: only a MedicationDispense that is not deleted dispenses, a quantity above 0 against a prescription's record id", ErrInvalid)
	}
	return nil
}

// validateBlob checks Blob: only a Binary that is not deleted names one, a
// SHA-256 hash and a size within carechain.MaxSealedBlobBytes.
func (r *RecordPut) validateBlob() error {
	b := r.Blob
	if b == nil {
		return nil
	}
	if r.ResourceType != "Binary" || r.Deleted || len(b.Hash) != sha256.Size || b.Size <= 0 || b.Size > carechain.MaxSealedBlobBytes {
		return fmt.Errorf("%w: only a Binary that is not deleted names a blob: a SHA-256 hash and a size of 1 to %d bytes", ErrInvalid, carechain.MaxSealedBlobBytes)
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

func init() {
	register[RecordPut](TypeRecordPut)
	register[RecordBatch](TypeRecordBatch)
}
