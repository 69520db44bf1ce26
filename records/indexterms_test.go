package records

import (
	"slices"
	"testing"
)

// found reports whether the condition of a search of param=value meets
// the terms written; false, with ok false, if the index cannot serve it.
func found(written []IndexTerm, typ, param, value string) (found, ok bool) {
	cond, ok := SearchTerms(typ, param, value)
	return slices.ContainsFunc(cond, func(t IndexTerm) bool { return slices.Contains(written, t) }), ok
}

func TestIndexTermsOfSearchMatchWrittenOnes(t *testing.T) {
	patient := resourceTerms([]byte(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"A-77"}],
	 "name":[{"family":"Ökonkwo-Smithers","given":["Ada"]}],"birthDate":"1980-05-17","gender":"female",
	 "generalPractitioner":[{"reference":"Practitioner/hosp-a.dr-a/_history/2"}],"managingOrganization":{"reference":"Organization/hosp-a"}}`))
	partial := resourceTerms([]byte(`{"resourceType":"Patient","birthDate":"1980-05"}`))
	obs := resourceTerms([]byte(`{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
	 "effectiveDateTime":"2024-03-01T01:30:00+02:00","performer":[{"reference":"Practitioner/dr-1"}],"encounter":{"reference":"Encounter/e1"}}`))
	period := resourceTerms([]byte(`{"resourceType":"Observation","effectivePeriod":{"start":"2024-01-30","end":"2024-02-02"}}`))
	open := resourceTerms([]byte(`{"resourceType":"DiagnosticReport","code":{"coding":[{"code":"x"}]},"effectivePeriod":{"start":"2020-01-01"}}`))
	cond := resourceTerms([]byte(`{"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]}}`))
	for _, c := range []struct {
		written           []IndexTerm
		typ, param, value string
		want              bool
	}{
		{patient, "Patient", "identifier", "urn:mrn|A-77", true},
		{patient, "Patient", "identifier", "A-77", true},
		{patient, "Patient", "identifier", "a-77", false}, // tokens compare exactly
		{patient, "Patient", "identifier", "urn:other|A-77", false},
		{patient, "Patient", "family", "ökon", true},
		{patient, "Patient", "family", "ÖKONKWO", true},
		{patient, "Patient", "family", "Ökonkwo-Smithers", true}, // longer than MaxIndexPrefix: its prefix is looked up
		{patient, "Patient", "family:exact", "Ökonkwo-Smithers", true},
		{patient, "Patient", "family", "okonkwo", false},
		{patient, "Patient", "name", "ada", true},
		{patient, "Patient", "given", "Ökon", false},
		{patient, "Patient", "birthdate", "1980", true},
		{patient, "Patient", "birthdate", "1980-05", true},
		{patient, "Patient", "birthdate", "eq1980-05-17", true},
		{patient, "Patient", "birthdate", "1980-05-18", false},
		{partial, "Patient", "birthdate", "1980-05-18", true}, // dates compare at the precision both have
		{partial, "Patient", "birthdate", "1980-06-01", false},
		{patient, "Patient", "gender", "female", true},
		{patient, "Patient", "general-practitioner", "Practitioner/hosp-a.dr-a", true},
		{patient, "Patient", "general-practitioner", "hosp-a.dr-a", true},
		{patient, "Patient", "general-practitioner", "Practitioner/hosp-a.dr-b", false},
		{patient, "Patient", "organization", "Organization/hosp-a", true},
		{obs, "Observation", "code", "http://loinc.org|2345-7", true},
		{obs, "Observation", "date", "2024-02-29", true}, // its UTC day
		{obs, "Observation", "date", "2024-03-01", false},
		{obs, "Observation", "date", "2024", true},
		{obs, "Observation", "performer", "Practitioner/dr-1", true},
		{obs, "Observation", "encounter", "Encounter/e2", false},
		{period, "Observation", "date", "2024-02-01", true},
		{period, "Observation", "date", "2024-02", true},
		{period, "Observation", "date", "2024-02-03", false},
		{open, "DiagnosticReport", "date", "2026-07-01", true}, // open: every date search reads it
		{open, "DiagnosticReport", "code", "x", true},
		{cond, "Condition", "code", "38341003", true},
		{cond, "Condition", "code", "1,38341003", true},
		{cond, "Condition", "code", "1,2", false},
		{patient, "Patient", "birthdate", "1979,1980-05", true},
	} {
		got, ok := found(c.written, c.typ, c.param, c.value)
		if !ok {
			t.Errorf("%s?%s=%s: not served by the index", c.typ, c.param, c.value)
		} else if got != c.want {
			t.Errorf("%s?%s=%s: found %v, want %v", c.typ, c.param, c.value, got, c.want)
		}
	}
	for _, c := range [][2]string{{"family:contains", "x"}, {"gender:not", "male"}, {"gender:missing", "true"}, {"birthdate", "ge1980"},
		{"birthdate", "1980-13"}, {"birthdate", "1980-05-17T10:00:00Z"}, {"birthdate", "1980,ge1990"}, {"identifier", "a,"}, {"status", "final"}} {
		if _, ok := SearchTerms("Patient", c[0], c[1]); ok {
			t.Errorf("%s=%s: served by the index, which cannot", c[0], c[1])
		}
	}
}

// TestIndexedParamsHaveTerms: every parameter IndexedParams advertises (the
// CapabilityStatement lists them) makes an index condition.
func TestIndexedParamsHaveTerms(t *testing.T) {
	sample := map[string]string{"identifier": "urn:mrn|MRN-1", "name": "smi", "family": "Smith", "given": "Jo",
		"gender": "female", "birthdate": "1990-01-02", "code": "http://loinc.org|2345-7", "date": "2024-01",
		"performer": "Practitioner/x", "encounter": "Encounter/x", "general-practitioner": "Practitioner/x", "organization": "Organization/x"}
	for _, typ := range []string{"Patient", "Observation", "DiagnosticReport", "Condition"} {
		ps := IndexedParams(typ)
		if len(ps) == 0 {
			t.Errorf("%s: no indexed parameters", typ)
		}
		for _, p := range ps {
			if _, ok := SearchTerms(typ, p, sample[p]); !ok {
				t.Errorf("%s %s=%s makes no index condition", typ, p, sample[p])
			}
		}
	}
	if ps := IndexedParams("Encounter"); ps != nil {
		t.Errorf("Encounter: %v, the index serves none", ps)
	}
}
