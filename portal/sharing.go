package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// sharingPage is a patient's grants and the form to make one.
type sharingPage struct {
	Grants     []grantRow
	Grantees   []option
	Roles      []option
	Categories []string
	Purposes   []string
	Done       string
}

type grantRow struct {
	ID, Grantee, Categories, Purposes, Actions, Period, Status string
	Active, Emergency                                          bool
}

type option struct{ Value, Label string }

// done are the messages a sharing change redirects with (?done=...).
var done = map[string]string{"granted": "Access granted.", "revoked": "Access revoked: the grantee can no longer read these records."}

// sharing lists the patient's grants (the ledger's, as the FHIR Consent
// view does) and offers grantees from the directory.
func (p *Portal) sharing(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	page := sharingPage{Done: done[r.URL.Query().Get("done")],
		Purposes: []string{string(consent.PurposeTreatment), string(consent.PurposeSecondOpinion), string(consent.PurposeResearch), string(consent.PurposeBilling)}}
	grants, err := v.Grants(s.who.ID)
	if err == nil {
		page.Grants = grantRows(v, grants, p.now())
		page.Grantees, err = directory(v)
	}
	if err == nil {
		page.Categories, err = v.Categories()
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, role := range carechain.Roles() {
		page.Roles = append(page.Roles, option{string(role), string(role)})
	}
	p.render(w, s, http.StatusOK, "sharing", "Sharing", page)
}

// grantRows describes grants, newest first.
func grantRows(v *ledger.View, grants ledger.Grants, now time.Time) []grantRow {
	out := make([]grantRow, 0, len(grants))
	for _, g := range slices.Backward(grants) {
		row := grantRow{ID: g.ID, Grantee: granteeLabel(v, g.Grantee), Categories: strings.Join(g.Categories, ", "),
			Emergency: g.Emergency, Period: "from " + time.Unix(g.NotBefore, 0).UTC().Format("2 Jan 2006")}
		if len(g.ResourceTypes) > 0 {
			row.Categories = strings.TrimPrefix(row.Categories+", "+strings.Join(g.ResourceTypes, ", "), ", ")
		}
		if g.RecordID != "" {
			row.Categories = "record " + g.RecordID
		}
		for _, pu := range g.Purposes {
			row.Purposes = strings.TrimPrefix(row.Purposes+", "+string(pu), ", ")
		}
		for _, a := range g.Actions {
			row.Actions = strings.TrimPrefix(row.Actions+", "+string(a), ", ")
		}
		if g.NotAfter != 0 {
			row.Period += " until " + time.Unix(g.NotAfter, 0).UTC().Format("2 Jan 2006")
		}
		switch {
		case g.Revoked:
			row.Status = "revoked " + time.Unix(g.RevokedAt, 0).UTC().Format("2 Jan 2006 15:04 UTC")
		case g.NotAfter != 0 && g.NotAfter <= now.Unix():
			row.Status = "expired"
		default:
			row.Status, row.Active = "active", true
		}
		out = append(out, row)
	}
	return out
}

// granteeLabel names a grantee for people.
func granteeLabel(v *ledger.View, g consent.Grantee) string {
	if g.Principal != "" {
		return principalLabel(v, g.Principal)
	}
	org := g.Org
	if o, err := v.Organization(g.Org); err == nil && o.Name != "" {
		org = o.Name
	}
	if g.Role != "" {
		return "every " + string(g.Role) + " of " + org
	}
	return "everyone treating you at " + org
}

// directory is who a patient may grant to: practitioners and
// organizations, by name.
func directory(v *ledger.View) ([]option, error) {
	ps, err := v.Principals("")
	if err != nil {
		return nil, err
	}
	orgs, err := v.Organizations()
	if err != nil {
		return nil, err
	}
	var out []option
	for _, o := range orgs {
		out = append(out, option{"org:" + o.ID, "Organization: " + cmpOr(o.Name, o.ID)})
	}
	for _, pr := range ps {
		if pr.Kind == carechain.KindPractitioner && pr.Status == carechain.StatusActive {
			out = append(out, option{"principal:" + pr.ID, principalLabel(v, pr.ID)})
		}
	}
	return out, nil
}

// grant makes the grant the form describes, signed with the patient's key
// (unlocked at sign-in) through records.Service.Grant.
func (p *Portal) grant(w http.ResponseWriter, r *http.Request, s *session) {
	g, err := p.grantOf(r, s.who.ID)
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The grant was not made: "+err.Error())
		return
	}
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node no longer holds your key: sign in again.")
		return
	}
	if _, err := p.records.Grant(r.Context(), signer, g); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/sharing?done=granted", http.StatusSeeOther)
}

// grantOf reads the grant form: grantee, categories, purpose, until, and
// whether the grantee may also write.
func (p *Portal) grantOf(r *http.Request, patient string) (consent.Grant, error) {
	f := r.PostForm
	g := consent.Grant{Patient: patient, Categories: f["category"], Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.Purpose(f.Get("purpose"))}, NotBefore: p.now().Unix()}
	if f.Get("write") == "1" { // e.g. a pharmacy's dispenses (pharmacy.go)
		g.Actions = append(g.Actions, consent.ActionWrite)
	}
	switch kind, id, _ := strings.Cut(f.Get("grantee"), ":"); kind {
	case "principal":
		g.Grantee.Principal = id
	case "org":
		g.Grantee.Org, g.Grantee.Role = id, carechain.Role(f.Get("role"))
	default:
		return g, errors.New("choose whom to grant access to")
	}
	if len(g.Categories) == 0 {
		return g, errors.New("choose at least one category")
	}
	if u := f.Get("until"); u != "" {
		t, err := time.Parse("2006-01-02", u)
		if err != nil {
			return g, fmt.Errorf("until: %q is not a date", u)
		}
		g.NotAfter = t.Add(24*time.Hour - time.Second).Unix()
	}
	if err := g.ValidateTerms(); err != nil {
		return g, err
	}
	return g, nil
}

// revoke revokes one of the patient's grants through records.Service.Revoke.
func (p *Portal) revoke(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node no longer holds your key: sign in again.")
		return
	}
	if err := p.records.Revoke(r.Context(), signer, s.who.ID, r.PostForm.Get("grant")); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/sharing?done=revoked", http.StatusSeeOther)
}
