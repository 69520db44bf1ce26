package fhirrest

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// History (FHIR R4 http.html#history): of a resource
// (GET /fhir/{type}/{id}/_history), of a patient's resources of one type
// (GET /fhir/{type}/_history) and of all of them (GET /fhir/_history).
// Type and system history are of one patient, as search is: patient=, or
// the caller if it is a patient; there is no history across patients.
//
// The versions are chosen from their metadata (records.ReadableVersions):
// those _since keeps, of the records the caller may read, a refusal being
// logged in the patient's access log as a read's would. total counts them;
// a page (_count, _offset) is cut from them, newest first, and only the
// page's versions are decrypted, each an access event like a read.

// historyParams are the parameters a history request may have; patient and
// subject only for type and system history.
var historyParams = map[string]bool{"_since": true, "_count": true, "_offset": true, "_format": true}

// historyQuery is a history request's parameters.
type historyQuery struct {
	since time.Time // versions updated at or after it; zero: all
	page  page
}

// historyQueryOf reads q: _since, an instant, at most once; _count and
// _offset as for search; patient and subject if ofPatient. Anything else
// is a 400, not ignored.
func historyQueryOf(q url.Values, ofPatient bool) (historyQuery, error) {
	for k := range q {
		if !historyParams[k] && !(ofPatient && (k == "patient" || k == "subject")) {
			return historyQuery{}, &requestError{kind: carechain.KindMalformed, code: "not-supported",
				err: fmt.Errorf("history parameter %q is not supported (use _since, _count, _offset)", k)}
		}
	}
	pg, err := pageOf(q)
	if err != nil {
		return historyQuery{}, err
	}
	hq := historyQuery{page: pg}
	if vs, ok := q["_since"]; ok {
		if hq.since, err = parseInstant(vs); err != nil {
			return historyQuery{}, &requestError{kind: carechain.KindMalformed, code: "value", err: err}
		}
	}
	return hq, nil
}

// parseInstant reads the one value of _since, a FHIR instant such as
// 2026-11-24T09:30:00Z or 2026-11-24T10:30:00.5+01:00. An unencoded "+" in
// a query string arrives as a space, so a space before the zone is read as
// "+".
func parseInstant(vs []string) (time.Time, error) {
	if len(vs) != 1 {
		return time.Time{}, errors.New("_since must be given once")
	}
	t, err := time.Parse(time.RFC3339Nano, strings.Replace(vs[0], " ", "+", 1))
	if err != nil {
		return time.Time{}, fmt.Errorf("_since must be an instant with a time zone, such as 2026-11-24T09:30:00Z: %w", err)
	}
	return t, nil
}

// keeps reports whether rv was updated at or after hq.since.
func (hq historyQuery) keeps(rv *carechain.RecordVersion) bool {
	return hq.since.IsZero() || !lastUpdated(*rv).Before(hq.since)
}

// history serves GET /fhir/{type}/{id}/_history.
func (s *server) history(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if isOrgType(typ) {
		s.orgHistory(w, r, c, typ, id)
		return
	}
	if !s.supported(w, typ) {
		return
	}
	hq, err := historyQueryOf(r.URL.Query(), false)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if _, ok := s.visible(w, r, c, typ, id, 0, consent.ActionRead); !ok {
		return
	}
	s.writeHistory(w, r, c, records.VersionQuery{RecordID: id}, hq)
}

// typeHistory serves GET /fhir/{type}/_history: every version of the
// patient's resources of that type that the caller may read.
func (s *server) typeHistory(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if !s.supported(w, typ) {
		return
	}
	s.patientHistory(w, r, c, typ)
}

// systemHistory serves GET /fhir/_history: every version of the patient's
// resources, of all types, that the caller may read.
func (s *server) systemHistory(w http.ResponseWriter, r *http.Request, c caller) {
	s.patientHistory(w, r, c, "")
}

// patientHistory is type history of typ, or system history if typ is "".
func (s *server) patientHistory(w http.ResponseWriter, r *http.Request, c caller, typ string) {
	q := r.URL.Query()
	hq, err := historyQueryOf(q, true)
	if err != nil {
		s.failErr(w, err)
		return
	}
	patient, ok := patientParam(q, c, typ)
	if !ok {
		s.fail(w, http.StatusBadRequest, "required", errors.New("type and system history need patient=Patient/<id> (there is no history across patients)"))
		return
	}
	keep := func(h *carechain.RecordHead) bool { return typ == "" || h.ResourceType == typ } // deletions too
	s.writeHistory(w, r, c, records.VersionQuery{Patient: patient, Keep: keep}, hq)
}

// writeHistory answers with a history Bundle: the page hq asks for of the
// versions vq selects that hq keeps and the caller may read, newest
// first. Only the page's versions are decrypted and logged as reads.
func (s *server) writeHistory(w http.ResponseWriter, r *http.Request, c caller, vq records.VersionQuery, hq historyQuery) {
	vq.Requester, vq.Purpose, vq.Versions, vq.Keep = c.principal.ID, c.purpose, hq.keeps, c.scopeKeep(vq.Keep)
	versions, err := s.Records.ReadableVersions(r.Context(), vq)
	if err != nil {
		s.failErr(w, err)
		return
	}
	sortNewestFirst(versions)
	total := len(versions)
	pg := hq.page
	recs, err := s.Records.ReadVersions(r.Context(), c.principal.ID, c.purpose, versions[min(pg.offset, total):min(pg.offset+pg.count, total)])
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeHistoryPage(w, r, recs, pg, total)
}

// writeHistoryPage answers with a history Bundle of recs, page pg of total
// versions.
func (s *server) writeHistoryPage(w http.ResponseWriter, r *http.Request, recs []records.Record, pg page, total int) {
	b := bundle{ResourceType: "Bundle", Type: "history", Total: &total, Entry: []bundleEntry{},
		Link: s.pageLinks(r, pg, total)}
	for i := range recs {
		e, err := s.historyEntry(&recs[i])
		if err != nil {
			s.failErr(w, err)
			return
		}
		b.Entry = append(b.Entry, e)
	}
	writeFHIR(w, http.StatusOK, b)
}

// sortNewestFirst orders versions as R4 history does, oldest last: by the
// block that committed them, then by record ID, then newest version first.
func sortNewestFirst(vs []carechain.RecordVersion) {
	slices.SortStableFunc(vs, func(a, b carechain.RecordVersion) int {
		return cmp.Or(cmp.Compare(b.Height, a.Height), strings.Compare(a.RecordID, b.RecordID), cmp.Compare(b.Version, a.Version))
	})
}

// pageLinks are a paged Bundle's self link and, if results remain after
// page pg of total, its next link (never with _count=0: that would not
// advance).
func (s *server) pageLinks(r *http.Request, pg page, total int) []bundleLink {
	links := []bundleLink{{Relation: "self", URL: s.abs(r.URL.RequestURI())}}
	if pg.count > 0 && pg.offset+pg.count < total {
		next := r.URL.Query()
		next.Set("_offset", strconv.Itoa(pg.offset+pg.count))
		next.Set("_count", strconv.Itoa(pg.count))
		links = append(links, bundleLink{Relation: "next", URL: s.abs(r.URL.Path + "?" + next.Encode())})
	}
	return links
}

// historyEntry is one version in a history Bundle, with the request that
// made it and its response. A deletion has no resource.
func (s *server) historyEntry(rec *records.Record) (bundleEntry, error) {
	typ := rec.ResourceType
	e := bundleEntry{FullURL: s.fullURL(typ, rec.RecordID), Request: historyRequest(rec),
		Response: &entryResponse{Status: historyStatus(rec), Etag: etag(rec.Version), LastModified: lastUpdated(rec.RecordVersion).Format(time.RFC3339)}}
	if !rec.Deleted {
		body, err := withMeta(rec)
		if err != nil {
			return e, fmt.Errorf("%s/%s version %d: %w", typ, rec.RecordID, rec.Version, err)
		}
		e.Resource = body
	}
	return e, nil
}

// historyRequest is the interaction that made rec, as R4 history shows it:
// POST of the type for the first version (PUT of the resource for a type
// that is not creatable: a Patient), PUT of the resource for later ones,
// DELETE of the resource for a deletion.
func historyRequest(rec *records.Record) *entryRequest {
	ref := rec.ResourceType + "/" + rec.RecordID
	switch {
	case rec.Deleted:
		return &entryRequest{Method: http.MethodDelete, URL: ref}
	case rec.Version == 1 && creatable(rec.ResourceType):
		return &entryRequest{Method: http.MethodPost, URL: rec.ResourceType}
	}
	return &entryRequest{Method: http.MethodPut, URL: ref}
}

func historyStatus(rec *records.Record) string {
	switch {
	case rec.Deleted:
		return "204 No Content"
	case rec.Version == 1:
		return "201 Created"
	}
	return "200 OK"
}
