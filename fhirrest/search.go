package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Search parameters (searchparams.go) are applied in memory to resources
// the caller may read.

// matches applies the search parameters of q (searchmatch.go) to a
// decrypted record of typ.
func matches(typ string, rec *records.Record, q map[string][]string) bool {
	var doc any
	if err := json.Unmarshal(rec.Resource, &doc); err != nil {
		return false
	}
	return matchAll(typ, doc, lastUpdated(rec.RecordVersion).Format(time.RFC3339), q)
}

// matchDate compares a FHIR date/dateTime with a date parameter like
// "ge2026-01-01". Values compare by their common precision.
func matchDate(have, param string) bool {
	if have == "" {
		return false
	}
	op, param := datePrefix(param)
	if op == "ap" {
		return approximately(have, param)
	}
	a, b := normDate(have), normDate(param)
	n := min(len(a), len(b))
	cmp := strings.Compare(a[:n], b[:n])
	switch op {
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	case "lt", "eb": // a point value ends before the search's range as it is less at their precision
		return cmp < 0
	case "le":
		return cmp <= 0
	case "gt", "sa": // and starts after it as it is greater
		return cmp > 0
	case "ge":
		return cmp >= 0
	}
	return false
}

// datePrefixes are the comparators a date parameter's value may start with.
var datePrefixes = []string{"eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap"}

// datePrefix splits a date parameter's value into its comparator (eq if
// none) and its date; a "+" of a zone that arrived as a space is restored.
func datePrefix(v string) (op, date string) {
	op = "eq"
	if len(v) > 2 && slices.Contains(datePrefixes, v[:2]) {
		op, v = v[:2], v[2:]
	}
	return op, strings.Replace(v, " ", "+", 1)
}

// fhirDate is a FHIR date, dateTime or instant.
var fhirDate = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// checkDate refuses a date parameter's value that is not a comparator and
// a FHIR date.
func checkDate(name, v string) error {
	_, d := datePrefix(v)
	day := d[:min(len(d), 10)]
	if _, err := time.Parse(time.DateOnly[:len(day)], day); !fhirDate.MatchString(d) || err != nil {
		return &requestError{kind: carechain.KindMalformed, code: "value",
			err: fmt.Errorf("%s %q: want [eq|ne|lt|le|gt|ge|sa|eb|ap] and a date such as 2024-05-01 or 2024-05-01T09:30:00Z", name, v)}
	}
	return nil
}

// approximately is ap: have is within 10% of the time between the search
// date and now of it (R4's suggestion), or on the same day.
func approximately(have, param string) bool {
	parse := func(s string) (time.Time, bool) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	h, ok1 := parse(have)
	p, ok2 := parse(param)
	if !ok1 || !ok2 {
		return false
	}
	slack := max(time.Since(p).Abs()/10, 24*time.Hour)
	return h.Sub(p).Abs() <= slack
}

// normDate turns a date or dateTime into a UTC timestamp string when it has
// a time, so that zones compare correctly; plain dates stay as they are.
func normDate(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05")
	}
	return s
}

// sortRecords orders search results of typ: _sort=_lastUpdated, or date
// where typ has a date parameter (by its value, a Period's start), "-" for
// descending; without _sort, by record ID.
func sortRecords(recs []records.Record, typ, by string) error {
	if by == "" {
		return nil
	}
	type sortKey struct {
		desc bool
		of   func(*records.Record) string
	}
	var keys []sortKey
	for _, name := range strings.Split(by, ",") {
		k := sortKey{desc: strings.HasPrefix(name, "-")}
		name = strings.TrimPrefix(name, "-")
		switch name {
		case "_lastUpdated":
			k.of = func(r *records.Record) string { return fmt.Sprintf("%020d", r.Time) }
		case "_id":
			k.of = func(r *records.Record) string { return r.RecordID }
		default:
			p, ok := lookupParam(typ, name)
			if !ok {
				return fmt.Errorf("_sort by %q: %s has no such search parameter (see /fhir/metadata)", name, typ)
			}
			k.of = func(r *records.Record) string { return p.sortValue(r) }
		}
		keys = append(keys, k)
	}
	slices.SortStableFunc(recs, func(a, b records.Record) int {
		for _, k := range keys {
			if c := strings.Compare(k.of(&a), k.of(&b)); c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return strings.Compare(a.RecordID, b.RecordID)
	})
	return nil
}

// search serves GET /fhir/{type}?patient=…: the patient's resources of that
// type the requester may read, filtered in memory. Without a patient, a
// search by a parameter the blind index serves runs across the patients
// the requester may read (searchindex.go).
func (s *server) search(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if _, ok := viewTypes[typ]; ok {
		s.viewSearch(w, r, c, typ)
		return
	}
	if isOrgType(typ) {
		s.orgSearch(w, r, c, typ, s.normalizeRefs(typ, r.URL.Query())) // orgrecords.go
		return
	}
	if !s.supported(w, typ) {
		return
	}
	q := s.normalizeRefs(typ, r.URL.Query())
	if chain, rest, ok, err := patientChain(q); err != nil {
		s.failErr(w, err)
		return
	} else if ok && typ != "Patient" {
		s.searchChained(w, r, c, typ, chain, rest) // chain.go
		return
	}
	patient, ok := patientParam(q, c, typ)
	if !ok {
		s.searchAcross(w, r, c, typ, q) // through the blind index (searchindex.go)
		return
	}
	if err := checkParams(typ, q); err != nil {
		s.failErr(w, err)
		return
	}
	pg, err := pageOf(q)
	if err != nil {
		s.failErr(w, err)
		return
	}
	recs, err := s.find(r, c, typ, patient, q)
	if err == nil {
		recs, err = s.withHas(r, c, typ, recs, q)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if err := sortRecords(recs, typ, q.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	s.writeSearchPage(w, r, c, recs, pg)
}

// patientParam is the patient principal a search is about: patient= (or
// subject=, or a Patient search's _id), else the caller if it is a patient.
func patientParam(q url.Values, c caller, typ string) (string, bool) {
	ref := q.Get("patient")
	if ref == "" {
		ref = q.Get("subject")
	}
	if typ == "Patient" && q.Get("_id") != "" {
		ref = "Patient/" + q.Get("_id")
	}
	if ref == "" && c.principal.Kind == carechain.KindPatient {
		return c.principal.ID, true
	}
	return patientOf(ref)
}

// page is one page of search results: _count results from _offset.
type page struct{ count, offset int }

// Paging bounds. _offset is bounded too, so that offset+count cannot
// overflow (_offset=9223372036854775807 crashed the handler): no patient has
// a million resources of one type.
const (
	defaultCount = 50
	maxCount     = 1000
	maxOffset    = 1_000_000
)

// pageOf reads _count and _offset: each at most once, a decimal integer in
// its range; anything else is a 400 naming the parameter and its range.
func pageOf(q url.Values) (page, error) {
	count, err := pageParam(q, "_count", defaultCount, maxCount)
	if err != nil {
		return page{}, err
	}
	offset, err := pageParam(q, "_offset", 0, maxOffset)
	if err != nil {
		return page{}, err
	}
	return page{count: count, offset: offset}, nil
}

// pageParam is the value of q's parameter name, def if it is absent.
func pageParam(q url.Values, name string, def, most int) (int, error) {
	vs, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if len(vs) != 1 || err != nil || n < 0 || n > most {
		return 0, &requestError{kind: carechain.KindMalformed, code: "value",
			err: fmt.Errorf("%s must be given once, as an integer from 0 to %d", name, most)}
	}
	return n, nil
}

// writeSearchPage answers with page pg of recs, linking the next page if any.
func (s *server) writeSearchPage(w http.ResponseWriter, r *http.Request, c caller, recs []records.Record, pg page) {
	rs, err := resultShapeOf(r.URL.Query())
	var specs []includeSpec
	if err == nil {
		specs, err = includesOf(r.URL.Query())
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeShapedPage(w, r, func(from, to int) ([]bundleEntry, error) {
		es, err := s.entries(recs[from:to], "match")
		if err != nil || len(specs) == 0 {
			return es, err
		}
		inc, err := s.included(r, c, recs[from:to], specs)
		if err != nil {
			return nil, err
		}
		more, err := s.entries(inc, "include")
		return append(es, more...), err
	}, len(recs), pg, rs)
}

// find returns the patient's resources of typ that the caller may read and
// that match q. Each read is an access event.
func (s *server) find(r *http.Request, c caller, typ, patient string, q url.Values) ([]records.Record, error) {
	ofType, ids := live(typ), strings.Split(q.Get("_id"), ",") // comma-separated ids are alternatives
	recs, err := s.Records.ReadPatient(r.Context(), c.query(patient, func(h *carechain.RecordHead) bool {
		return ofType(h) && (q.Get("_id") == "" || slices.Contains(ids, h.RecordID))
	}))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(rec records.Record) bool { return !matches(typ, &rec, q) }), nil
}

// patientNamed is the patient principal of Patient/{id}.
func patientNamed(c caller, id string) (string, error) {
	patient, ok := patientOf("Patient/" + id)
	if !ok {
		return "", notFound("Patient")
	}
	p, err := c.view.Principal(patient)
	switch {
	case errors.Is(err, ledger.ErrNotFound), err == nil && p.Kind != carechain.KindPatient:
		return "", notFound("Patient")
	case err != nil:
		return "", err
	}
	return patient, nil
}

type codeableConcept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}
