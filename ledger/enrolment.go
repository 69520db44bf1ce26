package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Enrolment and randomization by commit-reveal. Before the first
// enrolment the sponsor's admin commits the SHA-256 of a secret seed
// (study.randomization), once. A practitioner (the site) or the patient
// enrols a patient who consented to the study (studyconsent.go) and whom
// the criteria of the protocol in force found eligible, where the
// patient's data is decrypted: the ledger receives the study, the consent's
// grant ID (the patient's pseudonym in the study: only the patient, their
// delegates and the nodes map it to the patient), yes, the protocol
// version and the enroller, never the data. Each enrolment takes the next
// number; its arm is study.Allocate(seed, number, arms), which only the
// sponsor, holding the seed, can compute until unblinding
// (study.unblind), when the ledger checks the seed against the
// commitment and keeps it, so anyone recomputes every allocation.

func init() {
	handle(tx.TypeStudyRandomization, (*App).applyStudyRandomization)
	handle(tx.TypeStudyEnrol, (*App).applyStudyEnrol)
	handle(tx.TypeStudyUnblind, (*App).applyStudyUnblind)
}

// Enrolment is a study's enrolment, stored at
// "study-subject/<study>/<number>".
type Enrolment struct {
	Study    string `cbor:"1,keyasint" json:"study"`
	Number   uint64 `cbor:"2,keyasint" json:"number"`
	Consent  string `cbor:"3,keyasint" json:"consent"` // the patient's study consent: their pseudonym
	Eligible bool   `cbor:"4,keyasint" json:"eligible"`
	Version  uint64 `cbor:"5,keyasint" json:"version"` // whose criteria found the patient eligible
	Enroller string `cbor:"6,keyasint" json:"enroller"`
	Height   int64  `cbor:"7,keyasint" json:"height"`
}

// SubjectID is the FHIR ResearchSubject id of an enrolment.
func (e *Enrolment) SubjectID() string { return fmt.Sprintf("%s.%d", e.Study, e.Number) }

func studySubjectKey(study string, n uint64) string {
	return fmt.Sprintf("study-subject/%s/%020d", study, n)
}
func studyEnrolledKey(study, grant string) string { return "study-enrolled/" + study + "/" + grant }

// Enrolments lists a study's enrolments, in order; every study's for "".
func (v *View) Enrolments(study string) ([]Enrolment, error) {
	if study == "" {
		return scanValues[Enrolment](v, "study-subject/")
	}
	return scanValues[Enrolment](v, "study-subject/"+study+"/")
}

// StudyConsentPatient returns the patient whose consent to study is grant
// (ErrNotFound if it is none).
func (v *View) StudyConsentPatient(study, grant string) (string, error) {
	var p string
	err := getCBOR(v, studyConsentKey(study, grant), &p)
	return p, err
}

func (a *App) applyStudyRandomization(b *store.Block, c *checked, r *tx.StudyRandomization) *Rejection {
	st, rej := sponsorStudy(b, c.signer, r.Study, "commit the randomization of")
	if rej != nil {
		return rej
	}
	switch {
	case st.SeedHash != nil:
		return reject(CodeConflict, "study %s's randomization seed is committed already", st.ID)
	case st.Enrolled != 0:
		return reject(CodeInvalid, "study %s has enrolments: its seed is committed before the first", st.ID)
	}
	st.SeedHash = r.SeedHash
	if err := setLogged(b, studyKey(st.ID), st, tlog.KindStudy, st.ID+"/randomization"); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyStudyEnrol(b *store.Block, c *checked, e *tx.StudyEnrol) *Rejection {
	st, err := getStudy(b, e.Study)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "study %s is not registered", e.Study)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	switch {
	case !e.Eligible:
		return reject(CodeInvalid, "only a patient found eligible is enrolled")
	case e.Version != st.Version:
		return reject(CodeStaleVersion, "study %s's criteria in force are those of version %d", st.ID, st.Version)
	case st.SeedHash == nil:
		return reject(CodeInvalid, "study %s's sponsor has not committed its randomization seed: no enrolment before it", st.ID)
	case st.Seed != nil:
		return reject(CodeInvalid, "study %s is unblinded: enrolment is closed", st.ID)
	}
	if rej := mayEnrol(b, c.signer, st.ID, e.Consent); rej != nil {
		return rej
	}
	st.Enrolled++
	en := Enrolment{Study: st.ID, Number: st.Enrolled, Consent: e.Consent, Eligible: true, Version: e.Version, Enroller: c.signer.ID, Height: b.Height()}
	if err := setCBOR(b, studyKey(st.ID), st); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, studyEnrolledKey(st.ID, e.Consent), en.Number); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, studySubjectKey(st.ID, en.Number), en, tlog.KindStudy, en.SubjectID()); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// mayEnrol refuses an enrolment in study under consent grant unless the
// grant is the patient's consent to it, in force and not enrolled yet, and
// signer is a practitioner (a site) or the patient.
func mayEnrol(b *store.Block, signer *carechain.Principal, study, grant string) *Rejection {
	var patient string
	if err := getCBOR(b, studyConsentKey(study, grant), &patient); errors.Is(err, ErrNotFound) {
		return reject(CodeDenied, "enrolment in study %s requires the patient's consent to it: %s is none", study, grant)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if signer.Kind != carechain.KindPractitioner && signer.ID != patient {
		return reject(CodeUnauthorized, "%s may not enrol in study %s: a site's practitioner or the patient does", signer.ID, study)
	}
	var sg StoredGrant
	if err := getCBOR(b, grantKey(patient, grant), &sg); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if sg.Revoked {
		return reject(CodeDenied, "the patient withdrew their consent to study %s (%s)", study, grant)
	}
	if _, err := b.Get(studyEnrolledKey(study, grant)); err == nil {
		return reject(CodeConflict, "the patient of consent %s is enrolled in study %s already", grant, study)
	} else if !errors.Is(err, store.ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyStudyUnblind(b *store.Block, c *checked, u *tx.StudyUnblind) *Rejection {
	st, rej := sponsorStudy(b, c.signer, u.Study, "unblind")
	if rej != nil {
		return rej
	}
	sum := sha256.Sum256(u.Seed)
	switch {
	case st.SeedHash == nil:
		return reject(CodeInvalid, "study %s has no committed randomization seed", st.ID)
	case st.Seed != nil:
		return reject(CodeConflict, "study %s is unblinded already", st.ID)
	case !bytes.Equal(sum[:], st.SeedHash):
		return reject(CodeInvalid, "the seed does not match study %s's commitment: its SHA-256 is %x, the commitment %x", st.ID, sum, st.SeedHash)
	}
	st.Seed, st.UnblindedHeight = u.Seed, b.Height()
	if err := setLogged(b, studyKey(st.ID), st, tlog.KindStudy, st.ID+"/unblinded"); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
