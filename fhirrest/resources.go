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
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// clinicalTypes are the resource types stored as records, with the category
// a resource goes to when nothing in it says otherwise.
var clinicalTypes = map[string]string{
	"Patient": "general", "Encounter": "general", "Observation": "general", "Condition": "general",
	"AllergyIntolerance": "allergy", "MedicationRequest": "medication", "Immunization": "general",
	"Procedure": "general", "DiagnosticReport": "lab", "DocumentReference": "general", "Appointment": "general",
}

// patientRef is the FHIR reference of a patient principal: "patient/x" → "Patient/x".
func patientRef(id string) string {
	return "Patient/" + strings.TrimPrefix(id, carechain.PatientPrefix)
}

// patientOf maps a reference ("Patient/x", or the bare id "x") to a patient
// principal ID.
func patientOf(ref string) (string, bool) {
	local := strings.TrimPrefix(ref, "Patient/")
	if local == "" || strings.Contains(local, "/") {
		return "", false
	}
	return carechain.PatientPrefix + local, true
}

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

// categoryOf picks the record category: the X-Carechain-Category header,
// else what the resource's own category codes say, else the type's default.
func categoryOf(r *http.Request, typ string, info resourceInfo) string {
	if c := r.Header.Get("X-Carechain-Category"); c != "" {
		return c
	}
	cat := string(info.Category)
	switch {
	case strings.Contains(cat, `"vital-signs"`):
		return "vital-signs"
	case strings.Contains(cat, `"laboratory"`), strings.Contains(cat, `"LAB"`):
		return "lab"
	case strings.Contains(cat, `"imaging"`), strings.Contains(cat, `"RAD"`):
		return "imaging"
	}
	return clinicalTypes[typ]
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

// withMeta adds meta.versionId and meta.lastUpdated to a stored resource.
func withMeta(rec *records.Record) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return nil, err
	}
	idJSON, _ := json.Marshal(rec.RecordID)
	m["id"] = idJSON
	meta, _ := json.Marshal(map[string]string{
		"versionId": strconv.FormatUint(rec.Version, 10), "lastUpdated": lastUpdated(rec.RecordVersion).Format(time.RFC3339),
	})
	m["meta"] = meta
	return json.Marshal(m)
}

func lastUpdated(v carechain.RecordVersion) time.Time { return time.Unix(v.Time, 0).UTC() }

func (s *server) supported(w http.ResponseWriter, typ string) bool {
	if _, ok := clinicalTypes[typ]; !ok {
		if fhirjson.IsResourceType(typ) {
			s.fail(w, http.StatusNotFound, "not-supported", notSupported(typ))
		} else {
			s.fail(w, http.StatusNotFound, "not-supported", fmt.Errorf("unknown resource type %q", typ))
		}
		return false
	}
	return true
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

// head finds record id of typ (having version, if non-zero) or answers 404.
func (s *server) head(w http.ResponseWriter, c caller, typ, id string, version uint64) (*carechain.RecordHead, bool) {
	head, err := c.view.Record(id)
	if err != nil || head.ResourceType != typ || version > head.Latest {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("%s/%s not found", typ, id))
		return nil, false
	}
	return head, true
}

func (s *server) writeRecord(w http.ResponseWriter, status int, typ string, rec *records.Record) {
	if rec.ResourceType != typ {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("%s/%s not found", typ, rec.RecordID))
		return
	}
	if rec.Deleted {
		w.Header().Set("ETag", fmt.Sprintf(`W/"%d"`, rec.Version))
		s.fail(w, http.StatusGone, "deleted", fmt.Errorf("%s/%s was deleted in version %d", typ, rec.RecordID, rec.Version))
		return
	}
	body, err := withMeta(rec)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`W/"%d"`, rec.Version))
	w.Header().Set("Last-Modified", lastUpdated(rec.RecordVersion).Format(http.TimeFormat))
	writeFHIR(w, status, body)
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

func (s *server) read(w http.ResponseWriter, r *http.Request, c caller) {
	if r.PathValue("id") == "_history" { // GET /fhir/{type}/_history (a pattern of its own would clash with $export-status)
		s.typeHistory(w, r, c)
		return
	}
	s.readVersion(w, r, c, 0)
}

func (s *server) vread(w http.ResponseWriter, r *http.Request, c caller) {
	v, err := strconv.ParseUint(r.PathValue("vid"), 10, 64)
	if err != nil || v == 0 {
		s.fail(w, http.StatusBadRequest, "value", errors.New("version id must be a positive integer"))
		return
	}
	s.readVersion(w, r, c, v)
}

func (s *server) readVersion(w http.ResponseWriter, r *http.Request, c caller, version uint64) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if readable, ok := viewTypes[typ]; ok && readable && version == 0 {
		s.viewRead(w, r, c, typ, id)
		return
	}
	if !s.supported(w, typ) {
		return
	}
	if _, ok := s.head(w, c, typ, id, version); !ok {
		return
	}
	rec, err := s.Records.Read(r.Context(), c.principal.ID, id, version, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeRecord(w, http.StatusOK, typ, rec)
}

// bundle is a FHIR Bundle.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   *struct {
		Mode string `json:"mode"`
	} `json:"search,omitempty"`
	Response *struct {
		Status       string `json:"status"`
		Etag         string `json:"etag"`
		LastModified string `json:"lastModified"`
	} `json:"response,omitempty"`
}

func (s *server) entry(typ string, rec *records.Record) (bundleEntry, error) {
	body, err := withMeta(rec)
	if err != nil {
		return bundleEntry{}, err
	}
	return bundleEntry{FullURL: fmt.Sprintf("%s/fhir/%s/%s", strings.TrimRight(s.BaseURL, "/"), typ, rec.RecordID), Resource: body}, nil
}

func (s *server) history(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if !s.supported(w, typ) {
		return
	}
	if _, ok := s.head(w, c, typ, id, 0); !ok {
		return
	}
	recs, err := s.Records.History(r.Context(), c.principal.ID, id, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	total := len(recs)
	b := bundle{ResourceType: "Bundle", Type: "history", Total: &total, Entry: []bundleEntry{}}
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		e, err := s.historyEntry(typ, &recs[i])
		if err != nil {
			s.failErr(w, err)
			return
		}
		b.Entry = append(b.Entry, e)
	}
	writeFHIR(w, http.StatusOK, b)
}

// historyEntry is one version in a history Bundle; a deletion has no resource.
func (s *server) historyEntry(typ string, rec *records.Record) (bundleEntry, error) {
	e := bundleEntry{FullURL: fmt.Sprintf("%s/fhir/%s/%s", strings.TrimRight(s.BaseURL, "/"), typ, rec.RecordID)}
	if !rec.Deleted {
		var err error
		if e, err = s.entry(typ, rec); err != nil {
			return e, err
		}
	}
	e.Response = &struct {
		Status       string `json:"status"`
		Etag         string `json:"etag"`
		LastModified string `json:"lastModified"`
	}{Status: historyStatus(*rec), Etag: fmt.Sprintf(`W/"%d"`, rec.Version), LastModified: lastUpdated(rec.RecordVersion).Format(time.RFC3339)}
	return e, nil
}

// typeHistory serves GET /fhir/{type}/_history?patient=…: every version of
// the patient's resources of that type that the caller may read, newest
// first. As with search, a patient is required.
func (s *server) typeHistory(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if !s.supported(w, typ) {
		return
	}
	ref := r.URL.Query().Get("patient")
	if ref == "" && c.principal.Kind == carechain.KindPatient {
		ref = patientRef(c.principal.ID)
	}
	patient, ok := patientOf(ref)
	if !ok {
		s.fail(w, http.StatusBadRequest, "required", errors.New("type history needs patient=Patient/<id>"))
		return
	}
	heads, err := c.view.PatientRecords(patient)
	if err != nil {
		s.failErr(w, err)
		return
	}
	var all []records.Record
	for _, h := range heads {
		if h.ResourceType != typ {
			continue
		}
		recs, err := s.Records.History(r.Context(), c.principal.ID, h.RecordID, c.purpose)
		var denied *records.DeniedError
		if errors.As(err, &denied) {
			continue
		}
		if err != nil {
			s.failErr(w, err)
			return
		}
		all = append(all, recs...)
	}
	sortRecords(all, "-_lastUpdated")
	total := len(all)
	b := bundle{ResourceType: "Bundle", Type: "history", Total: &total, Entry: []bundleEntry{}}
	for i := range all {
		e, err := s.historyEntry(typ, &all[i])
		if err != nil {
			s.failErr(w, err)
			return
		}
		b.Entry = append(b.Entry, e)
	}
	writeFHIR(w, http.StatusOK, b)
}

func historyStatus(r records.Record) string {
	switch {
	case r.Deleted:
		return "204 No Content"
	case r.Version == 1:
		return "201 Created"
	}
	return "200 OK"
}

// search serves GET /fhir/{type}?patient=…: the patient's resources of that
// type the requester may read, filtered in memory. A patient is required:
// there is no search across patients.
func (s *server) search(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if _, ok := viewTypes[typ]; ok {
		s.viewSearch(w, r, c, typ)
		return
	}
	if !s.supported(w, typ) {
		return
	}
	q := r.URL.Query()
	ref := q.Get("patient")
	if ref == "" {
		ref = q.Get("subject")
	}
	if typ == "Patient" && q.Get("_id") != "" {
		ref = "Patient/" + q.Get("_id")
	}
	if c.principal.Kind == carechain.KindPatient && ref == "" {
		ref = patientRef(c.principal.ID)
	}
	patient, ok := patientOf(ref)
	if !ok {
		s.fail(w, http.StatusBadRequest, "required", errors.New("search needs patient=Patient/<id> (or subject=)"))
		return
	}
	if err := checkParams(q); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	count := 50
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			s.fail(w, http.StatusBadRequest, "value", errors.New("_count must be 0..1000"))
			return
		}
		count = n
	}
	recs, err := s.find(r, c, typ, patient, q)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if err := sortRecords(recs, q.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	offset := 0
	if v := q.Get("_offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, http.StatusBadRequest, "value", errors.New("_offset must be a non-negative integer"))
			return
		}
		offset = n
	}
	total := len(recs)
	page := recs[min(offset, total):min(offset+count, total)]
	var entries []bundleEntry
	for i := range page {
		e, err := s.entry(typ, &page[i])
		if err != nil {
			s.failErr(w, err)
			return
		}
		e.Search = &struct {
			Mode string `json:"mode"`
		}{Mode: "match"}
		entries = append(entries, e)
	}
	self := strings.TrimRight(s.BaseURL, "/") + r.URL.RequestURI()
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: []bundleEntry{}, Link: []bundleLink{{Relation: "self", URL: self}}}
	b.Entry = append(b.Entry, entries...)
	if offset+count < total {
		next := r.URL.Query()
		next.Set("_offset", strconv.Itoa(offset+count))
		next.Set("_count", strconv.Itoa(count))
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: strings.TrimRight(s.BaseURL, "/") + r.URL.Path + "?" + next.Encode()})
	}
	writeFHIR(w, http.StatusOK, b)
}

// find returns the patient's resources of typ that the caller may read and
// that match q. Each read is an access event.
func (s *server) find(r *http.Request, c caller, typ, patient string, q url.Values) ([]records.Record, error) {
	heads, err := c.view.PatientRecords(patient)
	if err != nil {
		return nil, err
	}
	var out []records.Record
	for _, h := range heads {
		if h.Deleted || h.ResourceType != typ || (q.Get("_id") != "" && h.RecordID != q.Get("_id")) {
			continue
		}
		rec, err := s.Records.Read(r.Context(), c.principal.ID, h.RecordID, 0, c.purpose)
		var denied *records.DeniedError
		if errors.As(err, &denied) {
			continue // results hold only what the caller may read; the attempt is logged
		}
		if err != nil {
			return nil, err
		}
		if matches(rec, q) {
			out = append(out, *rec)
		}
	}
	return out, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

type codeableConcept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

// has matches a token "[system|]code".
func (c codeableConcept) has(token string) bool {
	system, code, withSystem := strings.Cut(token, "|")
	if !withSystem {
		code, system = system, ""
	}
	for _, cd := range c.Coding {
		if cd.Code == code && (!withSystem || cd.System == system) {
			return true
		}
	}
	return false
}
