package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Visit locks. Case report data are ordinary sealed records of the
// subject's patient, naming the study, the subject and the visit inside
// the resource (study.CaptureExtensions): nothing about them is in plain
// on the ledger until a practitioner of the enrolling site locks the visit
// (study.visit-lock), naming the subject and each record at its latest
// version. The ledger checks each is the subject's patient's (the
// subject's study consent names the patient), not deleted and in no other
// locked visit, marks it locked (carechain.RecordHead.Locked) and logs the
// lock with the RFC 6962 Merkle root of the versions' ciphertext hashes.
// From then on a direct write or deletion of such a record is a conflict
// naming the visit, and a change is an amendment (amend.propose) whose rule
// the ledger derives from the study: all of the sponsor's admin and the
// ethics board's admin (VisitRule), whatever approval policy the record's
// organization has. The enrolling site is the organization of the
// practitioner who enrolled the subject, or, for a patient who enrolled
// themself, the organization that registered them. The transaction type
// is new: earlier blocks replay unchanged.

func init() { handle(tx.TypeStudyVisitLock, (*App).applyStudyVisitLock) }

// VisitLockState is a locked visit, stored at
// "study-visit/<study>/<subject>/<visit>".
type VisitLockState struct {
	Study   string           `cbor:"1,keyasint" json:"study"`
	Subject uint64           `cbor:"2,keyasint" json:"subject"`
	Visit   string           `cbor:"3,keyasint" json:"visit"`
	Records []tx.VisitRecord `cbor:"4,keyasint" json:"records"`
	// Root is the Merkle root of the locked versions' ciphertext hashes,
	// in the order of Records (study.HashesRoot).
	Root   []byte `cbor:"5,keyasint" json:"root"`
	Locker string `cbor:"6,keyasint" json:"locker"`
	Height int64  `cbor:"7,keyasint" json:"height"`
}

// SubjectID is the FHIR ResearchSubject id of the visit's subject.
func (l *VisitLockState) SubjectID() string { return fmt.Sprintf("%s.%d", l.Study, l.Subject) }

// LockedVisit is the locked visit a record belongs to, stored at
// "visit-record/<record>".
type LockedVisit struct {
	Study   string `cbor:"1,keyasint" json:"study"`
	Subject uint64 `cbor:"2,keyasint" json:"subject"`
	Visit   string `cbor:"3,keyasint" json:"visit"`
	Height  int64  `cbor:"4,keyasint" json:"height"`
}

func (lv *LockedVisit) String() string {
	return fmt.Sprintf("visit %s of subject %s.%d of study %s", lv.Visit, lv.Study, lv.Subject, lv.Study)
}

func visitLockKey(study string, subject uint64, visit string) string {
	return fmt.Sprintf("study-visit/%s/%020d/%s", study, subject, visit)
}
func visitRecordKey(record string) string { return "visit-record/" + record }

// VisitLocks lists a study's locked visits, by subject and visit.
func (v *View) VisitLocks(study string) ([]VisitLockState, error) {
	return scanValues[VisitLockState](v, "study-visit/"+study+"/")
}

// LockedVisit returns the locked visit record belongs to (ErrNotFound if
// none).
func (v *View) LockedVisit(record string) (*LockedVisit, error) { return lockedVisit(v, record) }

func lockedVisit(r reader, record string) (*LockedVisit, error) {
	var lv LockedVisit
	if err := getCBOR(r, visitRecordKey(record), &lv); err != nil {
		return nil, err
	}
	return &lv, nil
}

// VisitRule is the approval rule of a change of a record in a locked visit
// of study st: its sponsor's admin and its ethics board's admin.
func VisitRule(st *StudyState) tx.Rule {
	return tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{{Admin: true, Org: st.Sponsor}, {Admin: true, Org: st.EthicsBoard}}}
}

// visitRefusal is the refusal of a direct change of a record of a locked
// visit, or nil if the record is in none.
func visitRefusal(r reader, head *carechain.RecordHead) *Rejection {
	lv, err := lockedVisit(r, head.RecordID)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	st, err := getStudy(r, lv.Study)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return reject(CodeConflict, "record %s is in %s, locked at height %d: propose an amendment (amend.propose; over FHIR, a PUT with the %s header), approved by the admins of the sponsor %s and of the ethics board %s",
		head.RecordID, lv, lv.Height, "X-Amendment-Reason", st.Sponsor, st.EthicsBoard)
}

// amendPolicy is the rule a proposal to change the record head falls
// under: its locked visit's study's (VisitRule), else its owner's approval
// policy (ErrNotFound if none).
func amendPolicy(r reader, head *carechain.RecordHead) (*PolicyState, error) {
	if head.Locked {
		lv, err := lockedVisit(r, head.RecordID)
		if err == nil {
			st, err := getStudy(r, lv.Study)
			if err != nil {
				return nil, err
			}
			return &PolicyState{AmendPolicy: tx.AmendPolicy{Org: st.Sponsor, Category: head.Category, Rule: VisitRule(st)}, Height: lv.Height}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return policyFor(r, head)
}

func (a *App) applyStudyVisitLock(b *store.Block, c *checked, l *tx.StudyVisitLock) *Rejection {
	st, err := getStudy(b, l.Study)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "study %s is not registered", l.Study)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	var en Enrolment
	if err := getCBOR(b, studySubjectKey(st.ID, l.Subject), &en); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "study %s has no subject %s.%d", st.ID, st.ID, l.Subject)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	var patient string
	if err := getCBOR(b, studyConsentKey(st.ID, en.Consent), &patient); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if rej := mayLockVisit(b, c.signer, &en, patient); rej != nil {
		return rej
	}
	key := visitLockKey(st.ID, l.Subject, l.Visit)
	var prev VisitLockState
	if err := getCBOR(b, key, &prev); err == nil {
		return reject(CodeConflict, "visit %s of subject %s is locked already (height %d): its data change only by an approved amendment", l.Visit, en.SubjectID(), prev.Height)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	lv := LockedVisit{Study: st.ID, Subject: l.Subject, Visit: l.Visit, Height: b.Height()}
	hashes := make([][]byte, 0, len(l.Records))
	for _, r := range l.Records {
		h, rej := lockVisitRecord(b, &en, patient, r, &lv)
		if rej != nil {
			return rej
		}
		hashes = append(hashes, h)
	}
	lock := VisitLockState{Study: st.ID, Subject: l.Subject, Visit: l.Visit, Records: l.Records, Root: study.HashesRoot(hashes),
		Locker: c.signer.ID, Height: b.Height()}
	if err := setLogged(b, key, lock, tlog.KindStudy, fmt.Sprintf("%s/visit/%s", en.SubjectID(), l.Visit)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// mayLockVisit refuses a visit lock of enrolment en (of patient) unless
// signer is a practitioner of the enrolling site.
func mayLockVisit(b *store.Block, signer *carechain.Principal, en *Enrolment, patient string) *Rejection {
	site, err := enrollingSite(b, en, patient)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if signer.Kind != carechain.KindPractitioner || signer.Org != site {
		return reject(CodeUnauthorized, "%s may not lock visits of subject %s: a practitioner of its enrolling site %s does", signer.ID, en.SubjectID(), site)
	}
	return nil
}

// enrollingSite is the organization that enrolled en, a subject of
// patient: its enroller's, a practitioner's, or, if the patient enrolled
// themself, the one that registered them.
func enrollingSite(r reader, en *Enrolment, patient string) (string, error) {
	enroller, err := getPrincipal(r, en.Enroller)
	if err != nil {
		return "", err
	}
	if enroller.Kind == carechain.KindPractitioner {
		return enroller.Org, nil
	}
	p, err := getPrincipal(r, patient)
	if err != nil {
		return "", err
	}
	return p.Org, nil
}

// Subject is a study subject as its enrolling site knows it.
type Subject struct {
	Enrolment
	Patient string `json:"patient"`
	Site    string `json:"site"` // the enrolling site (an organization)
	// Withdrawn is set once the patient withdrew their study consent.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// StudySubject returns subject n of study, with its patient and enrolling
// site (ErrNotFound if the study has no subject n). The patient is what the
// study's pseudonym hides: answer it to the enrolling site only.
func (v *View) StudySubject(study string, n uint64) (*Subject, error) {
	var s Subject
	if err := getCBOR(v, studySubjectKey(study, n), &s.Enrolment); err != nil {
		return nil, fmt.Errorf("subject %s.%d: %w", study, n, err)
	}
	if err := getCBOR(v, studyConsentKey(study, s.Consent), &s.Patient); err != nil {
		return nil, fmt.Errorf("subject %s.%d: %w", study, n, err)
	}
	site, err := enrollingSite(v, &s.Enrolment, s.Patient)
	if err != nil {
		return nil, fmt.Errorf("subject %s.%d: %w", study, n, err)
	}
	s.Site = site
	var g StoredGrant
	if err := getCBOR(v, grantKey(s.Patient, s.Consent), &g); err != nil {
		return nil, fmt.Errorf("subject %s.%d: %w", study, n, err)
	}
	s.Withdrawn = g.Revoked
	return &s, nil
}

// lockVisitRecord checks that r is a record of patient (subject en's) at
// its latest version, not deleted and in no locked visit, locks it into
// lv, and returns the version's ciphertext hash.
func lockVisitRecord(b *store.Block, en *Enrolment, patient string, r tx.VisitRecord, lv *LockedVisit) ([]byte, *Rejection) {
	var head carechain.RecordHead
	if err := getCBOR(b, recordKey(r.ID), &head); errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInvalid, "record %s does not exist", r.ID)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	switch {
	case head.Patient != patient:
		return nil, reject(CodeInvalid, "record %s is not subject %s's: a visit lock names its subject's records only", r.ID, en.SubjectID())
	case head.Deleted:
		return nil, reject(CodeInvalid, "record %s is deleted", r.ID)
	case head.Latest != r.Version:
		return nil, reject(CodeStaleVersion, "record %s is at version %d: lock its latest version", r.ID, head.Latest)
	}
	if prev, err := lockedVisit(b, r.ID); err == nil {
		return nil, reject(CodeConflict, "record %s is in %s already", r.ID, prev)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInternal, "%v", err)
	}
	var v carechain.RecordVersion
	if err := getCBOR(b, versionKey(r.ID, r.Version), &v); err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	head.Locked = true
	if err := setCBOR(b, recordKey(r.ID), head); err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, visitRecordKey(r.ID), lv); err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	return v.CiphertextHash, nil
}

// VisitsRoot is the Merkle root of a dataset made of locked visits (in
// the order VisitLocks lists them: by subject, then visit), over their
// roots (study.HashesRoot), and how many records they lock.
func VisitsRoot(locks []VisitLockState) (root []byte, count uint64) {
	roots := make([][]byte, len(locks))
	for i, l := range locks {
		roots[i] = l.Root
		count += uint64(len(l.Records))
	}
	return study.HashesRoot(roots), count
}

// checkVisitsRoot refuses a data lock of study's locked visits whose root
// or count is not theirs at this height.
func checkVisitsRoot(b *store.Block, studyID string, l *tx.StudyLock) *Rejection {
	locks, err := scanValues[VisitLockState](b, "study-visit/"+studyID+"/")
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if len(locks) == 0 {
		return reject(CodeInvalid, "study %s has no locked visit", studyID)
	}
	root, count := VisitsRoot(locks)
	if !bytes.Equal(root, l.Root) || count != l.Count {
		return reject(CodeInvalid, "study %s's %d locked visits have root %x over %d records, not %x over %d", studyID, len(locks), root, count, l.Root, l.Count)
	}
	return nil
}
