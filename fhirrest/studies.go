package fhirrest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain/ledger"
)

// Clinical studies (ledger/studies.go) as FHIR R4 ResearchStudy, read-only
// and public to members: GET /fhir/ResearchStudy/{id} is the protocol in
// force, GET /fhir/ResearchStudy/{id}/_history/{v} any version (approved,
// pending or rejected: extension protocolStatusExtension), each with its
// endpoints as objectives, its arms, its eligibility criteria (description)
// and the SHA-256 of its protocol document and analysis plan.

// Extensions of a ResearchStudy.
const (
	protocolHashExtension   = "urn:carechain:protocol-sha256"
	analysisHashExtension   = "urn:carechain:analysis-plan-sha256"
	ethicsBoardExtension    = "urn:carechain:ethics-board"
	protocolStatusExtension = "urn:carechain:protocol-status"
	amendmentExtension      = "urn:carechain:amendment"
)

// studyTypes are the study types and their interactions (the
// CapabilityStatement's).
var studyTypes = map[string][]capInteraction{
	"ResearchStudy": {{Code: "read", Documentation: "A clinical study registered on the ledger: its protocol in force (meta.versionId), public to members."},
		{Code: "vread", Documentation: "Any version of the study's protocol: approved, pending or rejected (extension " + protocolStatusExtension + "), with the amendment's reason and what it changes (extension " + amendmentExtension + ")."}},
	"ResearchSubject": {{Code: "read", Documentation: "An enrolment in a study (subjects.go): its patient named by their study consent's grant ID, on-study or withdrawn, its arm once unblinded."},
		{Code: "search-type", Documentation: subjectSearchDoc},
		{Code: "create", Documentation: "Enrols individual (Patient/<id>) in study (ResearchStudy/<id>) as the caller, a site's practitioner whose key this node holds: the node checks the protocol's eligibility criteria over the patient's records it decrypts for them; 422 naming the criterion that failed, and nothing on the ledger, for an ineligible patient."}},
}

// studySearchParams are the search parameters of the study types.
var studySearchParams = map[string][]capParam{
	"ResearchSubject": {{Name: "study", Type: "reference", Documentation: "ResearchSubject.study: the study's enrolments"},
		{Name: "patient", Type: "reference", Documentation: "ResearchSubject.individual: the patient's enrolments"}},
}

func (s *server) studyRoutes(handle func(string, http.HandlerFunc)) {
	handle("GET /fhir/ResearchStudy/{id}", s.authed(s.readStudy))
	handle("GET /fhir/ResearchStudy/{id}/_history/{vid}", s.authed(s.readStudy))
}

func (s *server) readStudy(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	st, err := c.view.Study(id)
	var versions []ledger.StudyVersion
	if err == nil {
		versions, err = c.view.StudyVersions(id)
	}
	if errors.Is(err, ledger.ErrNotFound) {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("ResearchStudy/%s is not known", id))
		return
	} else if err != nil {
		s.failErr(w, err)
		return
	}
	want := st.Version
	if vid := r.PathValue("vid"); vid != "" {
		n, err := strconv.ParseUint(vid, 10, 64)
		if err != nil || n == 0 {
			s.fail(w, http.StatusBadRequest, "value", fmt.Errorf("version %q is not a positive integer", vid))
			return
		}
		want = n
	}
	i := slices.IndexFunc(versions, func(v ledger.StudyVersion) bool { return v.Version == want })
	if i < 0 {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("ResearchStudy/%s has no version %d", id, want))
		return
	}
	c.deid.markHandled() // a protocol, not a patient's data: a researcher reads it as it is
	writeFHIR(w, http.StatusOK, researchStudy(st, &versions[i]))
}

// researchStudy is version v of study st as an R4 ResearchStudy.
func researchStudy(st *ledger.StudyState, v *ledger.StudyVersion) map[string]any {
	p := v.Protocol
	var objectives, arms []map[string]any
	for _, e := range p.Endpoints {
		objectives = append(objectives, map[string]any{"name": e.ID + ": " + e.Description,
			"type": map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/research-study-objective-type", "code": e.Kind}}}})
	}
	for _, a := range p.Arms {
		arm := map[string]any{"name": a.ID}
		if a.Description != "" {
			arm["description"] = a.Description
		}
		arms = append(arms, arm)
	}
	ext := []map[string]any{
		{"url": protocolHashExtension, "valueString": hex.EncodeToString(p.DocumentHash)},
		{"url": analysisHashExtension, "valueString": hex.EncodeToString(p.AnalysisPlanHash)},
		{"url": ethicsBoardExtension, "valueReference": map[string]any{"reference": "Organization/" + st.EthicsBoard}},
		{"url": protocolStatusExtension, "valueCode": v.Status},
	}
	if v.Reason != "" {
		ext = append(ext, map[string]any{"url": amendmentExtension, "valueString": v.Reason + " (" + strings.Join(v.Changes, "; ") + ")"})
	}
	return map[string]any{
		"resourceType": "ResearchStudy", "id": st.ID, "meta": map[string]any{"versionId": fmt.Sprint(v.Version)},
		"identifier":  []map[string]any{{"system": "urn:carechain:study", "value": st.ID}},
		"title":       st.Title,
		"status":      "active",
		"sponsor":     map[string]any{"reference": "Organization/" + st.Sponsor},
		"description": "Eligibility: " + p.Eligibility,
		"arm":         arms,
		"objective":   objectives,
		"extension":   ext,
	}
}
