package ledger

import (
	"fmt"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Data locks: the sponsor's admin commits a dataset of the study (its case
// report resources as FHIR JSON, e.g. a de-identified export) by its
// Merkle root (study.DatasetRoot), so results published later can be
// checked against exactly that data by anyone holding it. Each lock is
// numbered, kept and logged; a later lock does not replace an earlier one.
// A dataset may instead be the study's locked visits (tx.StudyLock.Visits):
// its root is then VisitsRoot, checked by the ledger.

func init() { handle(tx.TypeStudyLock, (*App).applyStudyLock) }

// StudyLockState is a data lock, stored at "study-lock/<study>/<n>".
type StudyLockState struct {
	Study  string `cbor:"1,keyasint" json:"study"`
	Number uint64 `cbor:"2,keyasint" json:"number"`
	Name   string `cbor:"3,keyasint" json:"name"`
	Root   []byte `cbor:"4,keyasint" json:"root"`
	Count  uint64 `cbor:"5,keyasint" json:"count"`
	Locker string `cbor:"6,keyasint" json:"locker"`
	Height int64  `cbor:"7,keyasint" json:"height"`
	// Visits marks a dataset of the study's locked visits (VisitsRoot).
	Visits bool `cbor:"8,keyasint,omitempty" json:"visits,omitempty"`
}

func studyLockKey(study string, n uint64) string { return fmt.Sprintf("study-lock/%s/%020d", study, n) }

// StudyLocks lists a study's data locks, oldest first.
func (v *View) StudyLocks(study string) ([]StudyLockState, error) {
	return scanValues[StudyLockState](v, "study-lock/"+study+"/")
}

func (a *App) applyStudyLock(b *store.Block, c *checked, l *tx.StudyLock) *Rejection {
	st, rej := sponsorStudy(b, c.signer, l.Study, "lock the data of")
	if rej != nil {
		return rej
	}
	if l.Visits {
		if rej := checkVisitsRoot(b, st.ID, l); rej != nil { // studyvisit.go
			return rej
		}
	}
	st.Locks++
	lock := StudyLockState{Study: st.ID, Number: st.Locks, Name: l.Name, Root: l.Root, Count: l.Count, Locker: c.signer.ID, Height: b.Height(), Visits: l.Visits}
	if err := setCBOR(b, studyKey(st.ID), st); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, studyLockKey(st.ID, lock.Number), lock, tlog.KindStudy, fmt.Sprintf("%s/lock/%d", st.ID, lock.Number)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
