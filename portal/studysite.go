package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
)

// The site's page (/portal/studies/site), for practitioners: the studies
// open for enrolment and a form that enrols a patient as `carechain study
// enrol` does. This node reads the patient's records the practitioner may
// read (each read in the patient's access log), evaluates the criteria of
// the protocol in force here and puts only the outcome on the ledger; an
// ineligible patient is refused with the criterion that failed, and
// nothing is written.

// sitePage is the site's page's data.
type sitePage struct {
	Open        []siteStudy
	Done, Error string
	Patient     string // what a refused enrolment posted, shown again
}

// siteStudy is a study open for enrolment.
type siteStudy struct {
	ID, Title, Sponsor, Eligibility string
	Criteria                        []study.Criterion
	Enrolled                        uint64
}

func (p *Portal) studySiteRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/studies/site", p.secured(p.practitioner(p.studySite)))
	mux.HandleFunc("POST /portal/studies/enrol", p.secured(p.posted(p.practitioner(p.studyEnrol))))
}

func (p *Portal) studySite(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSite(w, r, s, http.StatusOK, sitePage{})
}

// studyEnrol enrols the form's patient in the form's study.
func (p *Portal) studyEnrol(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	studyID, patient := r.PostForm.Get("study"), strings.TrimSpace(r.PostForm.Get("patient"))
	if patient != "" && !strings.Contains(patient, "/") {
		patient = "patient/" + patient
	}
	page := sitePage{}
	en, err := p.records.Enrol(r.Context(), signer, studyID, patient)
	var ie *study.IneligibleError
	status := http.StatusOK
	switch {
	case errors.As(err, &ie):
		status, page.Error = http.StatusUnprocessableEntity, fmt.Sprintf("Not enrolled: %s is not eligible for study %s: %v. Nothing was put on the ledger.", patient, studyID, err)
	case errors.Is(err, ledger.ErrNotFound):
		status, page.Error = http.StatusNotFound, fmt.Sprintf("Not enrolled: study %q or patient %q is not known.", studyID, patient)
	case err != nil:
		if status = actOutcome(err, &page.Error); status == 0 {
			p.failErr(w, r, s, err)
			return
		}
	default:
		p.logger.Info("portal study enrolment", "principal", s.who.ID, "study", studyID, "subject", en.SubjectID())
		page.Done = fmt.Sprintf("Enrolled %s in study %s as subject %s: the criteria of protocol version %d found them eligible. The sponsor tells you their arm.", patient, studyID, en.SubjectID(), en.Version)
	}
	if err != nil {
		page.Patient = patient
	}
	p.renderSite(w, r, s, status, page)
}

func (p *Portal) renderSite(w http.ResponseWriter, r *http.Request, s *session, status int, page sitePage) {
	v := p.app.Latest()
	all, err := v.Studies()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, st := range all {
		if !openForEnrolment(st) {
			continue
		}
		_, inForce, err := studyInForce(v, st.ID)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		page.Open = append(page.Open, siteStudy{ID: st.ID, Title: st.Title, Sponsor: principalOrg(v, st.Sponsor),
			Eligibility: inForce.Protocol.Eligibility, Criteria: inForce.Protocol.Criteria, Enrolled: st.Enrolled})
	}
	p.render(w, s, status, "studysite", "Study enrolment", page)
}

// openForEnrolment reports whether study st takes enrolments: its
// randomization is committed and it is not unblinded.
func openForEnrolment(st ledger.StudyState) bool {
	return st.UnblindedHeight == 0 && len(st.SeedHash) > 0
}

// studiesOpen reports whether some study takes enrolments.
func studiesOpen(v *ledger.View) bool {
	all, err := v.Studies()
	return err == nil && slices.ContainsFunc(all, openForEnrolment)
}
