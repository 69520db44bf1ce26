package fhirrest

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Search across patients: GET /fhir/Patient?identifier=…, ?family=…&birthdate=…,
// GET /fhir/Observation?code=…&date=ge2024-01 without patient=. The
// parameters the blind index serves (records.IndexedParams, conditions made
// by records.SearchTerms: tokens, strings by prefix or :exact, references,
// dates eq at year, month or day precision; several values of those) find candidate records in the
// index of the caller's organization; each candidate is read through the
// consented read path (decrypted, consent-checked, logged), and what the
// caller may read is matched against the whole search in memory, as a
// search of one patient is.
//
// What the index cannot serve is a post-filter over those candidates:
// :contains, :not and :missing, date ranges (ge2024-01: an open range has no
// finite set of date buckets to look up), parameters it does not index,
// and _sort. A post-filter costs nothing in the index but
// narrows nothing either: every candidate of the indexed parameters is one
// decryption, one consent check and one access event in its patient's
// log, whether or not the post-filter then keeps it; at most
// records.MaxIndexCandidates, else the search is refused as too broad. So
// a search needs at least one parameter the index serves; one of
// post-filters alone is refused (400), naming them.
//
// total counts only what the caller may read, and pages are cut from that
// list, in record ID order unless _sort says otherwise, so paging does not
// shift with what consent filters out.

// errNeedsPatient is a search of clinical records that names no patient
// and cannot run across patients.
var errNeedsPatient = errors.New("search needs patient=Patient/<id> (or subject=)")

// searchAcross answers a search of typ that names no patient, by the
// caller's organization's blind index on this node.
func (s *server) searchAcross(w http.ResponseWriter, r *http.Request, c caller, typ string, q url.Values) {
	if q.Get("patient") != "" || q.Get("subject") != "" || typ == "Patient" && q.Get("_id") != "" {
		s.fail(w, http.StatusBadRequest, "value", errors.New("patient= (or subject=, or a Patient's _id) must name a patient: Patient/<id>"))
		return
	}
	if !s.Records.Indexed() || c.principal.Kind == carechain.KindPatient {
		s.fail(w, http.StatusBadRequest, "required", errNeedsPatient)
		return
	}
	if err := checkParams(typ, q); err != nil {
		s.failErr(w, err)
		return
	}
	conds, err := indexConditions(typ, q)
	if err != nil {
		s.failErr(w, err)
		return
	}
	pg, err := pageOf(q)
	if err != nil {
		s.failErr(w, err)
		return
	}
	ofType, id := live(typ), q.Get("_id") // _id is applied here, as find does (matchAll skips it)
	keep := func(h *carechain.RecordHead) bool { return ofType(h) && (id == "" || h.RecordID == id) }
	recs, err := s.Records.SearchIndex(r.Context(), records.IndexQuery{Requester: c.principal.ID, Purpose: c.purpose, Conditions: conds, Keep: keep})
	switch {
	case errors.Is(err, records.ErrNoIndex):
		s.fail(w, http.StatusBadRequest, "required", fmt.Errorf("%w: this node keeps no search index for the caller's organization", errNeedsPatient))
		return
	case errors.Is(err, records.ErrTooBroad):
		s.fail(w, http.StatusBadRequest, "too-costly", err)
		return
	case err != nil:
		s.failErr(w, err)
		return
	}
	recs = slices.DeleteFunc(recs, func(rec records.Record) bool { return !matches(typ, &rec, q) })
	if recs, err = s.withHas(r, c, typ, recs, q); err != nil {
		s.failErr(w, err)
		return
	}
	if err := sortRecords(recs, typ, q.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	s.writeSearchPage(w, r, c, recs, pg)
}

// indexConditions are the index conditions of the parameters of q the
// index serves. If there is none, the search is refused: a 400 naming the
// parameters that only filter (post-filters) and those the index serves.
func indexConditions(typ string, q url.Values) ([]records.IndexCondition, error) {
	var conds []records.IndexCondition
	var filters []string
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if slices.Contains(resultParamsOf(typ), key) {
			continue
		}
		for _, v := range q[key] {
			if c, ok := records.SearchTerms(typ, key, v); ok {
				conds = append(conds, c)
			} else {
				filters = append(filters, key+"="+v)
			}
		}
	}
	if len(conds) > 0 {
		return conds, nil
	}
	indexed := records.IndexedParams(typ)
	err := fmt.Errorf("%w; %s has no parameter the search index serves", errNeedsPatient, typ)
	switch {
	case len(indexed) > 0 && len(filters) == 0:
		err = fmt.Errorf("%w, or a parameter the search index serves (%s: %s)", errNeedsPatient, typ, strings.Join(indexed, ", "))
	case len(indexed) > 0:
		err = fmt.Errorf("the search index cannot serve %s: without patient=Patient/<id>, they only filter what a parameter it serves finds (%s: %s; dates eq at year, month or day precision, no modifier but :exact); add one",
			strings.Join(filters, ", "), typ, strings.Join(indexed, ", "))
	}
	return nil, &requestError{kind: carechain.KindMalformed, code: "required", err: err}
}
