package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// References in search values, and chains through the patient.
//
//   - A reference parameter's value may be an absolute URL of this server
//     (http://host/fhir/Patient/p) or carry its type as a modifier
//     (subject:Patient=p): both are read as Patient/p.
//   - patient and subject may be chained to a Patient parameter
//     (patient.identifier=urn:mrn|123, subject:Patient.family=doe): the
//     Patients that match are found first (through the blind index, or the
//     caller itself if a patient), each read as the caller, and the search
//     then runs within each of them, its results merged.

// normalizeRefs rewrites q's reference values given as absolute URLs of
// this server or with a type modifier into Type/id.
func (s *server) normalizeRefs(typ string, q url.Values) url.Values {
	base := s.abs("/fhir/")
	out := url.Values{}
	for key, values := range q {
		name, modifier, _ := strings.Cut(key, ":")
		p, ok := lookupParam(typ, name)
		if !ok || p.typ != "reference" {
			out[key] = values
			continue
		}
		if modifier != "" && fhirjson.IsResourceType(modifier) {
			key = name
			values = slices.Clone(values)
			for i, v := range values {
				if !strings.Contains(v, "/") {
					values[i] = modifier + "/" + v
				}
			}
		}
		for _, v := range values {
			out.Add(key, strings.TrimPrefix(v, base))
		}
	}
	return out
}

// patientChain splits q into the Patient search its chained patient
// parameters make (patient.identifier=… → identifier=…) and the rest;
// ok is false when q has no chain.
func patientChain(q url.Values) (chain, rest url.Values, ok bool, err error) {
	chain, rest = url.Values{}, url.Values{}
	for key, values := range q {
		head, param, chained := strings.Cut(key, ".")
		if !chained {
			rest[key] = values
			continue
		}
		switch head {
		case "patient", "subject", "patient:Patient", "subject:Patient":
		default:
			return nil, nil, false, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("chained parameter %q: only patient and subject chain, to a Patient parameter", key)}
		}
		if _, _, known := queryParam("Patient", param); !known || strings.Contains(param, ".") {
			return nil, nil, false, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("chained parameter %q: Patient has no search parameter %q", key, param)}
		}
		chain[param] = append(chain[param], values...)
	}
	return chain, rest, len(chain) > 0, nil
}

// chainedPatients are the patients whose Patient resource the caller may
// read and that match chain.
func (s *server) chainedPatients(r *http.Request, c caller, chain url.Values) ([]string, error) {
	if err := checkParams("Patient", chain); err != nil {
		return nil, err
	}
	if c.principal.Kind == carechain.KindPatient {
		found, err := s.find(r, c, "Patient", c.principal.ID, chain)
		if err != nil || len(found) == 0 {
			return nil, err
		}
		return []string{c.principal.ID}, nil
	}
	conds, err := indexConditions("Patient", chain)
	if err != nil {
		return nil, err
	}
	recs, err := s.Records.SearchIndex(r.Context(), records.IndexQuery{Requester: c.principal.ID, Purpose: c.purpose, Conditions: conds, Keep: live("Patient")})
	switch {
	case errors.Is(err, records.ErrNoIndex):
		return nil, &requestError{kind: carechain.KindMalformed, code: "required", err: fmt.Errorf("%w: this node keeps no search index to resolve the chain", errNeedsPatient)}
	case err != nil:
		return nil, err
	}
	var out []string
	for i := range recs {
		if matches("Patient", &recs[i], chain) && !slices.Contains(out, recs[i].Patient) {
			out = append(out, recs[i].Patient)
		}
	}
	return out, nil
}

// searchChained answers a search of typ whose patient is given by a chain.
func (s *server) searchChained(w http.ResponseWriter, r *http.Request, c caller, typ string, chain, rest url.Values) {
	if _, ok := rest["patient"]; ok || rest.Get("subject") != "" {
		s.fail(w, http.StatusBadRequest, "value", errors.New("give the patient by patient= or by a chain, not both"))
		return
	}
	if err := checkParams(typ, rest); err != nil {
		s.failErr(w, err)
		return
	}
	pg, err := pageOf(rest)
	if err != nil {
		s.failErr(w, err)
		return
	}
	patients, err := s.chainedPatients(r, c, chain)
	var recs []records.Record
	for _, patient := range patients {
		if err != nil {
			break
		}
		var found []records.Record
		found, err = s.find(r, c, typ, patient, rest)
		recs = append(recs, found...)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if err := sortRecords(recs, typ, rest.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	s.writeSearchPage(w, r, c, recs, pg)
}
