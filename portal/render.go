package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"date": func(t time.Time) string { return t.Format("2 Jan 2006") },
		"datetime":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"billing":       isBilling,
		"claimsOfficer": isClaimsOfficer, // the claims work queue (claims.go)
		"mayUse":        mayUse,          // the work pages of a role (orders.go)
		"supplyStaff":   isSupplyStaff}   // the medicine verification page (supply.go)
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("portal template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Who   *carechain.Principal // nil: not signed in
	Name  string               // who, for people
	CSRF  string
	Nav   string // the current section
	Desk  bool   // the signed-in person is a registration clerk (the desk's pages)
	// Manufacturer: the signed-in person is supply staff of a manufacturer
	// (the products and lots page, supplypages.go).
	Manufacturer bool
	// Credentialing: an admin or credentialing officer of a licensing body
	// or hospital (the credentials page, credentials.go).
	Credentialing bool
	// EthicsBoard: an admin of a study's ethics board (studyboard.go);
	// Sponsor: any admin, as any organization may sponsor a study
	// (studysponsor.go).
	EthicsBoard, Sponsor bool
	// StudySite: a practitioner, while some study is open for enrolment
	// (studysite.go).
	StudySite bool
	Data      any
}

// render writes page name with data for session s (nil: none).
func (p *Portal) render(w http.ResponseWriter, s *session, status int, name, title string, data any) {
	v := view{Title: title, Data: data, Nav: name}
	if strings.HasPrefix(name, "messages") {
		v.Nav = "messages" // the inbox, a thread, the compose form
	}
	switch d := data.(type) { // the work pages' sections (orders.go)
	case worklistPage:
		v.Nav = "worklist-" + d.Kind
	case workOrderPage:
		v.Nav = "worklist-" + d.Kind
	case resultPageData:
		v.Nav = "results"
	}
	if name == "deskregister" || name == "deskpatient" || (name == "enrolled" && s != nil && s.who != nil && s.who.Kind != carechain.KindAdmin) {
		v.Nav = "desk"
	}
	if s != nil {
		v.CSRF = s.csrf
		if v.Who = s.who; s.who != nil {
			v.Name = p.displayName(s.who)
			v.Desk = isClerk(p.app.Latest(), s.who.ID)
			v.Manufacturer = isSupplyStaff(s.who) && isManufacturer(p.app.Latest(), s.who)
			v.Credentialing = isCredentialing(p.app.Latest(), s.who)
			v.EthicsBoard, v.Sponsor = boardAdmin(p.app.Latest(), s.who), s.who.Kind == carechain.KindAdmin
			v.StudySite = s.who.Kind == carechain.KindPractitioner && studiesOpen(p.app.Latest())
		}
		if s.who != nil && s.who.Kind == carechain.KindPractitioner && name == "records" {
			v.Nav = "patients" // a patient's chart, reached from Patients
		}
	}
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.logger.Error("portal: rendering a page", "page", name, "err", err) // the error names the template, never the data
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// fail answers status with a page saying msg.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	p.render(w, s, status, "error", http.StatusText(status), msg)
}

// displayName is how the portal names a principal: staff by name and
// organization, patients by their pseudonymous ID.
func (p *Portal) displayName(pr *carechain.Principal) string {
	if pr.Name != "" {
		return pr.Name
	}
	return pr.ID
}

// principalLabel names id for people: "Dr. Mei Chen (physician, St Mary's
// Hospital)", or the ID of one the ledger does not know.
func principalLabel(v interface {
	Principal(string) (*carechain.Principal, error)
	Organization(string) (*carechain.Organization, error)
}, id string) string {
	pr, err := v.Principal(id)
	if err != nil {
		return id
	}
	var roles []string
	for _, r := range pr.Roles {
		roles = append(roles, string(r))
	}
	org := pr.Org
	if o, err := v.Organization(pr.Org); err == nil && o.Name != "" {
		org = o.Name
	}
	name := pr.Name
	if name == "" {
		name = pr.ID
	}
	switch {
	case pr.Kind == carechain.KindPatient:
		return pr.ID + " (patient)"
	case len(roles) > 0:
		return fmt.Sprintf("%s (%s, %s)", name, strings.Join(roles, ", "), org)
	}
	return fmt.Sprintf("%s (%s, %s)", name, pr.Kind, org)
}
