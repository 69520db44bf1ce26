package tx

import (
	"fmt"
	"strings"
)

// TypeStudyVisitLock locks the case report data of one visit of one study
// subject (ledger/studyvisit.go): from its height every change of those
// records is an amendment approved by the study's sponsor and ethics board.
const TypeStudyVisitLock Type = "study.visit-lock"

func init() { register[StudyVisitLock](TypeStudyVisitLock) }

// MaxVisitRecords bounds the records one visit lock names.
const MaxVisitRecords = 256

// VisitRecord is one record of a locked visit, at the version locked.
type VisitRecord struct {
	ID      string `cbor:"1,keyasint" json:"id"`
	Version uint64 `cbor:"2,keyasint" json:"version"`
}

// StudyVisitLock locks visit Visit of subject Subject (the enrolment's
// number) of study Study: Records, sorted by ID, each at its latest
// version.
type StudyVisitLock struct {
	Study   string        `cbor:"1,keyasint"`
	Subject uint64        `cbor:"2,keyasint"`
	Visit   string        `cbor:"3,keyasint"`
	Records []VisitRecord `cbor:"4,keyasint"`
}

// Validate implements Body.
func (l *StudyVisitLock) Validate() error {
	switch {
	case !recordIDPattern.MatchString(l.Study) || l.Subject == 0:
		return fmt.Errorf("%w: a visit lock names its study and the subject's number", ErrInvalid)
	case !recordIDPattern.MatchString(l.Visit):
		return fmt.Errorf("%w: visit %q: want 1-64 of [a-z0-9._-]", ErrInvalid, l.Visit)
	case len(l.Records) == 0 || len(l.Records) > MaxVisitRecords:
		return fmt.Errorf("%w: a visit lock names 1 to %d records", ErrInvalid, MaxVisitRecords)
	}
	for i, r := range l.Records {
		switch {
		case !recordIDPattern.MatchString(r.ID) || r.Version == 0:
			return fmt.Errorf("%w: record %d of the visit: an id and a version", ErrInvalid, i)
		case i > 0 && strings.Compare(l.Records[i-1].ID, r.ID) >= 0:
			return fmt.Errorf("%w: the records of a visit lock are sorted by id, each once", ErrInvalid)
		}
	}
	return nil
}
