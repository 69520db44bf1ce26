package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// resourceInfo is what the server reads from a resource body.
type resourceInfo struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Subject      *reference      `json:"subject"`
	Patient      *reference      `json:"patient"`
	Category     json.RawMessage `json:"category"`
}

type reference struct {
	Reference string `json:"reference"`
}

// body reads a request body as a resource of typ, with id if non-empty.
func (s *server) body(w http.ResponseWriter, r *http.Request, typ string) ([]byte, resourceInfo, bool) {
	var info resourceInfo
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		s.fail(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Errorf("request body over %d bytes", MaxBody))
		return nil, info, false
	}
	if err := json.Unmarshal(b, &info); err != nil {
		s.fail(w, http.StatusBadRequest, "structure", fmt.Errorf("body is not a FHIR JSON resource: %v", err))
		return nil, info, false
	}
	if info.ResourceType != typ {
		s.fail(w, http.StatusBadRequest, "invalid", fmt.Errorf("resourceType %q does not match the URL's %q", info.ResourceType, typ), "resourceType")
		return nil, info, false
	}
	return b, info, true
}

// withID returns the resource with id set and meta removed (the server owns meta).
func withID(b []byte, id string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	idJSON, _ := json.Marshal(id)
	m["id"] = idJSON
	delete(m, "meta")
	return json.Marshal(m)
}

func (s *server) signer(w http.ResponseWriter, c caller) (records.Signer, bool) {
	sg, ok := s.Custodian.Signer(c.principal.ID)
	if !ok {
		s.fail(w, http.StatusForbidden, "forbidden", fmt.Errorf("this node does not hold the signing key of %s: writes go through the node of its organization", c.principal.ID))
	}
	return sg, ok
}

func (s *server) create(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if !s.supported(w, typ) {
		return
	}
	if typ == "Patient" {
		s.fail(w, http.StatusMethodNotAllowed, "not-supported", errors.New("register the patient on the ledger, then PUT Patient/{pseudonym}"))
		return
	}
	b, info, ok := s.body(w, r, typ)
	if !ok {
		return
	}
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		q, err := url.ParseQuery(cond)
		ref := info.Subject
		if ref == nil {
			ref = info.Patient
		}
		if err != nil || ref == nil {
			s.fail(w, http.StatusBadRequest, "value", errors.New("If-None-Exist must be search parameters of a resource with a patient"))
			return
		}
		patient, ok := patientOf(ref.Reference)
		if !ok {
			s.fail(w, http.StatusBadRequest, "value", fmt.Errorf("reference %q is not Patient/<id>", ref.Reference))
			return
		}
		found, err := s.find(r, c, typ, patient, q)
		if err != nil {
			s.failErr(w, err)
			return
		}
		switch {
		case len(found) == 1:
			s.writeRecord(w, http.StatusOK, typ, &found[0])
			return
		case len(found) > 1:
			s.fail(w, http.StatusPreconditionFailed, "duplicate", fmt.Errorf("If-None-Exist matches %d resources", len(found)))
			return
		}
	}
	s.write(w, r, c, typ, records.NewRecordID(), b, info, 0, http.StatusCreated)
}

func (s *server) update(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if !s.supported(w, typ) {
		return
	}
	b, info, ok := s.body(w, r, typ)
	if !ok {
		return
	}
	if info.ID != id {
		s.fail(w, http.StatusBadRequest, "invalid", fmt.Errorf("resource id %q does not match the URL's %q", info.ID, id), typ+".id")
		return
	}
	var expect uint64
	if m := r.Header.Get("If-Match"); m != "" {
		v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(m, "W/"), `"`), 10, 64)
		if err != nil {
			s.fail(w, http.StatusBadRequest, "value", fmt.Errorf("If-Match %q is not a version ETag", m))
			return
		}
		expect = v
	}
	status := http.StatusOK
	head, err := c.view.Record(id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		status = http.StatusCreated // update as create (an If-Match then fails in the write)
	case err != nil:
		s.failErr(w, err)
		return
	case head.ResourceType != typ:
		s.fail(w, http.StatusConflict, "conflict", fmt.Errorf("%s is a %s", id, head.ResourceType))
		return
	}
	if typ == "Patient" {
		info.Subject = &reference{Reference: "Patient/" + id}
	}
	s.write(w, r, c, typ, id, b, info, expect, status)
}

// write stores b as the next version of record id and answers with it.
// ifMatch, if non-zero, is the version the write must follow; the ledger
// enforces it, so two updates with the same If-Match cannot both commit.
func (s *server) write(w http.ResponseWriter, r *http.Request, c caller, typ, id string, b []byte, info resourceInfo, ifMatch uint64, status int) {
	ref := info.Subject
	if ref == nil {
		ref = info.Patient
	}
	if ref == nil {
		s.fail(w, http.StatusUnprocessableEntity, "required", fmt.Errorf("%s needs a subject or patient reference to a Patient", typ), typ+".subject")
		return
	}
	patient, ok := patientOf(ref.Reference)
	if !ok {
		s.fail(w, http.StatusUnprocessableEntity, "value", fmt.Errorf("reference %q is not Patient/<id>", ref.Reference), typ+".subject")
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	b, err := withID(b, id)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "structure", err)
		return
	}
	res, err := s.Records.Put(r.Context(), signer, records.PutItem{Patient: patient, Category: categoryOf(r, typ, info), RecordID: id, Resource: b, IfMatch: ifMatch})
	if err != nil {
		s.failErr(w, err)
		return
	}
	rec, err := s.Records.Read(r.Context(), c.principal.ID, id, res.Version, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("%s/fhir/%s/%s/_history/%d", strings.TrimRight(s.BaseURL, "/"), typ, id, res.Version))
	s.writeRecord(w, status, typ, rec)
}

// delete writes a version marking the resource deleted; nothing is erased.
func (s *server) delete(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if !s.supported(w, typ) {
		return
	}
	head, ok := s.head(w, c, typ, id, 0)
	if !ok {
		return
	}
	if head.Deleted {
		w.WriteHeader(http.StatusNoContent) // deleting twice is not an error
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	res, err := s.Records.Delete(r.Context(), signer, id)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`W/"%d"`, res.Version))
	w.WriteHeader(http.StatusNoContent)
}
