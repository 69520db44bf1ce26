package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// Reads of clinical resources: read and vread (history is in history.go).

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
	} else if ok && version == 0 {
		s.viewReadByID(w, r, c, typ, id) // viewread.go
		return
	}
	if isOrgType(typ) {
		s.orgRead(w, r, c, typ, id, version) // orgrecords.go
		return
	}
	if !s.supported(w, typ) {
		return
	}
	rs, err := readShapeOf(r.URL.Query())
	if err != nil {
		s.failErr(w, err)
		return
	}
	head, ok := s.visible(w, r, c, typ, id, version, consent.ActionRead)
	if !ok {
		return
	}
	if s.notModified(w, r, c, head, version) {
		return
	}
	rec, err := s.Records.Read(r.Context(), c.principal.ID, id, version, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeShapedRecord(w, http.StatusOK, typ, rec, rs.keep)
}

// visible finds record id of typ (having version, if non-zero) if the
// caller may see it (visibleHead), or answers 404.
func (s *server) visible(w http.ResponseWriter, r *http.Request, c caller, typ, id string, version uint64, action consent.Action) (*carechain.RecordHead, bool) {
	head, err := s.visibleHead(r, c, typ, id, version, action)
	if err != nil {
		s.failErr(w, err)
		return nil, false
	}
	return head, true
}

// visibleHead finds record id of typ (having version, if non-zero) if the
// caller may see it (records.Service.Visible: it may read the record), or
// is notFound. That check comes before anything else about the record, so a
// caller who may not read it gets what an absent one gets: its refusal is
// logged as an attempt of action.
func (s *server) visibleHead(r *http.Request, c caller, typ, id string, version uint64, action consent.Action) (*carechain.RecordHead, error) {
	head, err := s.Records.Visible(r.Context(), c.principal.ID, id, c.purpose, action)
	switch {
	case errors.Is(err, records.ErrNotVisible), err == nil && (head.ResourceType != typ || version > head.Latest):
		return nil, notFound(typ)
	case err != nil:
		return nil, err
	}
	return head, nil
}

// notFound is the error for a resource that is not there, not of typ, or
// not the caller's to see: one answer, which does not echo the id.
func notFound(typ string) error {
	return carechain.E(carechain.KindNotFound, fmt.Errorf("%s not found (absent, or not readable by this caller)", typ))
}

// writeRecord answers with rec, of typ; a deletion is 410 Gone.
func (s *server) writeRecord(w http.ResponseWriter, status int, typ string, rec *records.Record) {
	s.writeShapedRecord(w, status, typ, rec, nil)
}

// writeShapedRecord is writeRecord with the subset keep keeps (nil: all).
func (s *server) writeShapedRecord(w http.ResponseWriter, status int, typ string, rec *records.Record, keep func(typ, name string) bool) {
	if rec.ResourceType != typ {
		s.failErr(w, notFound(typ))
		return
	}
	if rec.Deleted {
		w.Header().Set("ETag", etag(rec.Version))
		s.failErr(w, carechain.E(carechain.KindGone, fmt.Errorf("%s/%s was deleted in version %d", typ, rec.RecordID, rec.Version)))
		return
	}
	body, err := withMeta(rec)
	if err == nil && keep != nil {
		body, err = subset(body, keep)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("ETag", etag(rec.Version))
	w.Header().Set("Last-Modified", lastUpdated(rec.RecordVersion).Format(http.TimeFormat))
	writeFHIRJSON(w, status, body)
}

// The tag of a resource its patient wrote (meta.tag), served with every
// version whose author on the ledger is the patient
// (carechain.RecordVersion.PatientAuthored). It is never stored: the server
// drops a written resource's meta (recordVersion), so no write, a
// clinician's included, can give a resource this tag.
const (
	TagSystem          = "https://carechain.dev/fhir/tag"
	TagPatientReported = "patient-reported"
)

// withMeta adds meta.versionId and meta.lastUpdated to a stored resource,
// and marks a version the patient wrote: meta.tag TagPatientReported and,
// for an Observation without a performer, the patient as its performer.
func withMeta(rec *records.Record) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return nil, err
	}
	idJSON, _ := json.Marshal(rec.RecordID)
	m["id"] = idJSON
	meta := map[string]any{
		"versionId": strconv.FormatUint(rec.Version, 10), "lastUpdated": lastUpdated(rec.RecordVersion).Format(time.RFC3339),
	}
	if rec.PatientAuthored() {
		meta["tag"] = []map[string]string{{"system": TagSystem, "code": TagPatientReported, "display": "Patient-reported"}}
		if _, ok := m["performer"]; !ok && rec.ResourceType == "Observation" {
			m["performer"], _ = json.Marshal([]map[string]string{{"reference": patientRef(rec.Patient)}})
		}
	}
	m["meta"], _ = json.Marshal(meta)
	if rec.ResourceType == "MedicationDispense" {
		if err := withSupply(m, rec.Supply); err != nil { // supply.go
			return nil, err
		}
	}
	if links := patientLinks(rec.Links); len(links) > 0 { // merge.go: the ledger's links replace any written
		m["link"], _ = json.Marshal(links)
	}
	return json.Marshal(m)
}

func lastUpdated(v carechain.RecordVersion) time.Time { return time.Unix(v.Time, 0).UTC() }

// query selects the records of patient that keep keeps, read by the caller
// for its purpose (records.ReadPatient: what it may not read is left out, and
// every attempt is in the patient's access log).
func (c caller) query(patient string, keep func(*carechain.RecordHead) bool) records.Query {
	return records.Query{Requester: c.principal.ID, Patient: patient, Purpose: c.purpose, Keep: c.scopeKeep(keep)}
}

// live keeps records that are not deleted, of one of types if any are given.
func live(types ...string) func(*carechain.RecordHead) bool {
	return func(h *carechain.RecordHead) bool {
		return !h.Deleted && (len(types) == 0 || slices.Contains(types, h.ResourceType))
	}
}

// notModified answers 304 a conditional read (If-None-Match naming the
// version it would serve, or If-Modified-Since at or after that version's
// time) of a live record, decrypting nothing: the caller holds that
// version already. It reports whether it answered.
func (s *server) notModified(w http.ResponseWriter, r *http.Request, c caller, head *carechain.RecordHead, version uint64) bool {
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	if (inm == "" && ims == "") || head.Deleted && version == 0 {
		return false
	}
	if version == 0 {
		version = head.Latest
	}
	rv, err := c.view.RecordVersion(head.RecordID, version)
	if err != nil || rv.Deleted {
		return false
	}
	same := false
	if inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			same = same || tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag(version), "W/")
		}
	} else if since, err := http.ParseTime(ims); err == nil {
		same = !lastUpdated(*rv).After(since)
	}
	if !same {
		return false
	}
	w.Header().Set("ETag", etag(version))
	w.Header().Set("Last-Modified", lastUpdated(*rv).Format(http.TimeFormat))
	w.WriteHeader(http.StatusNotModified)
	return true
}
