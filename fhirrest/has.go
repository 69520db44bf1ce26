package fhirrest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// _has (R4 search.html 3.1.1.5.6, one level): _has:Type:ref:param=value
// keeps the results that some resource of Type references by its
// parameter ref and that matches param=value, e.g.
// Patient?family=doe&_has:Observation:patient:code=2345-7. The resources
// looked at are the result's patient's, each read as the caller (consented
// and logged), so a result is kept only on evidence the caller may read.

// hasClause is one _has parameter.
type hasClause struct {
	typ, ref, param string
	values          []string
}

// hasClauseOf reads the _has key of a search of typ; false if key is no
// _has, an error if it is one this server cannot run.
func hasClauseOf(typ, key string, values []string) (hasClause, bool, error) {
	rest, ok := strings.CutPrefix(key, "_has:")
	if !ok {
		return hasClause{}, false, nil
	}
	parts := strings.SplitN(rest, ":", 3)
	bad := func(why string) error {
		return &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("%s: %s (want _has:Type:reference:parameter)", key, why)}
	}
	if len(parts) != 3 {
		return hasClause{}, true, bad("malformed")
	}
	h := hasClause{typ: parts[0], ref: parts[1], param: parts[2], values: values}
	if _, ok := clinicalTypes[h.typ]; !ok {
		return h, true, bad("not a clinical resource type")
	}
	ref, ok := lookupParam(h.typ, h.ref)
	switch {
	case !ok || ref.typ != "reference":
		return h, true, bad(fmt.Sprintf("%s has no reference parameter %q", h.typ, h.ref))
	case ref.byCaller && typ != "Patient":
		return h, true, bad(fmt.Sprintf("%s:%s references a Patient, not a %s", h.typ, h.ref, typ))
	}
	if _, _, ok := queryParam(h.typ, h.param); !ok || strings.HasPrefix(h.param, "_has") {
		return h, true, bad(fmt.Sprintf("%s has no search parameter %q", h.typ, h.param))
	}
	return h, true, nil
}

// hasClauses are q's _has parameters for a search of typ.
func hasClauses(typ string, q url.Values) ([]hasClause, error) {
	var out []hasClause
	for _, key := range slices.Sorted(maps.Keys(q)) {
		h, ok, err := hasClauseOf(typ, key, q[key])
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// withHas keeps the records of recs that every _has of q holds for.
func (s *server) withHas(r *http.Request, c caller, typ string, recs []records.Record, q url.Values) ([]records.Record, error) {
	clauses, err := hasClauses(typ, q)
	if err != nil || len(clauses) == 0 {
		return recs, err
	}
	var out []records.Record
	for i := range recs {
		keep := true
		for _, h := range clauses {
			hq := url.Values{h.param: h.values}
			if p, _ := lookupParam(h.typ, h.ref); !p.byCaller {
				hq[h.ref] = []string{typ + "/" + recs[i].RecordID}
			}
			found, err := s.find(r, c, h.typ, recs[i].Patient, hq)
			if err != nil {
				return nil, err
			}
			if keep = len(found) > 0; !keep {
				break
			}
		}
		if keep {
			out = append(out, recs[i])
		}
	}
	return out, nil
}
