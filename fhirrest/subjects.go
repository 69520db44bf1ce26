package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
)

// Enrolments (ledger/enrolment.go) as FHIR R4 ResearchSubject, read-only:
// GET /fhir/ResearchSubject/{study}.{n} and searches by study and by
// patient. A subject names its patient by the grant ID of their study
// consent (individual.identifier, system studyConsentSystem); only the
// patient and their delegates see the Patient reference. status is
// on-study, or withdrawn once the patient revoked that consent;
// assignedArm appears once the study is unblinded (study.Allocate over the
// revealed seed). A search by patient is for the patient, their delegates
// and practitioners (sites).

const (
	studyConsentSystem  = "urn:carechain:study-consent"
	eligibleByExtension = "urn:carechain:eligible-by-protocol-version"
)

var subjectSearchDoc = "By study (study=ResearchStudy/<id> or <id>) or by patient (patient=Patient/<id>: the patient, their delegates and practitioners)."

func (s *server) subjectRoutes(handle func(string, http.HandlerFunc)) {
	handle("GET /fhir/ResearchSubject/{id}", s.authed(s.readSubject))
	handle("GET /fhir/ResearchSubject", s.authed(s.searchSubjects))
	handle("POST /fhir/ResearchSubject", s.authed(s.createSubject))
}

// createSubject enrols the patient a ResearchSubject names (individual) in
// its study, as the caller, a practitioner whose key this node holds: the
// node checks the criteria over what it decrypts for them
// (records.Service.Enrol). An ineligible patient is 422 naming the
// criterion that failed, in this answer only.
func (s *server) createSubject(w http.ResponseWriter, r *http.Request, c caller) {
	b, err := readBody(w, r, MaxBody)
	if err != nil {
		s.failErr(w, err)
		return
	}
	var in struct {
		ResourceType string
		Study        struct{ Reference string }
		Individual   struct{ Reference string }
	}
	if err := json.Unmarshal(b, &in); err != nil || in.ResourceType != "ResearchSubject" {
		s.fail(w, http.StatusBadRequest, "structure", errors.New("want a ResearchSubject with study and individual"))
		return
	}
	studyID, ok := strings.CutPrefix(in.Study.Reference, "ResearchStudy/")
	patient, okp := patientOf(in.Individual.Reference)
	if !ok || !okp {
		s.fail(w, http.StatusBadRequest, "required", errors.New("a ResearchSubject names its study (ResearchStudy/<id>) and its individual (Patient/<id>)"), "ResearchSubject.study")
		return
	}
	if c.principal.Kind != carechain.KindPractitioner {
		s.fail(w, http.StatusForbidden, "forbidden", fmt.Errorf("%s may not enrol through this node: a site's practitioner does (a patient enrols with carechain study enrol)", c.principal.ID))
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	en, err := s.Records.Enrol(r.Context(), signer, studyID, patient)
	var ie *study.IneligibleError
	switch {
	case errors.As(err, &ie):
		s.fail(w, http.StatusUnprocessableEntity, "business-rule", fmt.Errorf("%s is not eligible for study %s: %w; nothing was put on the ledger", patient, studyID, err))
		return
	case errors.Is(err, ledger.ErrNotFound):
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("ResearchStudy/%s is not known", studyID))
		return
	case err != nil:
		s.failErr(w, err)
		return
	}
	res, err := researchSubject(c, en)
	if err != nil {
		s.failErr(w, err)
		return
	}
	c.deid.markHandled()
	w.Header().Set("Location", s.abs("/fhir/ResearchSubject/"+en.SubjectID()))
	writeFHIR(w, http.StatusCreated, res)
}

func (s *server) readSubject(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	i := strings.LastIndexByte(id, '.')
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	var ens []ledger.Enrolment
	if i > 0 && err == nil {
		ens, err = c.view.Enrolments(id[:i])
	}
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		s.failErr(w, err)
		return
	}
	for _, e := range ens {
		if e.Number == n {
			res, err := researchSubject(c, &e)
			if err != nil {
				s.failErr(w, err)
				return
			}
			c.deid.markHandled() // names the patient only by their consent's grant ID, except to the patient
			writeFHIR(w, http.StatusOK, res)
			return
		}
	}
	s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("ResearchSubject/%s is not known", id))
}

func (s *server) searchSubjects(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	for k := range q {
		if k != "study" && k != "patient" {
			s.fail(w, http.StatusBadRequest, "not-supported", fmt.Errorf("search parameter %q is not supported on ResearchSubject (study and patient; see /fhir/metadata)", k))
			return
		}
	}
	ens, err := s.subjectsOf(c, strings.TrimPrefix(q.Get("study"), "ResearchStudy/"), q.Get("patient"))
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			s.fail(w, http.StatusBadRequest, re.code, re.err)
			return
		}
		s.fail(w, http.StatusForbidden, "forbidden", err)
		return
	}
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: new(int)}
	for _, e := range ens {
		res, err := researchSubject(c, &e)
		if err != nil {
			s.failErr(w, err)
			return
		}
		body, err := json.Marshal(res)
		if err != nil {
			s.failErr(w, err)
			return
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: s.abs("/fhir/ResearchSubject/" + e.SubjectID()), Resource: body, Search: &entrySearch{Mode: "match"}})
	}
	*b.Total = len(b.Entry)
	c.deid.markHandled()
	writeFHIR(w, http.StatusOK, b)
}

// subjectsOf is the enrolments of study (all studies' if empty, then
// patient is required) of patient (any if empty).
func (s *server) subjectsOf(c caller, studyID, patientRef string) ([]ledger.Enrolment, error) {
	if studyID == "" && patientRef == "" {
		return nil, &requestError{kind: carechain.KindMalformed, code: "required", err: errors.New("a search of ResearchSubject names a study or a patient")}
	}
	var patient string
	if patientRef != "" {
		p, ok := patientOf(patientRef)
		if !ok {
			return nil, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("patient %q: want Patient/<id>", patientRef)}
		}
		if c.principal.Kind != carechain.KindPractitioner && !c.view.ActsFor(c.principal, p) {
			return nil, fmt.Errorf("%s may not search the studies of %s: the patient, their delegates and practitioners do", c.principal.ID, p)
		}
		patient = p
	}
	grants, err := studyGrants(c.view, patient)
	if err != nil {
		return nil, err
	}
	var out []ledger.Enrolment
	ens, err := c.view.Enrolments(studyID) // "" scans every study's
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	for _, e := range ens {
		if patient == "" || grants[e.Consent] {
			out = append(out, e)
		}
	}
	return out, nil
}

// studyGrants are the IDs of patient's study consents (nil for no patient).
func studyGrants(v *ledger.View, patient string) (map[string]bool, error) {
	if patient == "" {
		return nil, nil
	}
	gs, err := v.Grants(patient)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, g := range gs {
		if g.Study != "" {
			out[g.ID] = true
		}
	}
	return out, nil
}

// researchSubject is enrolment e as an R4 ResearchSubject, for c.
func researchSubject(c caller, e *ledger.Enrolment) (map[string]any, error) {
	patient, err := c.view.StudyConsentPatient(e.Study, e.Consent)
	if err != nil {
		return nil, fmt.Errorf("the consent of subject %s: %w", e.SubjectID(), err)
	}
	status := "on-study"
	gs, err := c.view.Grants(patient)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.ID == e.Consent && g.Revoked {
			status = "withdrawn"
		}
	}
	individual := map[string]any{"identifier": map[string]any{"system": studyConsentSystem, "value": e.Consent}}
	if c.view.ActsFor(c.principal, patient) {
		individual["reference"] = patientRef(patient)
	}
	out := map[string]any{
		"resourceType": "ResearchSubject", "id": e.SubjectID(),
		"identifier": []map[string]any{{"system": "urn:carechain:study-subject", "value": e.SubjectID()}},
		"status":     status,
		"study":      map[string]any{"reference": "ResearchStudy/" + e.Study},
		"individual": individual,
		"consent":    map[string]any{"identifier": map[string]any{"system": studyConsentSystem, "value": e.Consent}},
		"extension":  []map[string]any{{"url": eligibleByExtension, "valueUnsignedInt": e.Version}},
	}
	st, err := c.view.Study(e.Study)
	if err != nil {
		return nil, err
	}
	if st.Seed != nil {
		vs, err := c.view.StudyVersions(e.Study)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.Version == e.Version {
				out["assignedArm"] = study.Allocate(st.Seed, e.Number, v.Protocol.Arms)
			}
		}
	}
	return out, nil
}
