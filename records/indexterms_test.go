package records

import (
	"slices"
	"testing"
)

func TestIndexTermsOfSearchMatchWrittenOnes(t *testing.T) {
	written := resourceTerms([]byte(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"A-77"}],
	 "name":[{"family":"Ökonkwo-Smithers","given":["Ada"]}],"birthDate":"1980-05-17","gender":"female"}`))
	for _, c := range []struct {
		param, value string
		found        bool
	}{
		{"identifier", "urn:mrn|A-77", true},
		{"identifier", "A-77", true},
		{"identifier", "a-77", false}, // tokens compare exactly
		{"identifier", "urn:other|A-77", false},
		{"family", "ökon", true},
		{"family", "ÖKONKWO", true},
		{"family", "Ökonkwo-Smithers", true}, // longer than MaxIndexPrefix: its prefix is looked up
		{"family", "okonkwo", false},
		{"name", "ada", true},
		{"given", "Ökon", false},
		{"birthdate", "1980", true},
		{"birthdate", "1980-05", true},
		{"birthdate", "eq1980-05-17", true},
		{"birthdate", "1980-05-18", false},
		{"gender", "female", true},
	} {
		term, ok := SearchTerm("Patient", c.param, c.value)
		if !ok {
			t.Errorf("%s=%s: not served by the index", c.param, c.value)
			continue
		}
		if got := slices.Contains(written, term); got != c.found {
			t.Errorf("%s=%s (term %+v): found %v, want %v", c.param, c.value, term, got, c.found)
		}
	}
	for _, c := range [][2]string{{"family:contains", "x"}, {"birthdate", "ge1980"}, {"identifier", "a,b"}, {"status", "final"}} {
		if _, ok := SearchTerm("Patient", c[0], c[1]); ok {
			t.Errorf("%s=%s: served by the index, which cannot", c[0], c[1])
		}
	}
}

// TestIndexedParamsHaveTerms: every parameter IndexedParams advertises (the
// CapabilityStatement lists them) makes an index term.
func TestIndexedParamsHaveTerms(t *testing.T) {
	sample := map[string]string{"identifier": "urn:mrn|MRN-1", "name": "smi", "family": "Smith", "given": "Jo",
		"gender": "female", "birthdate": "1990-01-02", "code": "http://loinc.org|2345-7"}
	for _, typ := range []string{"Patient", "Observation"} {
		ps := IndexedParams(typ)
		if len(ps) == 0 {
			t.Errorf("%s: no indexed parameters", typ)
		}
		for _, p := range ps {
			if _, ok := SearchTerm(typ, p, sample[p]); !ok {
				t.Errorf("%s %s=%s makes no index term", typ, p, sample[p])
			}
		}
	}
	if ps := IndexedParams("Condition"); ps != nil {
		t.Errorf("Condition: %v, the index serves none", ps)
	}
}
