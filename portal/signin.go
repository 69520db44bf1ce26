package portal

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// signInForm is what the sign-in page shows.
type signInForm struct {
	Principal string
	Problem   string
	Next      string // where to go after signing in (safeNext)
}

// safeNext is next if it is a page of this portal to return to after
// sign-in (an app launch's consent screen), else "": sign-in never sends
// the browser elsewhere.
func safeNext(next string) string {
	if strings.HasPrefix(next, authorizePath+"?") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return ""
}

// signInPage shows the sign-in form, with an anonymous session for its
// CSRF token if the browser has none.
func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	s := p.session(r)
	if s != nil && s.who != nil {
		p.home(w, r)
		return
	}
	if s == nil {
		s = p.sessions.start(nil, "", p.now())
		p.setCookie(w, s)
	}
	p.render(w, s, http.StatusOK, "signin", "Sign in", signInForm{Next: safeNext(r.URL.Query().Get("next"))})
}

// signIn checks the passphrase through records.SignIns (its throttle, its
// unlocks), and on success replaces the browser's session with a new one:
// the session ID rotates at sign-in.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	old := p.session(r) // posted checked it exists
	id := strings.TrimSpace(r.PostForm.Get("principal"))
	if id != "" && !strings.Contains(id, "/") {
		id = carechain.PatientPrefix + id // a patient types their pseudonym
	}
	next := safeNext(r.PostForm.Get("next"))
	pass := []byte(r.PostForm.Get("passphrase"))
	defer clear(pass)
	holder := "portal session " + randomToken()[:12] // names the session without its secret ID
	now := p.now()
	who, err := p.signIns.SignIn(r.Context(), id, pass, r.RemoteAddr, holder, now, now.Add(p.sessions.idle))
	var throttled *records.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(throttled.Seconds()))
		p.render(w, old, http.StatusTooManyRequests, "signin", "Sign in", signInForm{Principal: id, Next: next,
			Problem: "Too many failed sign-ins. Wait " + strconv.Itoa(throttled.Seconds()) + " seconds and try again."})
		return
	case err != nil:
		p.render(w, old, http.StatusUnauthorized, "signin", "Sign in", signInForm{Principal: id, Next: next,
			Problem: "Unknown identity or wrong passphrase. If your keys are not kept by this node (you hold them yourself), use the carechain CLI."})
		return
	}
	if who.Kind != carechain.KindPatient && who.Kind != carechain.KindPractitioner && who.Kind != carechain.KindAdmin {
		p.render(w, old, http.StatusForbidden, "signin", "Sign in", signInForm{Principal: id, Next: next,
			Problem: "The portal is for patients, practitioners and organization admins; use the carechain CLI for " + string(who.Kind) + " work."})
		return
	}
	p.sessions.end(old.id)
	s := p.sessions.start(who, holder, now)
	p.setCookie(w, s)
	p.logger.Info("portal sign-in", "principal", who.ID, "kind", who.Kind)
	if next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.landingOf(who), http.StatusSeeOther)
}

// signOut forgets the session and, once no other session holds them, the
// patient's unlocked keys.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	if s := p.session(r); s != nil {
		p.end(w, s)
	}
	http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
}

// end ends session s: its hold on a patient's keys, its cookie.
func (p *Portal) end(w http.ResponseWriter, s *session) {
	p.sessions.end(s.id)
	if s.who != nil && s.who.Kind == carechain.KindPatient {
		p.signIns.SignOut(s.who.ID, s.holder)
	}
	p.clearCookie(w)
}
