package tx

import (
	"fmt"
	"regexp"
)

// Enrolment in a clinical study and its randomization by commit-reveal
// (ledger/enrolment.go). Before the first enrolment the sponsor's admin
// commits the SHA-256 of a secret seed (StudyRandomization). A site's
// practitioner, or the patient, enrols the patient (StudyEnrol) once their
// node or device has found them eligible: the transaction names the
// patient only by their study consent's grant ID. At unblinding the
// sponsor reveals the seed (StudyUnblind), which the ledger checks against
// the commitment; anyone then recomputes every allocation (study.Allocate).
const (
	TypeStudyRandomization Type = "study.randomization"
	TypeStudyEnrol         Type = "study.enrol"
	TypeStudyUnblind       Type = "study.unblind"
)

func init() {
	register[StudyRandomization](TypeStudyRandomization)
	register[StudyEnrol](TypeStudyEnrol)
	register[StudyUnblind](TypeStudyUnblind)
}

// SeedSize is the size of a randomization seed.
const SeedSize = 32

var grantIDPattern = regexp.MustCompile(`^g-[0-9a-f]{12}$`)

// StudyRandomization commits study Study's randomization seed: SeedHash
// is its SHA-256.
type StudyRandomization struct {
	Study    string `cbor:"1,keyasint"`
	SeedHash []byte `cbor:"2,keyasint"`
}

// Validate implements Body.
func (r *StudyRandomization) Validate() error {
	if !recordIDPattern.MatchString(r.Study) || len(r.SeedHash) != 32 {
		return fmt.Errorf("%w: a randomization commitment names its study and the seed's SHA-256 (32 bytes)", ErrInvalid)
	}
	return nil
}

// StudyEnrol enrols in study Study the patient whose study consent is the
// grant Consent, found eligible by the criteria of protocol version
// Version. Eligible must be true: an ineligible patient is refused where
// the criteria ran, and nothing reaches the ledger.
type StudyEnrol struct {
	Study    string `cbor:"1,keyasint"`
	Consent  string `cbor:"2,keyasint"`
	Eligible bool   `cbor:"3,keyasint"`
	Version  uint64 `cbor:"4,keyasint"`
}

// Validate implements Body.
func (e *StudyEnrol) Validate() error {
	switch {
	case !recordIDPattern.MatchString(e.Study) || e.Version == 0:
		return fmt.Errorf("%w: an enrolment names its study and the protocol version whose criteria it checked", ErrInvalid)
	case !grantIDPattern.MatchString(e.Consent):
		return fmt.Errorf("%w: an enrolment names the patient's study consent by its grant id (g-…)", ErrInvalid)
	}
	return nil
}

// StudyUnblind reveals study Study's randomization seed.
type StudyUnblind struct {
	Study string `cbor:"1,keyasint"`
	Seed  []byte `cbor:"2,keyasint"`
}

// Validate implements Body.
func (u *StudyUnblind) Validate() error {
	if !recordIDPattern.MatchString(u.Study) || len(u.Seed) != SeedSize {
		return fmt.Errorf("%w: unblinding names its study and reveals its %d-byte seed", ErrInvalid, SeedSize)
	}
	return nil
}

// TypeStudyLock commits a study's dataset (ledger/studylock.go).
const TypeStudyLock Type = "study.lock"

func init() { register[StudyLock](TypeStudyLock) }

// StudyLock commits the dataset Name of study Study: Root is its Merkle
// root over Count resources (study.DatasetRoot), or, with Visits, the
// root of the study's locked visits over their Count records
// (ledger.VisitsRoot), which the ledger checks.
type StudyLock struct {
	Study  string `cbor:"1,keyasint"`
	Name   string `cbor:"2,keyasint"`
	Root   []byte `cbor:"3,keyasint"`
	Count  uint64 `cbor:"4,keyasint"`
	Visits bool   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body.
func (l *StudyLock) Validate() error {
	switch {
	case !recordIDPattern.MatchString(l.Study) || !recordIDPattern.MatchString(l.Name):
		return fmt.Errorf("%w: a data lock names its study and its dataset (1-64 of [a-z0-9._-])", ErrInvalid)
	case len(l.Root) != 32:
		return fmt.Errorf("%w: a data lock carries the dataset's Merkle root (32 bytes)", ErrInvalid)
	}
	return nil
}
