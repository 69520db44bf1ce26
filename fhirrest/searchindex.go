package fhirrest

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Search across patients: GET /fhir/Patient?identifier=…, ?family=…&birthdate=…,
// ?name=…, GET /fhir/Observation?code=… without patient=. The parameters the
// blind index serves (records.SearchTerm: identifier, name, family, given,
// gender and birthdate of a Patient, an Observation's code) find candidate
// records in the index of the caller's organization; each candidate is read
// through the consented read path (decrypted, consent-checked, logged), and
// what the caller may read is matched against the whole search in memory,
// as a search of one patient is. So the parameters and modifiers the index
// cannot serve (a date comparison, several values, _sort) are applied after
// decryption, at the cost of one read per candidate: at most
// records.MaxIndexCandidates, else the search is refused as too broad.
// total counts only what the caller may read, and pages are cut from that
// list, in record ID order unless _sort says otherwise, so paging does not
// shift with what consent filters out.

// searchIndexed answers a search that names no patient through the blind
// index. It returns false, having written nothing, when the index cannot
// serve it (no indexed parameter, or no index for the caller's
// organization on this node): the caller then refuses it as before.
func (s *server) searchIndexed(w http.ResponseWriter, r *http.Request, c caller, typ string, q url.Values) bool {
	if !s.Records.Indexed() || c.principal.Kind == carechain.KindPatient {
		return false
	}
	var terms []records.IndexTerm
	for name, values := range q {
		for _, v := range values {
			if t, ok := records.SearchTerm(typ, name, v); ok {
				terms = append(terms, t)
			}
		}
	}
	if len(terms) == 0 {
		return false
	}
	if err := checkParams(typ, q); err != nil {
		s.failErr(w, err)
		return true
	}
	pg, err := pageOf(q)
	if err != nil {
		s.failErr(w, err)
		return true
	}
	recs, err := s.Records.SearchIndex(r.Context(), records.IndexQuery{Requester: c.principal.ID, Purpose: c.purpose, Terms: terms, Keep: live(typ)})
	if errors.Is(err, records.ErrNoIndex) {
		return false
	}
	if errors.Is(err, records.ErrTooBroad) {
		s.fail(w, http.StatusBadRequest, "too-costly", err)
		return true
	}
	if err != nil {
		s.failErr(w, err)
		return true
	}
	recs = slices.DeleteFunc(recs, func(rec records.Record) bool { return !matches(typ, &rec, q) })
	if err := sortRecords(recs, typ, q.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return true
	}
	s.writeSearchPage(w, r, recs, pg)
	return true
}
