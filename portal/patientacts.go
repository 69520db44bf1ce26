package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// A patient's everyday actions beside the timeline: adding their own data
// (patient-reported), a second-opinion share with an end, and their
// emergency rule. Every write is signed with the patient's key, unlocked
// at sign-in, through the records.Service call the FHIR API makes: Put
// for a resource (the ledger files a patient's write under
// carechain.CategoryPatientReported), Grant for a share, SetEmergencyRule
// and ClearEmergencyRule for the rule.

// actRoutes adds the routes of the everyday actions: this file's and
// those of emergencyrule.go, orderrule.go, requests.go, download.go, delegates.go and
// clinicianacts.go.
func (p *Portal) actRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/add", p.secured(p.patient(p.addPage)))
	mux.HandleFunc("POST /portal/add", p.secured(p.posted(p.patient(p.addData))))
	mux.HandleFunc("GET /portal/second-opinion", p.secured(p.patient(p.secondOpinionPage)))
	mux.HandleFunc("POST /portal/second-opinion", p.secured(p.posted(p.patient(p.secondOpinion))))
	mux.HandleFunc("GET /portal/emergency-rule", p.secured(p.patient(p.emergencyRulePage)))
	mux.HandleFunc("POST /portal/emergency-rule", p.secured(p.posted(p.patient(p.setEmergencyRule))))
	mux.HandleFunc("GET /portal/order-rule", p.secured(p.patient(p.orderRulePage)))
	mux.HandleFunc("POST /portal/order-rule", p.secured(p.posted(p.patient(p.setOrderRule))))
	mux.HandleFunc("GET /portal/requests", p.secured(p.patient(p.requestsPage)))
	mux.HandleFunc("POST /portal/requests/{id}/grant", p.secured(p.posted(p.patient(p.grantRequest))))
	mux.HandleFunc("POST /portal/requests/{id}/decline", p.secured(p.posted(p.patient(p.declineRequest))))
	mux.HandleFunc("GET /portal/download", p.secured(p.patient(p.downloadPage)))
	mux.HandleFunc("POST /portal/download", p.secured(p.posted(p.patient(p.startDownload))))
	mux.HandleFunc("GET /portal/download/{job}", p.secured(p.patient(p.downloadStatus)))
	mux.HandleFunc("GET /portal/download/{job}/file", p.secured(p.patient(p.downloadFile)))
	mux.HandleFunc("GET /portal/patients/{id}/write", p.secured(p.practitioner(p.writePage)))
	mux.HandleFunc("POST /portal/patients/{id}/write/{form}", p.secured(p.posted(p.practitioner(p.writeForm))))
	mux.HandleFunc("GET /portal/patients/{id}/correct/{record}", p.secured(p.practitioner(p.correctPage)))
	mux.HandleFunc("POST /portal/patients/{id}/correct/{record}", p.secured(p.posted(p.practitioner(p.proposeCorrection))))
	mux.HandleFunc("GET /portal/sharing/delegates", p.secured(p.patient(p.delegatesPage)))
	mux.HandleFunc("POST /portal/sharing/delegates/{change}", p.secured(p.posted(p.patient(p.changeDelegate))))
	mux.HandleFunc("GET /portal/request-access", p.secured(p.practitioner(p.requestAccessPage)))
	mux.HandleFunc("POST /portal/request-access", p.secured(p.posted(p.practitioner(p.requestAccess))))
}

// addPage is the patient's forms for their own data.
type addPage struct {
	Measures []measure
}

func (p *Portal) addPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, s, http.StatusOK, "adddata", "Add your own data", addPage{Measures: measures})
}

// addData writes the patient's measurement or symptom note as a new
// record, as a FHIR create by the patient would be.
func (p *Portal) addData(w http.ResponseWriter, r *http.Request, s *session) {
	var body []byte
	var err error
	switch r.PostForm.Get("kind") {
	case "measure":
		body, _, err = measurementResource(r.PostForm, s.who.ID, p.now())
	case "symptom":
		body, err = symptomResource(r.PostForm, s.who.ID, p.now())
	default:
		err = errors.New("choose what to add")
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was added: "+err.Error()+".")
		return
	}
	if _, ok := p.writeNew(w, r, s, s.who.ID, carechain.CategoryPatientReported, body); ok {
		http.Redirect(w, r, "/portal/records?category="+carechain.CategoryPatientReported, http.StatusSeeOther)
	}
}

// writeNew writes body (a FHIR resource of patient) as a new record in
// category, signed by the signed-in person, the way FHIR create does:
// parsed and validated, given a new record ID, its meta dropped; then
// records.Service.Put, where the ledger applies the role policy and the
// patient's consent. A refusal is answered with its reason.
func (p *Portal) writeNew(w http.ResponseWriter, r *http.Request, s *session, patient, category string, body []byte) (records.PutResult, bool) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return records.PutResult{}, false
	}
	out, err := p.putRecord(r.Context(), signer, patient, category, records.NewRecordID(), 0, body)
	var invalid *invalidResource
	switch {
	case errors.As(err, &invalid):
		p.fail(w, r, s, http.StatusBadRequest, "Not written: the resource is not valid FHIR R4: "+invalid.err.Error())
		return out, false
	case err != nil:
		p.refusedWrite(w, r, s, err)
		return out, false
	}
	return out, true
}

// putRecord writes body, a FHIR resource, as record id of patient in
// category (the version after ifMatch, if not 0), as a FHIR write by the
// signer is (records.Service.Put: validated, sealed, judged by the
// ledger), and clears body.
func (p *Portal) putRecord(ctx context.Context, signer records.Signer, patient, category, id string, ifMatch uint64, body []byte) (records.PutResult, error) {
	defer clear(body)
	res, err := fhirjson.Parse(body)
	if err == nil {
		err = res.SetID(id)
	}
	if err != nil {
		return records.PutResult{}, &invalidResource{err}
	}
	res.DropMeta()
	out, err := p.records.Put(ctx, signer, records.PutItem{Patient: patient, Category: category, RecordID: id, Parsed: res, IfMatch: ifMatch})
	if err == nil {
		p.logger.Info("portal write", "principal", signer.ID, "record", id, "category", category) // IDs only, never the data
	}
	return out, err
}

// invalidResource is a resource a form made that is not valid FHIR R4.
type invalidResource struct{ err error }

func (e *invalidResource) Error() string { return "not valid FHIR R4: " + e.err.Error() }
func (e *invalidResource) Unwrap() error { return e.err }

// signer is the signed-in person's signer on this node, or an answer
// that it holds none (a patient's key is held from sign-in to sign-out).
func (p *Portal) signer(w http.ResponseWriter, r *http.Request, s *session) (records.Signer, bool) {
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node does not hold your signing key: sign in again, or use your own organization's node.")
	}
	return signer, ok
}

// refusedWrite answers a write the services refused, with the reason.
func (p *Portal) refusedWrite(w http.ResponseWriter, r *http.Request, s *session, err error) {
	kind := carechain.KindOf(err)
	if kind == carechain.KindPermission || kind == carechain.KindInvalid || kind == carechain.KindMalformed || kind == carechain.KindConflict {
		p.fail(w, r, s, kind.Status(), "Not written: "+err.Error()+".")
		return
	}
	p.failErr(w, r, s, err)
}

// secondOpinionPage is the one-step second-opinion share.
type secondOpinionPage struct {
	Practitioners []option
	Categories    []string
	Ends          string // datetime-local value, UTC
}

// secondOpinionDays is how long a second-opinion share lasts unless the
// patient chooses another end.
const secondOpinionDays = 14

// endLayout is the layout of a datetime-local input's value.
const endLayout = "2006-01-02T15:04"

func (p *Portal) secondOpinionPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	all, err := directory(v)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := secondOpinionPage{Ends: p.now().UTC().Add(secondOpinionDays * 24 * time.Hour).Format(endLayout)}
	for _, o := range all {
		if strings.HasPrefix(o.Value, "principal:") {
			page.Practitioners = append(page.Practitioners, o)
		}
	}
	if page.Categories, err = v.Categories(); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	p.render(w, s, http.StatusOK, "secondopinion", "Second opinion", page)
}

// secondOpinion grants one practitioner read access to the chosen
// categories for purpose second-opinion, from now until the chosen end
// (records.Service.Grant, as the sharing page's grants).
func (p *Portal) secondOpinion(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	g := consent.Grant{Patient: s.who.ID, Categories: f["category"], Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeSecondOpinion}, NotBefore: p.now().Unix()}
	kind, id, _ := strings.Cut(f.Get("grantee"), ":")
	end, err := parseEnd(f.Get("ends"))
	switch {
	case kind != "principal" || id == "":
		err = errors.New("choose the clinician who gives the second opinion")
	case len(g.Categories) == 0:
		err = errors.New("choose at least one category")
	case err != nil:
	case !end.After(p.now()):
		err = fmt.Errorf("the end (%s UTC) has passed", end.Format("2 Jan 2006 15:04:05"))
	}
	if err == nil {
		g.Grantee.Principal, g.NotAfter = id, end.Unix()
		err = g.ValidateTerms()
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was shared: "+err.Error()+".")
		return
	}
	if _, ok := p.signedGrant(w, r, s, g); ok {
		http.Redirect(w, r, "/portal/sharing?done=granted", http.StatusSeeOther)
	}
}

// parseEnd reads a datetime-local value (minutes or seconds), as UTC.
func parseEnd(v string) (time.Time, error) {
	for _, layout := range []string{endLayout, endLayout + ":05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("the end %q is not a date and time", v)
}

// signedGrant makes g with the signed-in patient's key and returns its ID.
func (p *Portal) signedGrant(w http.ResponseWriter, r *http.Request, s *session, g consent.Grant) (string, bool) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return "", false
	}
	id, err := p.records.Grant(r.Context(), signer, g)
	if err != nil {
		p.failErr(w, r, s, err)
		return "", false
	}
	return id, true
}
