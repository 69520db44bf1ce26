package tx

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain/consent"
)

// Access requests: a practitioner asks a patient for access (categories and
// purposes, with a reason sealed to the patient); the patient answers,
// granting through an ordinary consent.grant or declining. A request holds
// no health data: the ledger sees who asked whom for which categories and
// purposes; the reason is sealed to the patient.

const (
	TypeAccessRequest Type = "access.request"
	TypeAccessAnswer  Type = "access.answer"
)

func init() {
	register[AccessRequest](TypeAccessRequest)
	register[AccessAnswer](TypeAccessAnswer)
}

// MaxSealedReasonBytes bounds a sealed reason: a consent.MaxReasonLen text
// sealed to one reader, with room for the envelope.
const MaxSealedReasonBytes = consent.MaxReasonLen + 4096

// MaxRequestCategories bounds the categories one request names.
const MaxRequestCategories = 32

// AccessRequest is a practitioner's request for access to a patient's
// records. The ledger assigns its ID.
type AccessRequest struct {
	Patient      string            `cbor:"1,keyasint"`
	Categories   []string          `cbor:"2,keyasint"`
	Purposes     []consent.Purpose `cbor:"3,keyasint"`
	SealedReason []byte            `cbor:"4,keyasint,omitempty"`
}

// Validate implements Body.
func (r *AccessRequest) Validate() error {
	if r.Patient == "" || len(r.Patient) > 128 {
		return fmt.Errorf("%w: patient required", ErrInvalid)
	}
	if len(r.Categories) == 0 || len(r.Categories) > MaxRequestCategories {
		return fmt.Errorf("%w: 1 to %d categories", ErrInvalid, MaxRequestCategories)
	}
	for i, c := range r.Categories {
		if !categoryPattern.MatchString(c) || slices.Contains(r.Categories[:i], c) {
			return fmt.Errorf("%w: bad or duplicate category %q", ErrInvalid, c)
		}
	}
	if len(r.Purposes) == 0 || len(r.Purposes) > 4 {
		return fmt.Errorf("%w: 1 to 4 purposes", ErrInvalid)
	}
	for _, p := range r.Purposes {
		if !p.Valid() || p == consent.PurposeEmergency {
			return fmt.Errorf("%w: purpose %q cannot be requested (emergency access is break-glass)", ErrInvalid, p)
		}
	}
	if len(r.SealedReason) > MaxSealedReasonBytes {
		return fmt.Errorf("%w: sealed reason over %d bytes", ErrInvalid, MaxSealedReasonBytes)
	}
	return nil
}

// Answers to an access request.
const (
	AnswerGranted  = "granted"
	AnswerDeclined = "declined"
)

// AccessAnswer closes an open access request of Patient: granted (by the
// patient's grant GrantID, made before) or declined.
type AccessAnswer struct {
	Patient   string `cbor:"1,keyasint"`
	RequestID string `cbor:"2,keyasint"`
	Answer    string `cbor:"3,keyasint"`
	GrantID   string `cbor:"4,keyasint,omitempty"`
}

// Validate implements Body.
func (a *AccessAnswer) Validate() error {
	switch {
	case a.Patient == "" || len(a.Patient) > 128 || a.RequestID == "" || len(a.RequestID) > 64 || len(a.GrantID) > 64:
		return fmt.Errorf("%w: patient and request id required", ErrInvalid)
	case a.Answer == AnswerGranted && a.GrantID == "":
		return fmt.Errorf("%w: a granted request names its grant", ErrInvalid)
	case a.Answer == AnswerDeclined && a.GrantID != "":
		return fmt.Errorf("%w: a declined request names no grant", ErrInvalid)
	case a.Answer != AnswerGranted && a.Answer != AnswerDeclined:
		return fmt.Errorf("%w: answer %q, want %s or %s", ErrInvalid, a.Answer, AnswerGranted, AnswerDeclined)
	}
	return nil
}
