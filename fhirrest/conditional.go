package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// Conditional update and delete (PUT and DELETE /fhir/{type}?search) and
// PATCH, as R4 defines them (http.html). The search runs as a search of
// the caller would, within one patient: the resource's for an update,
// patient= (or the caller, if a patient) for a delete; so it finds only
// what the caller may read, and each resource it reads is logged.
//
//   - Conditional update: no match creates the resource (with the body's id
//     if it has one, else a new one; a Patient needs its id); one match
//     updates it (a body id that differs is a 400); several are a 412.
//   - Conditional delete: no match is a 204 (nothing to delete); one match
//     is deleted; several are a 412.
//   - PATCH /fhir/{type}/{id} with a JSON Patch (RFC 6902, Content-Type
//     application/json-patch+json) reads the latest version the caller may
//     read (an access event), applies the patch, and writes the result as
//     an update of that version: If-Match, approval policies and
//     validation apply as to a PUT, and the patch may not change the id or
//     the resource type.

// conditionalSearch is the type and search of a conditional request; false
// when it answered it (an unsupported type, a bad or missing search).
func (s *server) conditionalSearch(w http.ResponseWriter, r *http.Request) (string, url.Values, bool) {
	typ := r.PathValue("type")
	if !s.supported(w, typ) {
		return "", nil, false
	}
	q := s.normalizeRefs(typ, r.URL.Query())
	err := checkParams(typ, q)
	if len(q) == 0 {
		err = &requestError{kind: carechain.KindMalformed, code: "required", err: fmt.Errorf("a conditional %s of %s needs search parameters, such as ?identifier=system|value", r.Method, typ)}
	}
	if err != nil {
		s.failErr(w, err)
		return "", nil, false
	}
	return typ, q, true
}

// onlyMatch is the one record of found, nil for none, or a 412 for several.
func onlyMatch(found []records.Record, what string) (*records.Record, error) {
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	return nil, &requestError{kind: carechain.KindPrecondition, code: "multiple-matches", err: fmt.Errorf("the %s's search matches %d resources: make it select one", what, len(found))}
}

// conditionalUpdate serves PUT /fhir/{type}?search.
func (s *server) conditionalUpdate(w http.ResponseWriter, r *http.Request, c caller) {
	typ, q, ok := s.conditionalSearch(w, r)
	if !ok {
		return
	}
	res, err := readResource(w, r, typ)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if typ == "Patient" && res.ID() == "" {
		s.fail(w, http.StatusBadRequest, "required", errors.New("a Patient is written under its pseudonym: give its id"))
		return
	}
	patient, err := patientOfResource(res)
	if err != nil {
		s.failErr(w, err)
		return
	}
	found, err := s.find(r, c, typ, patient, q)
	var match *records.Record
	if err == nil {
		match, err = onlyMatch(found, "conditional update")
	}
	id := res.ID()
	switch {
	case err != nil:
	case match != nil && id != "" && id != match.RecordID:
		err = &requestError{kind: carechain.KindMalformed, path: typ + ".id", err: fmt.Errorf("the body's id %q is not that of the resource the search found", id)}
	case match != nil:
		id = match.RecordID
	case id == "":
		id = records.NewRecordID()
	}
	if err == nil {
		err = res.SetID(id)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.updateTo(w, r, c, res, id)
}

// conditionalDelete serves DELETE /fhir/{type}?search.
func (s *server) conditionalDelete(w http.ResponseWriter, r *http.Request, c caller) {
	typ, q, ok := s.conditionalSearch(w, r)
	if !ok {
		return
	}
	patient, ok := patientParam(q, c, typ)
	if !ok {
		s.fail(w, http.StatusBadRequest, "required", errors.New("a conditional delete searches one patient's resources: give patient=Patient/<id>"))
		return
	}
	found, err := s.find(r, c, typ, patient, q)
	var match *records.Record
	if err == nil {
		match, err = onlyMatch(found, "conditional delete")
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if match == nil {
		w.WriteHeader(http.StatusNoContent) // nothing matches: nothing to delete
		return
	}
	s.deleteRecord(w, r, c, typ, match.RecordID)
}

// patch serves PATCH /fhir/{type}/{id} with a JSON Patch.
func (s *server) patch(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if !s.supported(w, typ) {
		return
	}
	if mt := mediaType(r.Header.Get("Content-Type")); mt != "application/json-patch+json" {
		s.fail(w, http.StatusUnsupportedMediaType, "not-supported", fmt.Errorf("PATCH takes a JSON Patch (Content-Type application/json-patch+json), not %q (FHIRPath Patch is not supported)", mt))
		return
	}
	body, err := readBody(w, r, MaxBody)
	if err != nil {
		s.failErr(w, err)
		return
	}
	ops, err := jsonpatch.DecodePatch(body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "structure", fmt.Errorf("the body is not a JSON Patch: %w", err))
		return
	}
	if _, ok := s.visible(w, r, c, typ, id, 0, consent.ActionWrite); !ok {
		return
	}
	cur, err := s.Records.Read(r.Context(), c.principal.ID, id, 0, c.purpose)
	if err == nil && cur.Deleted {
		err = carechain.E(carechain.KindGone, fmt.Errorf("%s/%s was deleted in version %d", typ, id, cur.Version))
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	opts := jsonpatch.NewApplyOptions()
	opts.AccumulatedCopySizeLimit = MaxBody
	patched, err := ops.ApplyWithOptions(cur.Resource, opts)
	if err != nil {
		s.fail(w, http.StatusUnprocessableEntity, "processing", fmt.Errorf("the patch does not apply: %w", err))
		return
	}
	res, err := parseAs(patched, typ)
	if err == nil && res.ID() != id {
		err = &requestError{kind: carechain.KindInvalid, path: typ + ".id", err: errors.New("a patch may not change the resource's id")}
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.updateTo(w, r, c, res, id)
}
