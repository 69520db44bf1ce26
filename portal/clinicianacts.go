package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// A clinician's everyday writes on a patient's chart: forms for a visit
// (visitform.go), vital signs, a lab result, a note, a prescription and an imaging report, each made into a FHIR R4
// resource (fhirforms.go) and written as a FHIR create by the practitioner
// is (writeNew: records.Service.Put, where the ledger applies the
// organization's role policy and the patient's consent; a refusal shows
// its reason). And a correction of a record: the changed version is
// proposed under the record owner's approval policy
// (records.Service.Propose, as a FHIR update of such a record is), or, if
// no policy covers the record, written as its next version (an update).

// writeFormPage is the chart's write forms.
type writeFormPage struct {
	Patient, Short string
	Vitals         []measure
	LabUnits       []string
	Studies        []imagingStudy
	VisitTypes     []visitKind
	Procedures     []visitKind
}

// chartPatient is the patient of a chart URL ({id}), or an answer that
// there is none.
func (p *Portal) chartPatient(w http.ResponseWriter, r *http.Request, s *session) (string, bool) {
	patient := carechain.PatientPrefix + r.PathValue("id")
	if pt, err := p.app.Latest().Principal(patient); err != nil || pt.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusNotFound, "There is no such patient.")
		return "", false
	}
	return patient, true
}

func (p *Portal) writePage(w http.ResponseWriter, r *http.Request, s *session) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return
	}
	page := writeFormPage{Patient: patient, Short: r.PathValue("id"), LabUnits: labUnits, Studies: imagingStudies,
		VisitTypes: visitTypes, Procedures: visitProcedures}
	for _, m := range measures {
		if !m.PatientOnly {
			page.Vitals = append(page.Vitals, m)
		}
	}
	p.render(w, s, http.StatusOK, "write", "Write to the chart of "+patient, page)
}

// writeForm writes what form {form} describes into the patient's records.
func (p *Portal) writeForm(w http.ResponseWriter, r *http.Request, s *session) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return
	}
	var body []byte
	var category string
	var err error
	now := p.now()
	switch r.PathValue("form") {
	case "visit":
		p.writeVisit(w, r, s, patient) // several records: visitform.go
		return
	case "vital":
		if m, ok := measureOf(r.PostForm.Get("measure")); !ok || m.PatientOnly {
			err = errors.New("choose a vital sign")
			break
		}
		body, category, err = measurementResource(r.PostForm, patient, now)
	case "lab":
		category = "lab"
		body, err = labResource(r.PostForm, patient, now)
	case "note":
		category = "general"
		body, err = noteResource(r.PostForm, patient, now)
	case "prescription":
		category = "medication"
		body, err = prescriptionResource(r.PostForm, patient, now)
	case "imaging":
		category = "imaging"
		body, err = imagingResource(r.PostForm, patient, now)
	default:
		p.notFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not written: "+err.Error()+".")
		return
	}
	if _, ok := p.writeNew(w, r, s, patient, category, body); ok {
		http.Redirect(w, r, "/portal/patients/"+r.PathValue("id")+"?written="+url.QueryEscape(r.PathValue("form")), http.StatusSeeOther)
	}
}

// correctPage is a record's current version as JSON, to be edited, with
// the reason for the change.
type correctPage struct {
	Patient, Short, RecordID string
	Version                  uint64
	JSON                     string
	NeedsApproval            bool
}

// correctionTTL is how long a correction proposed in the portal stays
// open, as one proposed over FHIR.
const correctionTTL = 7 * 24 * time.Hour

// correctable is record {record} of the chart's patient if the signed-in
// practitioner may write it (records.Service.Visible for write, which logs
// a refusal), or an answer that it is not.
func (p *Portal) correctable(w http.ResponseWriter, r *http.Request, s *session) (*carechain.RecordHead, bool) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return nil, false
	}
	head, err := p.records.Visible(r.Context(), s.who.ID, r.PathValue("record"), purpose, consent.ActionWrite)
	switch {
	case errors.Is(err, records.ErrNotVisible) || err == nil && (head.Patient != patient || head.Deleted):
		p.fail(w, r, s, http.StatusNotFound, "There is no such record you may correct.")
		return nil, false
	case err != nil:
		p.failErr(w, r, s, err)
		return nil, false
	}
	return head, true
}

func (p *Portal) correctPage(w http.ResponseWriter, r *http.Request, s *session) {
	head, ok := p.correctable(w, r, s)
	if !ok {
		return
	}
	out, ok := p.readIndented(w, r, s, head.RecordID, head.Latest)
	if !ok {
		return
	}
	defer clear(out.Bytes())
	_, perr := p.app.Latest().ApprovalPolicy(head)
	page := correctPage{Patient: head.Patient, Short: r.PathValue("id"), RecordID: head.RecordID, Version: head.Latest,
		JSON: out.String(), NeedsApproval: perr == nil}
	p.render(w, s, http.StatusOK, "correct", "Correct "+head.RecordID, page)
}

// proposeCorrection proposes (or, with no approval policy, writes) the
// form's changed version of the record, following the version the form
// was made from.
func (p *Portal) proposeCorrection(w http.ResponseWriter, r *http.Request, s *session) {
	head, ok := p.correctable(w, r, s)
	if !ok {
		return
	}
	base, err := strconv.ParseUint(r.PostForm.Get("version"), 10, 64)
	if err != nil || base != head.Latest {
		p.fail(w, r, s, http.StatusConflict, fmt.Sprintf("Not proposed: the record changed since you opened it (it is at version %d). Open it again.", head.Latest))
		return
	}
	text := []byte(r.PostForm.Get("resource"))
	defer clear(text)
	res, err := fhirjson.Parse(text)
	if err == nil && res.Type() != head.ResourceType {
		err = fmt.Errorf("the record holds a %s, not a %s", head.ResourceType, res.Type())
	}
	if err == nil {
		err = res.SetID(head.RecordID)
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not proposed: "+err.Error()+".")
		return
	}
	res.DropMeta()
	signer, reason, ok := p.signedForm(w, r, s, true, "Not proposed: say why the record is corrected.")
	if !ok {
		return
	}
	short := r.PathValue("id")
	if _, perr := p.app.Latest().ApprovalPolicy(head); errors.Is(perr, ledger.ErrNotFound) {
		_, err = p.records.Put(r.Context(), signer, records.PutItem{Patient: head.Patient, Category: head.Category, RecordID: head.RecordID, Parsed: res, IfMatch: base})
		if err != nil {
			p.refusedWrite(w, r, s, err)
			return
		}
		http.Redirect(w, r, "/portal/patients/"+short+"?written=correction", http.StatusSeeOther)
		return
	}
	id, err := p.records.Propose(r.Context(), signer, head.RecordID, res.Canonical(), reason, correctionTTL)
	if err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.logger.Info("portal correction proposed", "principal", s.who.ID, "record", head.RecordID, "proposal", id)
	p.render(w, s, http.StatusAccepted, "proposed", "Correction proposed", proposedPage{ID: id, RecordID: head.RecordID, Short: short})
}

// proposedPage confirms a proposal.
type proposedPage struct{ ID, RecordID, Short string }

// writtenMessages are what the chart says after a write (?written=...).
var writtenMessages = map[string]string{
	"visit": "Visit recorded.", "vital": "Vital sign written.", "lab": "Lab result written.", "note": "Note written.",
	"prescription": "Prescription written.", "imaging": "Imaging report written.", "correction": "Correction written as the record's next version.",
}

// writtenMessage is the chart's message for ?written=.
func writtenMessage(q url.Values) string { return writtenMessages[strings.TrimSpace(q.Get("written"))] }
