// Package portal is carechain's web portal: server-rendered pages (Go
// html/template, embedded with the stylesheet) for patients whose keys
// their organization's node keeps (custodial), for practitioners, for
// organization admins (admin.go) and, signed in or not, for auditors
// checking proofs (auditor.go).
//
// Register adds it to a node's HTTP mux at / and under /portal/ and
// /static/, beside the node's other routes. Every page reads through the
// same services the FHIR API does — records.Service for consent-checked,
// access-logged reads and for grants and revocations, records.SignIns for
// passphrase sign-in — so a portal page can show nothing a FHIR request by
// the same person could not read, and every read is in the patient's access
// log.
//
// Security: a strict Content-Security-Policy (no inline script or style, so
// templates carry no style attributes and charts are styled by CSS
// classes), server-side sessions (session.go), a CSRF token checked on
// every POST, Cache-Control: no-store on every page. Health data is
// rendered into responses only: it is never logged or written to disk.
package portal

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every portal response: nothing inline,
// nothing from elsewhere, no framing, forms post only here.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Options configure the portal.
type Options struct {
	App     *ledger.App
	Records *records.Service
	// SignIns is the node's passphrase sign-in, shared with the FHIR API's
	// /auth/login.
	SignIns *records.SignIns
	// Custodian holds the keys sign-in unlocked: patients sign grants and
	// revocations with theirs.
	Custodian *records.Custodian
	// BaseURL is the node's public URL; an https one makes the session
	// cookie Secure.
	BaseURL string
	Logger  *slog.Logger
	// Proofs serves the proof bundles of the version-history page's
	// verified marks; nil: no version history.
	Proofs Proofs
	// Node reports the node's peers and checkpoints for the admin's node
	// status page and the auditor's page; nil: neither shows them.
	Node NodeInfo
	// Keystore is the node's keystore, where the admin pages make the keys
	// of the patients and staff they enrol; nil: no enrolment here.
	Keystore *keystore.Store
	// IdleTimeout ends a session after this long without a request
	// (default 15 minutes).
	IdleTimeout time.Duration
	// MaxSessions bounds the session store (default 10000).
	MaxSessions int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Codes, with Grantable, turn on SMART App Launch: the portal serves
	// the authorization endpoint /auth/authorize (authorize.go) and puts
	// the codes people approve here, for the FHIR API's token endpoint.
	Codes     *launch.Codes
	Grantable GrantableFunc
}

// Portal serves the pages.
type Portal struct {
	app       *ledger.App
	records   *records.Service
	signIns   *records.SignIns
	custodian *records.Custodian
	proofs    Proofs
	node      NodeInfo
	keystore  *keystore.Store
	logger    *slog.Logger
	now       func() time.Time
	secure    bool
	sessions  *sessions
	pages     map[string]*template.Template
	downloads downloads // prepared "download everything" documents (download.go)
	codes     *launch.Codes
	grantable GrantableFunc
	fhirBase  string // the audience of app launches
	// resultsSeen is when each practitioner last saw their results inbox
	// (principal ID → unix seconds; results.go), in memory only.
	resultsSeen sync.Map
}

// Register adds the portal's routes to mux: / (a redirect to /portal/),
// /portal/…, /static/… and, for app launch (Options.Codes),
// /auth/authorize. It leaves every other path to the mux's other
// handlers.
func Register(mux *http.ServeMux, opts Options) error {
	p, err := New(opts)
	if err != nil {
		return err
	}
	p.routes(mux)
	return nil
}

// New makes a portal from opts.
func New(opts Options) (*Portal, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 15 * time.Minute
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 10_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.App == nil || opts.Records == nil || opts.SignIns == nil || opts.Custodian == nil {
		return nil, errors.New("portal: Options need App, Records, SignIns and Custodian")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	if (opts.Codes == nil) != (opts.Grantable == nil) {
		return nil, errors.New("portal: Options need both Codes and Grantable for app launch, or neither")
	}
	return &Portal{app: opts.App, records: opts.Records, signIns: opts.SignIns, custodian: opts.Custodian, proofs: opts.Proofs, node: opts.Node, keystore: opts.Keystore, logger: opts.Logger, now: opts.Now,
		secure: strings.HasPrefix(opts.BaseURL, "https://"), sessions: newSessions(opts.IdleTimeout, opts.MaxSessions), pages: pages,
		codes: opts.Codes, grantable: opts.Grantable, fhirBase: strings.TrimRight(opts.BaseURL, "/") + "/fhir"}, nil
}

func (p *Portal) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", p.secured(http.StripPrefix("/static/", http.FileServerFS(static)).ServeHTTP))
	mux.HandleFunc("GET /{$}", p.secured(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
	}))
	mux.HandleFunc("/portal/", p.secured(p.notFound))
	mux.HandleFunc("GET /portal/{$}", p.secured(p.home))
	mux.HandleFunc("GET /portal/signin", p.secured(p.signInPage))
	mux.HandleFunc("POST /portal/signin", p.secured(p.posted(p.signIn)))
	mux.HandleFunc("POST /portal/signout", p.secured(p.posted(p.signOut)))
	mux.HandleFunc("GET /portal/records", p.secured(p.patient(p.timeline)))
	mux.HandleFunc("GET /portal/sharing", p.secured(p.patient(p.sharing)))
	mux.HandleFunc("POST /portal/sharing/grant", p.secured(p.posted(p.patient(p.grant))))
	mux.HandleFunc("POST /portal/sharing/revoke", p.secured(p.posted(p.patient(p.revoke))))
	mux.HandleFunc("GET /portal/log", p.secured(p.patient(p.accessLog)))
	mux.HandleFunc("GET /portal/patients", p.secured(p.practitioner(p.patients)))
	mux.HandleFunc("GET /portal/patients/{id}", p.secured(p.practitioner(p.chart)))
	mux.HandleFunc("POST /portal/patients/{id}/emergency", p.secured(p.posted(p.practitioner(p.emergency))))
	mux.HandleFunc("GET /portal/approvals", p.secured(p.signedIn(p.approvals)))
	mux.HandleFunc("POST /portal/approvals/{id}/approve", p.secured(p.posted(p.signedIn(p.approve))))
	mux.HandleFunc("POST /portal/approvals/{id}/reject", p.secured(p.posted(p.signedIn(p.reject))))
	if p.proofs != nil {
		mux.HandleFunc("GET /portal/history/{id}", p.secured(p.signedIn(p.history)))
		mux.HandleFunc("GET /portal/proof/{id}/{version}", p.secured(p.signedIn(p.proofOf)))
	}
	mux.HandleFunc("GET /portal/raw/{id}", p.secured(p.signedIn(p.raw)))
	mux.HandleFunc("GET /portal/messages", p.secured(p.signedIn(p.inbox)))
	mux.HandleFunc("GET /portal/messages/new", p.secured(p.signedIn(p.compose)))
	mux.HandleFunc("POST /portal/messages", p.secured(p.posted(p.signedIn(p.send))))
	mux.HandleFunc("GET /portal/messages/{id}", p.secured(p.signedIn(p.thread)))
	mux.HandleFunc("POST /portal/messages/{id}/reply", p.secured(p.posted(p.signedIn(p.reply))))
	mux.HandleFunc("GET /portal/messages/{id}/attachments/{n}", p.secured(p.signedIn(p.attachment)))
	p.adminRoutes(mux)
	p.deskRoutes(mux) // the registration desk (desk.go, deskschedule.go)
	mux.HandleFunc("GET /portal/appointments", p.secured(p.patient(p.myAppointments)))
	mux.HandleFunc("GET /portal/bills", p.secured(p.patient(p.myBills)))
	p.auditRoutes(mux)
	p.actRoutes(mux)        // the everyday actions (patientacts.go)
	p.billingRoutes(mux)    // billing staff's page (billing.go)
	p.orderRoutes(mux)      // orders, results, worklists, pharmacy (orders.go)
	p.supplyRoutes(mux)     // verifying medicines (supply.go)
	p.supplyPageRoutes(mux) // the warehouse and the manufacturer (supplypages.go)
	p.credentialRoutes(mux) // the credentialing office (credentials.go)
	p.studyRoutes(mux)      // studies: patients, ethics boards, sponsors (studies.go, studyboard.go)
	if p.codes != nil {
		mux.HandleFunc("GET "+authorizePath, p.secured(p.authorize))
		mux.HandleFunc("POST "+authorizePath, p.secured(p.posted(p.signedIn(p.decide))))
	}
}

// secured sets the headers every portal response carries and ends idle
// sessions.
func (p *Portal) secured(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		p.endExpired()
		h(w, r)
	}
}

// posted refuses a POST without its session's CSRF token (form field
// "csrf"): 403 with a page that says so.
func (p *Portal) posted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, carechain.MaxSmallRequestBytes)
		parse := r.ParseForm
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") { // a message with an attachment
			// in memory only: the whole body is smaller than the limit given here
			parse = func() error { return r.ParseMultipartForm(2 * carechain.MaxSmallRequestBytes) }
		}
		if err := parse(); err != nil {
			p.fail(w, r, nil, http.StatusBadRequest, "The form could not be read.")
			return
		}
		s := p.session(r)
		if s == nil || len(r.PostForm["csrf"]) != 1 || !s.validCSRF(r.PostForm.Get("csrf")) {
			p.fail(w, r, s, http.StatusForbidden, "This form was refused: its security token is missing or out of date. Go back, reload the page and try again.")
			return
		}
		h(w, r)
	}
}

// handler is a page for a signed-in user.
type handler func(http.ResponseWriter, *http.Request, *session)

// signedIn requires a signed-in session, else sends the browser to sign in.
func (p *Portal) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := p.session(r)
		if s == nil || s.who == nil {
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		if live, err := p.app.Latest().Principal(s.who.ID); err != nil || live.Status != carechain.StatusActive {
			p.end(w, s)
			p.fail(w, r, nil, http.StatusUnauthorized, "Your identity is no longer active on the ledger. You have been signed out.")
			return
		}
		if s.who.Kind == carechain.KindPatient {
			p.signIns.Extend(s.who.ID, s.holder, p.now().Add(p.sessions.idle))
		}
		h(w, r, s)
	}
}

// patient is a page for signed-in patients only.
func (p *Portal) patient(h handler) http.HandlerFunc {
	return p.signedIn(p.only(carechain.KindPatient, h))
}

// practitioner is a page for signed-in practitioners only.
func (p *Portal) practitioner(h handler) http.HandlerFunc {
	return p.signedIn(p.only(carechain.KindPractitioner, h))
}

func (p *Portal) only(kind carechain.Kind, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if s.who.Kind != kind {
			p.fail(w, r, s, http.StatusForbidden, "This page is for "+string(kind)+"s.")
			return
		}
		h(w, r, s)
	}
}

// allowed refuses, with refusal, anyone for whom may is false at the
// latest height.
func (p *Portal) allowed(may func(*ledger.View, *carechain.Principal) bool, refusal string, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !may(p.app.Latest(), s.who) {
			p.fail(w, r, s, http.StatusForbidden, refusal)
			return
		}
		h(w, r, s)
	}
}

// home sends the browser to the signed-in user's first page, or to sign in.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	s := p.session(r)
	if s == nil || s.who == nil {
		http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.landingOf(s.who), http.StatusSeeOther)
}

// landingOf is pr's first page: a registration clerk's is the desk.
func (p *Portal) landingOf(pr *carechain.Principal) string {
	if isClerk(p.app.Latest(), pr.ID) {
		return "/portal/desk"
	}
	return landing(pr.Kind)
}

// landing is the first page of a principal of kind.
func landing(kind carechain.Kind) string {
	switch kind {
	case carechain.KindPatient:
		return "/portal/records"
	case carechain.KindAdmin:
		return "/portal/admin"
	}
	return "/portal/patients"
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.fail(w, r, p.session(r), http.StatusNotFound, "There is no such page.")
}

// purpose is the purpose of use of the portal's reads: care (treatment).
// Break-glass reads (emergency.go) are for purpose emergency.
const purpose = consent.PurposeTreatment
