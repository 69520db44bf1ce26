package portal

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
	"github.com/carechain/carechain/vc"
)

// The credentialing office's page (/portal/credentials), for an admin or
// a credentialing officer of a licensing body or a hospital: the
// credentials their organization issued, each with its state now
// (active, revoked, expired, not yet valid) and a revoke form; a form to
// issue one to any registered practitioner; and each active credential's
// W3C Verifiable Credential (eddsa-jcs-2022, signed with the user's key,
// which this node keeps), as `carechain credential issue|revoke|export`.

// credentialsPage is the page's data.
type credentialsPage struct {
	OrgName       string
	Issued        []credentialRow
	Practitioners []option
	Kinds         []string
	NewID, Today  string
	Done, Error   string
}

// credentialRow is one issued credential.
type credentialRow struct {
	*carechain.Credential
	Holder      string // the practitioner, for people
	From, Until string // dates
	State, Why  string
	Exportable  bool
}

func (p *Portal) credentialRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/credentials", p.secured(p.signedIn(p.credentialingOnly(p.credentialsList))))
	mux.HandleFunc("POST /portal/credentials/issue", p.secured(p.posted(p.signedIn(p.credentialingOnly(p.credentialIssue)))))
	mux.HandleFunc("POST /portal/credentials/revoke", p.secured(p.posted(p.signedIn(p.credentialingOnly(p.credentialRevoke)))))
	mux.HandleFunc("GET /portal/credentials/{id}/vc", p.secured(p.signedIn(p.credentialingOnly(p.credentialVC))))
}

// isCredentialing reports whether pr speaks for a credential issuer: an
// admin or credentialing officer of a licensing body or a hospital (the
// ledger's rule, ledger.mayCredential).
func isCredentialing(v *ledger.View, pr *carechain.Principal) bool {
	if pr == nil || pr.Kind != carechain.KindAdmin && !(pr.Kind == carechain.KindPractitioner && pr.HasRole(carechain.RoleCredentialingOfficer)) {
		return false
	}
	o, err := v.Organization(pr.Org)
	return err == nil && (o.Type == carechain.OrgLicensing || o.Type == carechain.OrgHospital)
}

// credentialingOnly refuses anyone else.
func (p *Portal) credentialingOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !isCredentialing(p.app.Latest(), s.who) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for a licensing body's or a hospital's admins and credentialing officers.")
			return
		}
		h(w, r, s)
	}
}

func (p *Portal) credentialsList(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderCredentials(w, r, s, http.StatusOK, credentialsPage{})
}

// credentialIssue issues the form's credential.
func (p *Portal) credentialIssue(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	f := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	c := tx.CredentialIssue{ID: f("id"), Practitioner: f("practitioner"), Kind: carechain.CredentialKind(f("kind")), Value: f("value")}
	page := credentialsPage{}
	var err error
	if c.ValidFrom, c.Expiry, err = credentialPeriod(f("from"), f("until"), p.now()); err == nil {
		err = p.records.IssueCredential(r.Context(), signer, c)
	}
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal credential issued", "principal", s.who.ID, "credential", c.ID)
		page.Done = fmt.Sprintf("Issued credential %s (%s %s) to %s.", c.ID, c.Kind, c.Value, c.Practitioner)
	}
	p.renderCredentials(w, r, s, status, page)
}

// credentialPeriod reads the form's dates (YYYY-MM-DD, UTC): from (empty:
// now) and until (empty: no expiry, else the end of that day).
func credentialPeriod(from, until string, now time.Time) (int64, int64, error) {
	start := now.Unix()
	if from != "" {
		t, err := time.Parse(time.DateOnly, from)
		if err != nil {
			return 0, 0, carechain.E(carechain.KindInvalid, fmt.Errorf("valid from %q: want a date, YYYY-MM-DD", from))
		}
		start = t.Unix()
	}
	if until == "" {
		return start, 0, nil
	}
	t, err := time.Parse(time.DateOnly, until)
	if err != nil {
		return 0, 0, carechain.E(carechain.KindInvalid, fmt.Errorf("valid until %q: want a date, YYYY-MM-DD", until))
	}
	return start, t.Add(24*time.Hour - time.Second).Unix(), nil
}

// credentialRevoke revokes the form's credential.
func (p *Portal) credentialRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	c := tx.CredentialRevoke{ID: r.PostForm.Get("id"), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	page := credentialsPage{}
	err := p.records.RevokeCredential(r.Context(), signer, c)
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal credential revoked", "principal", s.who.ID, "credential", c.ID)
		page.Done = "Revoked credential " + c.ID + ": from now on no consent condition or approval policy counts it."
	}
	p.renderCredentials(w, r, s, status, page)
}

// credentialVC answers credential id of the user's organization as a W3C
// Verifiable Credential signed with the user's key; its status is asked
// of this node.
func (p *Portal) credentialVC(w http.ResponseWriter, r *http.Request, s *session) {
	c, err := p.app.Latest().Credential(r.PathValue("id"))
	if err != nil || c.IssuerOrg != s.who.Org {
		p.fail(w, r, s, http.StatusNotFound, "Your organization issued no such credential.")
		return
	}
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	status := scheme + "://" + r.Host + "/v1/credentials/" + url.PathEscape(c.ID) + "/status"
	doc, err := vc.Issue(c, signer.Key, status, "", p.now())
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/vc+ld+json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+c.ID+`.vc.json"`)
	w.Write(append(doc, '\n'))
}

func (p *Portal) renderCredentials(w http.ResponseWriter, r *http.Request, s *session, status int, page credentialsPage) {
	v := p.app.Latest()
	all, err := v.AllCredentials()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	now := p.now()
	for _, c := range all {
		if c.IssuerOrg != s.who.Org {
			continue
		}
		row := credentialRow{Credential: c, Holder: principalLabel(v, c.Practitioner), From: time.Unix(c.ValidFrom, 0).UTC().Format(time.DateOnly)}
		if c.Expiry != 0 {
			row.Until = time.Unix(c.Expiry, 0).UTC().Format(time.DateOnly)
		}
		row.State, row.Why = c.Status(now.Unix())
		row.Exportable = row.State == carechain.CredentialActive
		page.Issued = append(page.Issued, row)
	}
	if page.Practitioners, err = practitionerOptions(v); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if o, err := v.Organization(s.who.Org); err == nil {
		page.OrgName = o.Name
	}
	for _, k := range carechain.CredentialKinds() {
		page.Kinds = append(page.Kinds, string(k))
	}
	var b [4]byte
	rand.Read(b[:])
	page.NewID, page.Today = "cred-"+hex.EncodeToString(b[:]), now.UTC().Format(time.DateOnly)
	p.render(w, s, status, "credentials", "Credentials", page)
}

// practitionerOptions are the active practitioners of every organization.
func practitionerOptions(v *ledger.View) ([]option, error) {
	all, err := v.Principals("")
	if err != nil {
		return nil, err
	}
	var out []option
	for _, pr := range all {
		if pr.Kind == carechain.KindPractitioner && pr.Status == carechain.StatusActive {
			out = append(out, option{Value: pr.ID, Label: principalLabel(v, pr.ID)})
		}
	}
	return out, nil
}
