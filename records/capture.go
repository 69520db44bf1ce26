package records

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
)

// checkCapture refuses case report data (a resource naming a study, a
// subject and a visit: study.CaptureOf) that do not name all three
// consistently, that are about another patient than the subject's, or
// that start a record for a subject who is not enrolled or withdrew. A
// version of an existing record may still follow a withdrawal: what was
// recorded before stays in the study's data, and so do its corrections.
// The names are inside the sealed resource, so the ledger cannot check
// them: the writing node does, for every write path (FHIR, the CLI).
func checkCapture(v *ledger.View, patient string, version uint64, canonical []byte) error {
	if !bytes.Contains(canonical, []byte(study.ExtSubject)) {
		return nil // the cheap test first: most writes are no case report data
	}
	c, ok := study.CaptureOf(canonical)
	if !ok {
		return fmt.Errorf("%w: case report data name their study, subject (ResearchSubject/STUDY.N of that study) and visit, in the extensions %s, %s and %s",
			ErrInvalid, study.ExtStudy, study.ExtSubject, study.ExtVisit)
	}
	sub, err := v.StudySubject(c.Study, c.Subject)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return fmt.Errorf("%w: study %s has no subject %s: enrol the patient before capturing their data", ErrInvalid, c.Study, c.SubjectID())
	case err != nil:
		return err
	case sub.Patient != patient:
		return fmt.Errorf("%w: case report data of subject %s are about its patient, not %s", ErrInvalid, c.SubjectID(), patient)
	case sub.Withdrawn && version == 1:
		return &DeniedError{Reason: fmt.Sprintf("subject %s withdrew from study %s: no new data is captured for them", c.SubjectID(), c.Study)}
	}
	return nil
}
