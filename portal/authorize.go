package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/ledger"
)

// The SMART App Launch authorization endpoint (standalone launch, package
// launch): GET /auth/authorize checks the app's request, sends a visitor
// who is not signed in to sign in and back, then shows the consent screen:
// each scope the app asked for and may be given, in plain words, with a
// checkbox. Posting it (CSRF-checked) denies, or approves the ticked
// scopes and sends the browser to the app's redirect URI with a one-time
// code (launch.Codes) the app trades for a token at /auth/token. A request
// naming an unknown app or a redirect URI it did not register is refused
// on a page here, never redirected.

// GrantableFunc is what of the requested scopes app c may be given for
// who (fhirrest.GrantableScopes).
type GrantableFunc func(requested string, c *ledger.ClientRegistration, who *carechain.Principal) []string

// authorizeForm is what the consent screen shows.
type authorizeForm struct {
	App, Org, Return string
	Params           []param
	Scopes           []scopeChoice
	Left             []string // requested but not offered
}

type param struct{ Name, Value string }

type scopeChoice struct{ Scope, Words string }

// authorizePath is the authorization endpoint's path; sign-in may return
// to it (next).
const authorizePath = "/auth/authorize"

// launchRequest checks an authorization request; on failure it has
// answered: a page, or a redirect back to the app with the error.
func (p *Portal) launchRequest(w http.ResponseWriter, r *http.Request, s *session, q url.Values) (launch.Request, bool) {
	req, err := launch.Check(p.app.Latest(), q, p.fhirBase)
	var le *launch.Error
	switch {
	case errors.As(err, &le) && le.Redirectable:
		http.Redirect(w, r, le.RedirectTo(req), http.StatusSeeOther)
		return req, false
	case errors.As(err, &le):
		p.fail(w, r, s, http.StatusBadRequest, "This app's sign-in request was refused, and you have not been sent back to it: "+le.Description+".")
		return req, false
	case err != nil:
		p.logger.Error("portal: checking an app launch", "err", err)
		p.fail(w, r, s, http.StatusInternalServerError, "The app's request could not be checked. Try again later.")
		return req, false
	}
	return req, true
}

// authorize shows the consent screen.
func (p *Portal) authorize(w http.ResponseWriter, r *http.Request) {
	s := p.session(r)
	req, ok := p.launchRequest(w, r, s, r.URL.Query())
	if !ok {
		return
	}
	if s == nil || s.who == nil {
		http.Redirect(w, r, "/portal/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	p.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		offered := p.grantable(req.Scope, req.Client, s.who)
		if len(offered) == 0 {
			e := &launch.Error{Code: "invalid_scope", Description: "none of the requested scopes can be given to this app for this person"}
			http.Redirect(w, r, e.RedirectTo(req), http.StatusSeeOther)
			return
		}
		f := authorizeForm{App: req.ClientID, Org: req.Client.Org, Return: req.RedirectURI}
		if o, err := p.app.Latest().Organization(req.Client.Org); err == nil && o.Name != "" {
			f.Org = o.Name
		}
		for name, v := range req.Params() {
			f.Params = append(f.Params, param{name, v[0]})
		}
		sort.Slice(f.Params, func(i, j int) bool { return f.Params[i].Name < f.Params[j].Name })
		for _, sc := range offered {
			f.Scopes = append(f.Scopes, scopeChoice{Scope: sc, Words: scopeWords(sc)})
		}
		for _, sc := range strings.Fields(req.Scope) {
			if !slices.Contains(offered, sc) {
				f.Left = append(f.Left, sc)
			}
		}
		// The form posts here, and the answer redirects to the app: the
		// page's form-action must allow the app's origin (a redirect
		// after a form post is held to it).
		w.Header().Set("Content-Security-Policy", strings.Replace(ContentSecurityPolicy,
			"form-action 'self'", "form-action 'self' "+origin(req.RedirectURI), 1))
		p.render(w, s, http.StatusOK, "authorize", "Allow "+req.ClientID+"?", f)
	})(w, r)
}

// decide answers the consent screen: deny, or approve the ticked scopes.
func (p *Portal) decide(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{}
	for _, name := range []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "aud"} {
		if v, ok := r.PostForm[name]; ok {
			q[name] = v
		}
	}
	req, ok := p.launchRequest(w, r, s, q)
	if !ok {
		return
	}
	var approved []string
	for _, sc := range p.grantable(req.Scope, req.Client, s.who) {
		if slices.Contains(r.PostForm["grant"], sc) {
			approved = append(approved, sc)
		}
	}
	if r.PostForm.Get("decision") != "approve" || len(approved) == 0 {
		p.logger.Info("app launch denied", "client", req.ClientID, "principal", s.who.ID)
		e := &launch.Error{Code: "access_denied", Description: "the person did not allow the app"}
		http.Redirect(w, r, e.RedirectTo(req), http.StatusSeeOther)
		return
	}
	code, err := p.codes.Issue(launch.Grant{ClientID: req.ClientID, RedirectURI: req.RedirectURI, Challenge: req.Challenge,
		Principal: s.who.ID, Scopes: approved}, p.now())
	if err != nil {
		e := &launch.Error{Code: "temporarily_unavailable", Description: err.Error()}
		http.Redirect(w, r, e.RedirectTo(req), http.StatusSeeOther)
		return
	}
	p.logger.Info("app launch approved", "client", req.ClientID, "principal", s.who.ID, "scope", strings.Join(approved, " "))
	http.Redirect(w, r, launch.Redirect(req.RedirectURI, url.Values{"code": {code}, "state": {req.State}}), http.StatusSeeOther)
}

// origin is scheme://host[:port] of a registered redirect URI.
func origin(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return parsed.Scheme + "://" + parsed.Host
}

// scopeWords says what a scope lets an app do, for people.
func scopeWords(sc string) string {
	if sc == "launch/patient" {
		return "Know which patient you are (your patient ID)"
	}
	ctx, rest, _ := strings.Cut(sc, "/")
	typ, perms, _ := strings.Cut(rest, ".")
	switch perms {
	case "read":
		perms = "rs"
	case "write":
		perms = "cud"
	case "*":
		perms = "cruds"
	}
	verbs := map[rune]string{'c': "add", 'r': "read", 'u': "change", 'd': "delete", 's': "search"}
	var did []string
	for _, c := range perms {
		did = append(did, verbs[c])
	}
	what := typ + " records"
	if typ == "*" {
		what = "records of every kind"
	}
	owner := "your"
	if ctx != "patient" {
		owner = "the"
		what += " you may see"
	}
	words := strings.Join(did, ", ")
	if i := strings.LastIndex(words, ", "); i >= 0 {
		words = words[:i] + " and " + words[i+2:]
	}
	if words == "" {
		return sc
	}
	return strings.ToUpper(words[:1]) + words[1:] + " " + owner + " " + what
}
