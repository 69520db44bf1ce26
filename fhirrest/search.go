package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Search parameters are applied in memory to resources the caller may read.
// Supported: token (code, category, status, gender, identifier: [system|]code),
// string (name, family, given: case-insensitive prefix), date (date,
// birthdate, _lastUpdated with eq/ne/lt/le/gt/ge prefixes).

// searchable is what the parameters look at in a resource.
type searchable struct {
	Status     string                  `json:"status"`
	Gender     string                  `json:"gender"`
	BirthDate  string                  `json:"birthDate"`
	Code       *codeableConcept        `json:"code"`
	Category   json.RawMessage         `json:"category"`
	Identifier []identifier            `json:"identifier"`
	Name       []humanName             `json:"name"`
	Effective  string                  `json:"effectiveDateTime"`
	Period     *struct{ Start string } `json:"effectivePeriod"`
	Onset      string                  `json:"onsetDateTime"`
	Recorded   string                  `json:"recordedDate"`
	Authored   string                  `json:"authoredOn"`
	Occurrence string                  `json:"occurrenceDateTime"`
	Performed  string                  `json:"performedDateTime"`
	Issued     string                  `json:"issued"`
	Date       string                  `json:"date"`
	Start      string                  `json:"start"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type humanName struct {
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

// clinicalDate is the resource's main date for the date parameter.
func (r searchable) clinicalDate() string {
	for _, d := range []string{r.Effective, r.Onset, r.Recorded, r.Authored, r.Occurrence, r.Performed, r.Date, r.Start, r.Issued} {
		if d != "" {
			return d
		}
	}
	if r.Period != nil {
		return r.Period.Start
	}
	return ""
}

// searchParams are the parameters this server understands (besides patient,
// subject, _id, _count, _offset, _sort); any other is an error, not ignored.
var searchParams = map[string]bool{
	"code": true, "category": true, "status": true, "gender": true, "identifier": true,
	"name": true, "family": true, "given": true, "date": true, "birthdate": true, "_lastUpdated": true,
}

func checkParams(q map[string][]string) error {
	for k := range q {
		switch k {
		case "patient", "subject", "_id", "_count", "_offset", "_sort", "_format":
			continue
		}
		if !searchParams[k] {
			return fmt.Errorf("search parameter %q is not supported (see /fhir/metadata)", k)
		}
	}
	return nil
}

// matches applies the search parameters of q to a decrypted record.
func matches(rec *records.Record, q map[string][]string) bool {
	var r searchable
	if err := json.Unmarshal(rec.Resource, &r); err != nil {
		return false
	}
	for name, values := range q {
		for _, v := range values {
			if !matchOne(rec, r, name, v) {
				return false
			}
		}
	}
	return true
}

func matchOne(rec *records.Record, r searchable, name, v string) bool {
	switch name {
	case "status":
		return r.Status == v
	case "gender":
		return r.Gender == v
	case "code":
		return r.Code != nil && anyToken(v, func(t string) bool { return r.Code.has(t) })
	case "category":
		var cats []codeableConcept
		return json.Unmarshal(r.Category, &cats) == nil && slices.ContainsFunc(cats, func(c codeableConcept) bool {
			return anyToken(v, func(t string) bool { return c.has(t) })
		})
	case "identifier":
		return slices.ContainsFunc(r.Identifier, func(id identifier) bool {
			system, value, withSystem := strings.Cut(v, "|")
			if !withSystem {
				return id.Value == system
			}
			return id.System == system && id.Value == value
		})
	case "name", "family", "given":
		return slices.ContainsFunc(r.Name, func(n humanName) bool {
			parts := map[string][]string{"family": {n.Family}, "given": n.Given, "name": append([]string{n.Text, n.Family}, n.Given...)}[name]
			return slices.ContainsFunc(parts, func(p string) bool { return p != "" && strings.HasPrefix(strings.ToLower(p), strings.ToLower(v)) })
		})
	case "date":
		return matchDate(r.clinicalDate(), v)
	case "birthdate":
		return matchDate(r.BirthDate, v)
	case "_lastUpdated":
		return matchDate(lastUpdated(rec.RecordVersion).Format(time.RFC3339), v)
	}
	return true // patient, subject, _id, _count …: handled by the caller
}

// anyToken: a comma means "or".
func anyToken(v string, f func(string) bool) bool {
	return slices.ContainsFunc(strings.Split(v, ","), f)
}

// matchDate compares a FHIR date/dateTime with a date parameter like
// "ge2026-01-01". Values compare by their common precision.
func matchDate(have, param string) bool {
	if have == "" {
		return false
	}
	op := "eq"
	if len(param) > 2 && param[0] >= 'a' && param[0] <= 'z' {
		op, param = param[:2], param[2:]
	}
	a, b := normDate(have), normDate(param)
	n := min(len(a), len(b))
	cmp := strings.Compare(a[:n], b[:n])
	switch op {
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	}
	return false
}

// normDate turns a date or dateTime into a UTC timestamp string when it has
// a time, so that zones compare correctly; plain dates stay as they are.
func normDate(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05")
	}
	return s
}

// sortRecords orders search results: _sort=_lastUpdated or date, "-" for
// descending; without _sort, by record ID.
func sortRecords(recs []records.Record, by string) error {
	desc := strings.HasPrefix(by, "-")
	key := func(r *records.Record) string { return r.RecordID }
	switch strings.TrimPrefix(by, "-") {
	case "":
	case "_lastUpdated":
		key = func(r *records.Record) string { return fmt.Sprintf("%020d", r.Time) }
	case "date":
		key = func(r *records.Record) string {
			var s searchable
			json.Unmarshal(r.Resource, &s)
			return normDate(s.clinicalDate())
		}
	default:
		return fmt.Errorf("_sort by %q is not supported (use _lastUpdated or date)", by)
	}
	slices.SortStableFunc(recs, func(a, b records.Record) int {
		c := strings.Compare(key(&a), key(&b))
		if desc {
			return -c
		}
		return c
	})
	return nil
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

// everything serves GET /fhir/Patient/{id}/$everything: every resource of the
// patient the caller may read.
func (s *server) everything(w http.ResponseWriter, r *http.Request, c caller) {
	patient, ok := patientOf("Patient/" + r.PathValue("id"))
	if p, err := c.view.Principal(patient); !ok || err != nil || p.Kind != carechain.KindPatient {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("Patient/%s not found", r.PathValue("id")))
		return
	}
	heads, err := c.view.PatientRecords(patient)
	if err != nil {
		s.failErr(w, err)
		return
	}
	entries := []bundleEntry{}
	for _, h := range heads {
		if h.Deleted {
			continue
		}
		rec, err := s.Records.Read(r.Context(), c.principal.ID, h.RecordID, 0, c.purpose)
		var denied *records.DeniedError
		if errors.As(err, &denied) {
			continue
		}
		if err != nil {
			s.failErr(w, err)
			return
		}
		e, err := s.entry(h.ResourceType, rec)
		if err != nil {
			s.failErr(w, err)
			return
		}
		entries = append(entries, e)
	}
	total := len(entries)
	writeFHIR(w, http.StatusOK, bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: entries})
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
