package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain"
)

// A session is server-side: the browser holds only its ID, 256 random bits
// in an HttpOnly, SameSite=Strict cookie (Secure when the portal is served
// over TLS). A visitor gets an anonymous session for the sign-in form's
// CSRF token; signing in replaces it with a new one (new ID, new token), so
// an ID planted before sign-in is worth nothing after it. Sessions expire
// after idle time without a request; the store is bounded and, when full,
// drops anonymous sessions before signed-in ones, oldest first.

const (
	// cookieName names the session cookie; under TLS it carries the
	// __Host- prefix, which browsers accept only on Secure, host-only,
	// Path=/ cookies.
	cookieName = "carechain_session"
	// idBytes is the size of session IDs and CSRF tokens: 256 bits.
	idBytes = 32
)

// session is one browser's state on this node.
type session struct {
	id       string
	csrf     string
	who      *carechain.Principal // nil: not signed in
	holder   string               // the records.SignIns holder of a patient's keys
	lastSeen time.Time
	// resultsSeen is when the results inbox (results.go) was last shown,
	// in unix seconds: results written after it are marked new.
	resultsSeen atomic.Int64
}

// sessions is the bounded store.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	idle time.Duration
	max  int
}

func newSessions(idle time.Duration, max int) *sessions {
	return &sessions{byID: map[string]*session{}, idle: idle, max: max}
}

func randomToken() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start stores a new session for who (nil: anonymous) at now; holder
// names it to records.SignIns.
func (ss *sessions) start(who *carechain.Principal, holder string, now time.Time) *session {
	s := &session{id: randomToken(), csrf: randomToken(), who: who, holder: holder, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.makeRoom(now)
	ss.byID[s.id] = s
	return s
}

// get returns the live session id names, touching it, or nil.
func (ss *sessions) get(id string, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[id]
	if !ok || now.Sub(s.lastSeen) > ss.idle {
		return nil // an expired one stays for expired, which ends its hold on keys
	}
	s.lastSeen = now
	return s
}

// end forgets a session.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// expired removes and returns the sessions idle past the limit at now.
func (ss *sessions) expired(now time.Time) []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*session
	for id, s := range ss.byID {
		if now.Sub(s.lastSeen) > ss.idle {
			out = append(out, s)
			delete(ss.byID, id)
		}
	}
	return out
}

// makeRoom, with the lock held, drops expired sessions when the store is
// full, and if it still is, the stalest anonymous one, else the stalest.
func (ss *sessions) makeRoom(now time.Time) {
	if len(ss.byID) < ss.max {
		return
	}
	var stalest, stalestAnon *session
	for id, s := range ss.byID {
		switch {
		case now.Sub(s.lastSeen) > ss.idle:
			delete(ss.byID, id)
		case s.who == nil && (stalestAnon == nil || s.lastSeen.Before(stalestAnon.lastSeen)):
			stalestAnon = s
		case stalest == nil || s.lastSeen.Before(stalest.lastSeen):
			stalest = s
		}
	}
	if len(ss.byID) < ss.max {
		return
	}
	if stalestAnon != nil {
		stalest = stalestAnon
	}
	delete(ss.byID, stalest.id)
}

// validCSRF reports whether token is s's CSRF token (in constant time).
func (s *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// cookieName is the session cookie's name for this portal.
func (p *Portal) cookieName() string {
	if p.secure {
		return "__Host-" + cookieName
	}
	return cookieName
}

// setCookie gives the browser s's ID.
func (p *Portal) setCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(), Value: s.id, Path: "/", HttpOnly: true,
		Secure: p.secure, SameSite: http.SameSiteStrictMode})
}

// clearCookie removes the session cookie.
func (p *Portal) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: p.secure, SameSite: http.SameSiteStrictMode})
}

// session is the request's live session, or nil.
func (p *Portal) session(r *http.Request) *session {
	c, err := r.Cookie(p.cookieName())
	if err != nil || len(c.Value) > 2*idBytes {
		return nil
	}
	return p.sessions.get(c.Value, p.now())
}

// endExpired ends the sessions idle too long, and with them the holds on
// their patients' keys (and any other hold that has ended: a FHIR token's).
func (p *Portal) endExpired() {
	p.signIns.ForgetEnded(p.now())
	for _, s := range p.sessions.expired(p.now()) {
		if s.who != nil && s.who.Kind == carechain.KindPatient {
			p.signIns.SignOut(s.who.ID, s.holder)
		}
	}
}
