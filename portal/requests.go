package portal

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Access requests, the patient's side: the requests clinicians made
// (ledger access.request, clinicianacts.go), each with its reason opened
// with the patient's key on this node, and for an open one a grant form
// filled in with what was asked (the patient may narrow it and choose an
// end) and a decline button. Granting makes an ordinary consent.grant
// (records.Service.Grant) and then closes the request naming that grant
// (access.answer); declining closes it.

// requestsPage lists the patient's access requests.
type requestsPage struct {
	Requests []requestRow
	Done     string
}

type requestRow struct {
	ID, RequesterID, Requester, Reason, Status, Answered string
	Categories                                           []choice
	Purposes                                             []string
	Purpose                                              string
	Time                                                 time.Time
	Open                                                 bool
	Until                                                string // the grant form's default end (date)
}

func (p *Portal) requestsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	reqs, err := p.records.AccessRequests(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	cats, err := v.Categories()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := requestsPage{}
	switch r.URL.Query().Get("done") {
	case "granted":
		page.Done = "Access granted: the request is answered, and the grant is on your sharing page."
	case "declined":
		page.Done = "Request declined. Nothing was shared."
	}
	for _, q := range reqs {
		page.Requests = append(page.Requests, requestRowOf(v, q, cats, p.now()))
	}
	p.render(w, s, http.StatusOK, "requests", "Access requests", page)
}

func requestRowOf(v *ledger.View, q records.AccessRequest, cats []string, now time.Time) requestRow {
	row := requestRow{ID: q.ID, RequesterID: q.Requester, Requester: principalLabel(v, q.Requester), Reason: q.Reason, Status: q.Status,
		Time: time.Unix(q.Time, 0).UTC(), Open: q.Status == ledger.RequestOpen, Categories: choices(cats, q.Categories),
		Until: now.UTC().Add(90 * 24 * time.Hour).Format("2006-01-02")}
	for _, pu := range q.Purposes {
		row.Purposes = append(row.Purposes, string(pu))
	}
	if len(row.Purposes) > 0 {
		row.Purpose = row.Purposes[0]
	}
	if !row.Open {
		row.Answered = time.Unix(q.AnsweredAt, 0).UTC().Format("2 Jan 2006 15:04 UTC")
		if q.GrantID != "" {
			row.Answered += " (grant " + q.GrantID + ")"
		}
	}
	return row
}

// openRequest is the signed-in patient's open request {id}, or an answer
// that there is none.
func (p *Portal) openRequest(w http.ResponseWriter, r *http.Request, s *session) (*ledger.AccessRequest, bool) {
	reqs, err := p.app.Latest().AccessRequests(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return nil, false
	}
	i := slices.IndexFunc(reqs, func(q ledger.AccessRequest) bool { return q.ID == r.PathValue("id") })
	if i < 0 || reqs[i].Status != ledger.RequestOpen {
		p.fail(w, r, s, http.StatusNotFound, "There is no such open request.")
		return nil, false
	}
	return &reqs[i], true
}

// grantRequest grants what the pre-filled form says to the requester, then
// closes the request naming the grant.
func (p *Portal) grantRequest(w http.ResponseWriter, r *http.Request, s *session) {
	q, ok := p.openRequest(w, r, s)
	if !ok {
		return
	}
	r.PostForm.Set("grantee", "principal:"+q.Requester)
	g, err := p.grantOf(r, s.who.ID)
	if err == nil && !slices.Contains(q.Purposes, g.Purposes[0]) {
		err = errors.New("the purpose is not one the clinician asked for")
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The grant was not made: "+err.Error())
		return
	}
	id, ok := p.signedGrant(w, r, s, g)
	if !ok {
		return
	}
	p.answer(w, r, s, q.ID, id, "granted")
}

// declineRequest closes the request without sharing anything.
func (p *Portal) declineRequest(w http.ResponseWriter, r *http.Request, s *session) {
	if q, ok := p.openRequest(w, r, s); ok {
		p.answer(w, r, s, q.ID, "", "declined")
	}
}

func (p *Portal) answer(w http.ResponseWriter, r *http.Request, s *session, id, grantID, done string) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if err := p.records.AnswerAccessRequest(r.Context(), signer, s.who.ID, id, grantID); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/requests?done="+done, http.StatusSeeOther)
}

// requestAccessPage is a practitioner's form to ask a patient for access.
type requestAccessPage struct {
	Patient    string // the short ID, if known
	Categories []string
	Purposes   []string
	Done       string
}

func (p *Portal) requestAccessPage(w http.ResponseWriter, r *http.Request, s *session) {
	cats, err := p.app.Latest().Categories()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := requestAccessPage{Patient: strings.TrimPrefix(r.URL.Query().Get("patient"), carechain.PatientPrefix), Categories: cats,
		Purposes: []string{string(consent.PurposeTreatment), string(consent.PurposeSecondOpinion)}}
	if r.URL.Query().Get("done") == "sent" {
		page.Done = "Your request is on the ledger. The patient sees it on their Requests page; you can read their records once they grant it."
	}
	p.render(w, s, http.StatusOK, "requestaccess", "Request access", page)
}

// requestAccess submits the form's access request (records.Service.
// RequestAccess): the reason is sealed to the patient.
func (p *Portal) requestAccess(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	patient := carechain.PatientPrefix + strings.TrimPrefix(strings.TrimSpace(f.Get("patient")), carechain.PatientPrefix)
	if pt, err := p.app.Latest().Principal(patient); err != nil || pt.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusNotFound, "There is no such patient.")
		return
	}
	if len(f["category"]) == 0 {
		p.fail(w, r, s, http.StatusBadRequest, "The request was not sent: choose at least one category.")
		return
	}
	signer, reason, ok := p.signedForm(w, r, s, true, "The request was not sent: say why you need access.")
	if !ok {
		return
	}
	purposes := []consent.Purpose{consent.Purpose(f.Get("purpose"))}
	if _, err := p.records.RequestAccess(r.Context(), signer, patient, f["category"], purposes, reason); err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.logger.Info("portal access request", "principal", s.who.ID, "patient", patient) // the reason is sealed, never logged
	http.Redirect(w, r, "/portal/request-access?done=sent&patient="+strings.TrimPrefix(patient, carechain.PatientPrefix), http.StatusSeeOther)
}
