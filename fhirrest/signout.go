package fhirrest

import (
	"sync"
	"time"
)

// A custodial patient's keys are in the node's memory only while the patient
// is signed in: passphrase login unlocks them, and once the last token that
// login issued for the patient has expired they are forgotten (at the next
// request the server serves), so the node can no longer sign or decrypt for
// the patient until they sign in again. Keys the node held before the
// login (the demo's patients, a test's) stay.

// sessions tracks the patients whose keys a login put in memory, and until
// when they are signed in.
type sessions struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newSessions() *sessions { return &sessions{until: map[string]time.Time{}} }

// signedIn notes that patient's keys were put in memory by a login whose
// token lasts until expires.
func (ss *sessions) signedIn(patient string, expires time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if expires.After(ss.until[patient]) {
		ss.until[patient] = expires
	}
}

// extend moves patient's sign-in to expires if a login put their keys in
// memory (a later login of a patient whose keys were already there).
func (ss *sessions) extend(patient string, expires time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if until, ok := ss.until[patient]; ok && expires.After(until) {
		ss.until[patient] = expires
	}
}

// ended removes and returns the patients whose sessions all ended by now.
func (ss *sessions) ended(now time.Time) []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []string
	for p, until := range ss.until {
		if now.After(until) {
			out = append(out, p)
			delete(ss.until, p)
		}
	}
	return out
}

// signOutEnded forgets the keys of patients whose sessions have all ended.
func (s *server) signOutEnded() {
	for _, p := range s.sessions.ended(s.Now()) {
		s.Custodian.Remove(p)
		if s.Records != nil {
			s.Records.Keys().Remove(p)
		}
		s.Logger.Debug("a patient's session ended: their keys left memory")
	}
}
