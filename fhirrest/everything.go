package fhirrest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// everythingParams are the parameters of Patient/$everything (R4
// patient-everything): start and end bound the care dates, _since the
// versions' lastUpdated, _type the resource types; _count and _offset page.
var everythingParams = map[string]bool{"start": true, "end": true, "_since": true, "_type": true, "_count": true, "_offset": true, "_format": true}

// everythingQuery is a $everything request's parameters.
type everythingQuery struct {
	types      []string  // none: all
	since      time.Time // zero: any
	start, end string    // care dates (date values); "": unbounded
	page       page
}

// everythingQueryOf reads q; anything it does not know is a 400.
func everythingQueryOf(q url.Values) (eq everythingQuery, err error) {
	for k, vs := range q {
		if !everythingParams[k] {
			return eq, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("$everything parameter %q is not supported (use start, end, _since, _type, _count, _offset)", k)}
		}
		if len(vs) != 1 {
			return eq, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("$everything parameter %s must be given once", k)}
		}
	}
	if eq.page, err = pageOf(q); err != nil {
		return eq, err
	}
	if v := q.Get("_type"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if _, ok := clinicalTypes[t]; !ok {
				return eq, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("_type: %w", notSupported(t))}
			}
			eq.types = append(eq.types, t)
		}
	}
	if vs, ok := q["_since"]; ok {
		if eq.since, err = parseInstant(vs); err != nil {
			return eq, &requestError{kind: carechain.KindMalformed, code: "value", err: err}
		}
	}
	for _, b := range []struct {
		name string
		dst  *string
	}{{"start", &eq.start}, {"end", &eq.end}} {
		if v := q.Get(b.name); v != "" {
			if _, err := time.Parse("2006-01-02", v); err != nil && !dateLike(v) {
				return eq, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("%s %q: want a date such as 2024-01-31", b.name, v)}
			}
			*b.dst = v
		}
	}
	return eq, nil
}

// dateLike reports whether v is a FHIR date of year or month precision.
func dateLike(v string) bool {
	for _, layout := range []string{"2006", "2006-01"} {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

// keeps reports whether a record's head (and its latest version's
// metadata) can be in the answer: of a type asked for, updated since.
func (eq everythingQuery) keeps(c caller, h *carechain.RecordHead) bool {
	if h.Deleted || len(eq.types) > 0 && !slices.Contains(eq.types, h.ResourceType) {
		return false
	}
	if eq.since.IsZero() {
		return true
	}
	rv, err := c.view.RecordVersion(h.RecordID, 0)
	return err != nil || !lastUpdated(*rv).Before(eq.since) // unknown: read, and keep
}

// inCare reports whether rec's care date (its type's date parameter) is
// within start and end; a resource with no care date is kept.
func (eq everythingQuery) inCare(rec *records.Record) bool {
	if eq.start == "" && eq.end == "" {
		return true
	}
	if _, ok := lookupParam(rec.ResourceType, "date"); !ok || matches(rec.ResourceType, rec, url.Values{"date:missing": {"true"}}) {
		return true
	}
	q := url.Values{}
	if eq.start != "" {
		q.Add("date", "ge"+eq.start)
	}
	if eq.end != "" {
		q.Add("date", "le"+eq.end)
	}
	return matches(rec.ResourceType, rec, q)
}

// everything serves GET /fhir/Patient/{id}/$everything: the resources of
// the patient the caller may read that the parameters keep, paged; 404 if
// the caller may read nothing of the patient's (unless it is the patient),
// as for a patient that does not exist. _type and _since are applied
// before anything is decrypted; start and end after.
func (s *server) everything(w http.ResponseWriter, r *http.Request, c caller) {
	patient, err := patientNamed(c, r.PathValue("id"))
	if err != nil {
		s.failErr(w, err)
		return
	}
	eq, err := everythingQueryOf(r.URL.Query())
	if err != nil {
		s.failErr(w, err)
		return
	}
	recs, err := s.Records.ReadPatient(r.Context(), c.query(patient, func(h *carechain.RecordHead) bool { return eq.keeps(c, h) }))
	if err == nil && len(recs) == 0 && c.principal.ID != patient && len(eq.types) == 0 && eq.since.IsZero() {
		err = notFound("Patient") // nothing of theirs the caller may read: as if there were no such patient
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	recs = slices.DeleteFunc(recs, func(rec records.Record) bool { return !eq.inCare(&rec) })
	s.writeSearchPage(w, r, c, recs, eq.page)
}
