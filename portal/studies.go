package portal

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
)

// The patient's Studies page (/portal/studies): every study registered on
// the ledger with the plain-language consent summary the CLI prints
// (study.Protocol.ConsentSummary), its data categories and period; Join
// grants the study's terms (as `carechain consent grant --study`), and
// once joined the page shows what is shared and a Withdraw button (as
// `carechain study withdraw`), and the patient's enrolment, if any, without
// its arm while the study is blinded.

// studiesPage is the patient page's data.
type studiesPage struct {
	Studies     []patientStudy
	Done, Error string
}

// patientStudy is one study as a patient sees it.
type patientStudy struct {
	ID, Title, Sponsor string
	Summary            []string // the consent summary's sentences, one a line
	Categories         []string
	Period             string
	Takes              bool // the protocol in force names data categories: a patient can join
	Grant              *ledger.StoredGrant
	Since              string // the grant's start
	Withdrawn          bool   // the patient joined and withdrew
	Enrolment          *ledger.Enrolment
	Arm                string // once unblinded
}

func (p *Portal) studyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/studies", p.secured(p.patient(p.studiesList)))
	mux.HandleFunc("POST /portal/studies/join", p.secured(p.posted(p.patient(p.studyJoin))))
	mux.HandleFunc("POST /portal/studies/withdraw", p.secured(p.posted(p.patient(p.studyWithdraw))))
	p.studyBoardRoutes(mux)   // the ethics board's page (studyboard.go)
	p.studySponsorRoutes(mux) // the sponsor's page and forms (studysponsor.go)
	p.studySiteRoutes(mux)    // the site's enrolment page (studysite.go)
}

// studyInForce reads study id and its protocol version in force from v.
func studyInForce(v *ledger.View, id string) (*ledger.StudyState, *ledger.StudyVersion, error) {
	st, err := v.Study(id)
	if err != nil {
		return nil, nil, err
	}
	vs, err := v.StudyVersions(id)
	if err != nil {
		return nil, nil, err
	}
	if i := slices.IndexFunc(vs, func(x ledger.StudyVersion) bool { return x.Version == st.Version }); i >= 0 {
		return st, &vs[i], nil
	}
	return nil, nil, fmt.Errorf("study %s: version %d in force is missing", id, st.Version)
}

// dataPeriod says how long a protocol's data period runs.
func dataPeriod(pr *study.Protocol) string {
	if pr.DataUntil == 0 {
		return "until you withdraw"
	}
	return "until " + time.Unix(pr.DataUntil, 0).UTC().Format(time.DateOnly) + " or until you withdraw"
}

func (p *Portal) studiesList(w http.ResponseWriter, r *http.Request, s *session) {
	page := studiesPage{}
	switch r.URL.Query().Get("done") {
	case "joined":
		page.Done = "You joined the study. Its researchers read the categories below, de-identified, for research only; whether you may take part is checked when the study site enrols you."
	case "withdrawn":
		page.Done = "You withdrew from the study: nothing you record from now on is shared with it; what was recorded before stays in the study's data, as in any clinical trial."
	}
	p.renderStudies(w, r, s, http.StatusOK, page)
}

func (p *Portal) renderStudies(w http.ResponseWriter, r *http.Request, s *session, status int, page studiesPage) {
	v := p.app.Latest()
	all, err := v.Studies()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	grants, err := v.Grants(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, st := range all {
		row, err := patientStudyRow(v, &st, grants)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		page.Studies = append(page.Studies, row)
	}
	p.render(w, s, status, "studies", "Studies", page)
}

// patientStudyRow is study st for the patient whose grants are grants.
func patientStudyRow(v *ledger.View, st *ledger.StudyState, grants ledger.Grants) (patientStudy, error) {
	_, ver, err := studyInForce(v, st.ID)
	if err != nil {
		return patientStudy{}, err
	}
	pr := &ver.Protocol
	row := patientStudy{ID: st.ID, Title: st.Title, Sponsor: st.Sponsor, Categories: pr.DataCategories, Period: dataPeriod(pr),
		Takes: len(pr.DataCategories) > 0}
	if o, err := v.Organization(st.Sponsor); err == nil {
		row.Sponsor = o.Name + " (" + o.ID + ")"
	}
	if row.Takes {
		row.Summary = strings.Split(strings.TrimSpace(pr.ConsentSummary(st.ID, st.Title, st.Sponsor)), "\n")
	}
	var mine []string // the patient's consents to the study, withdrawn or not
	for i := range grants {
		g := &grants[i]
		if g.Study != st.ID {
			continue
		}
		mine = append(mine, g.ID)
		if !g.Revoked {
			row.Grant, row.Since = g, time.Unix(g.NotBefore, 0).UTC().Format(time.DateOnly)
		}
	}
	row.Withdrawn = row.Grant == nil && len(mine) > 0
	enrolments, err := v.Enrolments(st.ID)
	if err != nil {
		return patientStudy{}, err
	}
	for i := range enrolments {
		if slices.Contains(mine, enrolments[i].Consent) {
			row.Enrolment = &enrolments[i]
			if st.UnblindedHeight != 0 {
				row.Arm = study.Allocate(st.Seed, enrolments[i].Number, pr.Arms)
			}
		}
	}
	return row, nil
}

// studyJoin grants the study's terms in force, signed with the patient's
// key, as `carechain consent grant --study` does.
func (p *Portal) studyJoin(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	st, ver, err := studyInForce(p.app.Latest(), r.PostForm.Get("study"))
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	pr := &ver.Protocol
	g := consent.Grant{Patient: s.who.ID, Grantee: consent.Grantee{Org: st.Sponsor}, Categories: pr.DataCategories,
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch},
		NotBefore: p.now().Unix(), NotAfter: pr.DataUntil, Study: st.ID}
	page := studiesPage{}
	_, err = p.records.Grant(r.Context(), signer, g)
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err != nil {
		p.renderStudies(w, r, s, status, page)
		return
	}
	p.logger.Info("portal study consent", "principal", s.who.ID, "study", st.ID)
	http.Redirect(w, r, "/portal/studies?done=joined", http.StatusSeeOther)
}

// studyWithdraw revokes the patient's consent in force to the study, as
// `carechain study withdraw` does.
func (p *Portal) studyWithdraw(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	id := r.PostForm.Get("study")
	grants, err := p.app.Latest().Grants(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	i := slices.IndexFunc(grants, func(g ledger.StoredGrant) bool { return g.Study == id && !g.Revoked })
	if i < 0 {
		p.renderStudies(w, r, s, http.StatusConflict, studiesPage{Error: "Not done: you have no consent in force to study " + strings.TrimSpace(id) + "."})
		return
	}
	page := studiesPage{}
	err = p.records.Revoke(r.Context(), signer, s.who.ID, grants[i].ID)
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err != nil {
		p.renderStudies(w, r, s, status, page)
		return
	}
	p.logger.Info("portal study withdrawal", "principal", s.who.ID, "study", id)
	http.Redirect(w, r, "/portal/studies?done=withdrawn", http.StatusSeeOther)
}
