package fhirrest

import (
	"encoding/json"
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

// _include and _revinclude (R4 search.html 3.1.1.5.4) add to a page of
// matches the resources they reference (_include=Observation:performer,
// optionally :Target) and those of a clinical type that reference them
// (_revinclude=DiagnosticReport:result); :iterate applies the includes
// once more to what was included. An included resource is read like any
// other: consent decides, the read is an access event, and one the caller
// may not read is left out. Includes are of the page's matches only, in
// entries with search.mode include, not counted in total.
//
// Observation:patient and :subject (and a Patient parameter of any type
// that names its record's patient) include the patient's Patient
// resource, the record of their pseudonym.

// includeSpec is one _include or _revinclude value.
type includeSpec struct {
	source, param, target string
	rev, iterate          bool
}

// includesOf reads q's _include and _revinclude values for a search of typ.
func includesOf(q url.Values) ([]includeSpec, error) {
	var out []includeSpec
	for _, key := range []string{"_include", "_include:iterate", "_revinclude", "_revinclude:iterate"} {
		for _, v := range q[key] {
			parts := strings.Split(v, ":")
			spec := includeSpec{rev: strings.HasPrefix(key, "_rev"), iterate: strings.HasSuffix(key, ":iterate")}
			if len(parts) < 2 || len(parts) > 3 {
				return nil, badInclude(key, v, "want SourceType:parameter[:TargetType]")
			}
			spec.source, spec.param = parts[0], parts[1]
			if len(parts) == 3 {
				spec.target = parts[2]
			}
			if _, ok := clinicalTypes[spec.source]; !ok {
				return nil, badInclude(key, v, "the source must be a clinical resource type")
			}
			if p, ok := lookupParam(spec.source, spec.param); !ok || p.typ != "reference" {
				return nil, badInclude(key, v, fmt.Sprintf("%s has no reference parameter %q", spec.source, spec.param))
			}
			out = append(out, spec)
		}
	}
	return out, nil
}

func badInclude(key, v, why string) error {
	return &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("%s=%s: %s", key, v, why)}
}

// included returns the resources specs add to matches, each once and none
// of matches, in the order found.
func (s *server) included(r *http.Request, c caller, matches []records.Record, specs []includeSpec) ([]records.Record, error) {
	seen := map[string]bool{}
	for _, m := range matches {
		seen[m.RecordID] = true
	}
	var out []records.Record
	from := matches
	for round := 0; round < 2; round++ {
		var added []records.Record
		for _, spec := range specs {
			if round == 1 && !spec.iterate {
				continue
			}
			recs, err := s.includeOne(r, c, from, spec)
			if err != nil {
				return nil, err
			}
			for _, rec := range recs {
				if !seen[rec.RecordID] {
					seen[rec.RecordID] = true
					added = append(added, rec)
				}
			}
		}
		out = append(out, added...)
		from = added
	}
	return out, nil
}

// includeOne is what spec adds to from.
func (s *server) includeOne(r *http.Request, c caller, from []records.Record, spec includeSpec) ([]records.Record, error) {
	if spec.rev {
		return s.revInclude(r, c, from, spec)
	}
	var out []records.Record
	for i := range from {
		if from[i].ResourceType != spec.source {
			continue
		}
		for _, ref := range referencesOf(&from[i], spec.param) {
			typ, id, ok := strings.Cut(ref, "/")
			if !ok || spec.target != "" && typ != spec.target {
				continue
			}
			rec, err := s.Records.Read(r.Context(), c.principal.ID, id, 0, c.purpose)
			var denied *records.DeniedError
			switch {
			case errors.As(err, &denied), carechain.KindOf(err) == carechain.KindNotFound:
				continue // logged if it was a refusal; left out either way
			case err != nil:
				return nil, err
			case rec.Deleted || rec.ResourceType != typ || !c.scopes.allows(typ, 'r') && !c.scopes.allows(typ, 's'):
				continue
			}
			out = append(out, *rec)
		}
	}
	return out, nil
}

// referencesOf are the "Type/id" references of rec's parameter param:
// the record's Patient for a parameter that names its patient.
func referencesOf(rec *records.Record, param string) []string {
	p, _ := lookupParam(rec.ResourceType, param)
	if p.byCaller || len(p.paths) == 0 {
		return []string{"Patient/" + strings.TrimPrefix(rec.Patient, carechain.PatientPrefix)}
	}
	var doc any
	if err := json.Unmarshal(rec.Resource, &doc); err != nil {
		return nil
	}
	var out []string
	for _, leaf := range p.leaves(doc, "") {
		m, _ := leaf.(map[string]any)
		ref, _ := m["reference"].(string)
		ref, _, _ = strings.Cut(ref, "/_history/")
		if strings.Count(ref, "/") == 1 {
			out = append(out, ref)
		}
	}
	return out
}

// revInclude is the resources of spec.source, of the patients of from,
// whose spec.param references one of from.
func (s *server) revInclude(r *http.Request, c caller, from []records.Record, spec includeSpec) ([]records.Record, error) {
	byPatient := map[string][]string{}
	p, _ := lookupParam(spec.source, spec.param)
	for _, m := range from {
		if p.byCaller && m.ResourceType != "Patient" {
			continue // a parameter naming the record's patient references only Patients
		}
		if spec.target == "" || m.ResourceType == spec.target {
			byPatient[m.Patient] = append(byPatient[m.Patient], m.ResourceType+"/"+m.RecordID)
		}
	}
	var out []records.Record
	for _, patient := range slices.Sorted(maps.Keys(byPatient)) {
		recs, err := s.find(r, c, spec.source, patient, url.Values{spec.param: {strings.Join(byPatient[patient], ",")}})
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}
