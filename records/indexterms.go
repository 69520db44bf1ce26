package records

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
)

// What the blind search index knows of a resource: terms (resource type,
// parameter, normalized value). Writing and searching normalize alike, so
// a search term's token equals the written one exactly when their
// normalized values are equal. See index.go for the tokens.
//
//   - token parameters (identifier, gender, code) keep their value as it is
//     (FHIR tokens compare exactly), trimmed; identifier and code are
//     indexed as "system|value" and as the value alone (a search without
//     a system matches any).
//   - string parameters (name, family, given) are trimmed and case-folded,
//     and indexed by every prefix of 1 to MaxIndexPrefix runes, since FHIR
//     string search means "starts with" (:exact looks up the same prefix).
//     A longer search value looks up its first MaxIndexPrefix runes; the
//     caller checks the rest on the decrypted resource.
//   - reference parameters (performer, encounter, general-practitioner,
//     organization) are indexed as the reference ("Practitioner/dr-1",
//     without a /_history/ version) and as its id alone ("dr-1"), as a
//     search may name either.
//   - dates (birthdate, an Observation's or DiagnosticReport's date) are
//     indexed by year, month and day, of the UTC date where the value has
//     a time and zone, as search compares them: "1980", "1980-05",
//     "1980-05-17". A partial date is also marked as such ("~1980-05"):
//     FHIR compares dates at the precision both have, so a search for
//     1980-05-17 matches a record dated 1980-05 and looks that mark up
//     too. A Period is indexed by every day it covers when it covers at
//     most maxIndexedPeriodDays whole days; a longer or open one is marked
//     wideDate, which every date search looks up (the caller checks it).
//     A search of a date (eq) at year, month or day precision looks up
//     those buckets; a range (ge, lt, ...) cannot be: an open range has no
//     finite bucket set, so it filters the decrypted candidates of another
//     indexed parameter.
//
// One search value is one condition (IndexCondition): any of its terms;
// several values (a comma means or) one condition of all their terms.

// MaxIndexPrefix bounds the name prefixes indexed per name part (in
// runes). Each prefix is one token, so it bounds what a name costs in the
// index; longer prefixes would narrow candidate sets only for rare names.
const MaxIndexPrefix = 8

// maxIndexedPeriodDays bounds the days of a Period indexed day by day.
const maxIndexedPeriodDays = 31

// Marks of dates that no bucket holds: a partial date's precision
// (partialDate + "1980-05"), and a Period too long or open to index.
const (
	partialDate = "~"
	wideDate    = "*"
)

// IndexTerm is one normalized search value of one parameter of a resource
// type: "Patient", "family", "okonkwo".
type IndexTerm struct {
	Type, Param, Value string
}

// An IndexCondition is what one search value asks of the index: a record
// having any of its terms.
type IndexCondition []IndexTerm

type indexedCoding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type indexedReference struct {
	Reference string `json:"reference"`
}

type indexedPeriod struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// indexedResource is what the index reads of a resource.
type indexedResource struct {
	ResourceType string `json:"resourceType"`
	Gender       string `json:"gender"`
	BirthDate    string `json:"birthDate"`
	Identifier   []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name []struct {
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	GeneralPractitioner  []indexedReference `json:"generalPractitioner"`
	ManagingOrganization *indexedReference  `json:"managingOrganization"`
	Code                 *struct {
		Coding []indexedCoding `json:"coding"`
	} `json:"code"`
	EffectiveDateTime string             `json:"effectiveDateTime"`
	EffectiveInstant  string             `json:"effectiveInstant"`
	EffectivePeriod   *indexedPeriod     `json:"effectivePeriod"`
	Performer         []indexedReference `json:"performer"`
	Encounter         *indexedReference  `json:"encounter"`
}

// indexedTypeParams are the search parameters the index serves, by type
// (IndexedParams); each is one case of resourceTerms and of SearchTerms.
var indexedTypeParams = map[string][]string{
	"Patient":          {"identifier", "name", "family", "given", "gender", "birthdate", "general-practitioner", "organization"},
	"Observation":      {"code", "date", "performer", "encounter"},
	"DiagnosticReport": {"code", "date"},
	"Condition":        {"code"},
}

// resourceTerms are the index terms of a FHIR resource, for the
// parameters indexedTypeParams lists. Other resources have none.
func resourceTerms(resource []byte) []IndexTerm {
	var r indexedResource
	if json.Unmarshal(resource, &r) != nil {
		return nil
	}
	var out []IndexTerm
	add := func(param, value string) {
		if value != "" {
			out = append(out, IndexTerm{Type: r.ResourceType, Param: param, Value: value})
		}
	}
	switch r.ResourceType {
	case "Patient":
		patientTerms(&r, add)
	case "Observation", "DiagnosticReport", "Condition":
		if r.Code != nil {
			for _, c := range r.Code.Coding {
				addToken(add, "code", c.System, c.Code)
			}
		}
	}
	if r.ResourceType == "Observation" || r.ResourceType == "DiagnosticReport" {
		for _, d := range effectiveBuckets(&r) {
			add("date", d)
		}
	}
	if r.ResourceType == "Observation" {
		addReferences(add, "performer", r.Performer...)
		if r.Encounter != nil {
			addReferences(add, "encounter", *r.Encounter)
		}
	}
	return dedupTerms(out)
}

// patientTerms adds a Patient's terms.
func patientTerms(r *indexedResource, add func(param, value string)) {
	for _, id := range r.Identifier {
		addToken(add, "identifier", id.System, id.Value)
	}
	for _, n := range r.Name {
		parts := map[string][]string{"family": {n.Family}, "given": n.Given, "name": append([]string{n.Text, n.Family}, n.Given...)}
		for param, values := range parts {
			for _, v := range values {
				for _, p := range namePrefixes(v) {
					add(param, p)
				}
			}
		}
	}
	for _, d := range dateBuckets(r.BirthDate) {
		add("birthdate", d)
	}
	add("gender", strings.TrimSpace(r.Gender))
	addReferences(add, "general-practitioner", r.GeneralPractitioner...)
	if r.ManagingOrganization != nil {
		addReferences(add, "organization", *r.ManagingOrganization)
	}
}

// addToken adds a token parameter's value as "system|value" and alone.
func addToken(add func(param, value string), param, system, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	add(param, strings.TrimSpace(system)+"|"+value)
	add(param, value)
}

// addReferences adds references as "Type/id" and as the id alone.
func addReferences(add func(param, value string), param string, refs ...indexedReference) {
	for _, r := range refs {
		ref := normReference(r.Reference)
		add(param, ref)
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			add(param, ref[i+1:])
		}
	}
}

// normReference is a reference without its version (…/_history/n).
func normReference(ref string) string {
	ref, _, _ = strings.Cut(strings.TrimSpace(ref), "/_history/")
	return ref
}

func dedupTerms(terms []IndexTerm) []IndexTerm {
	seen := map[IndexTerm]bool{}
	out := terms[:0]
	for _, t := range terms {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

var folder = cases.Fold()

// foldString is a string search value as the index compares it.
func foldString(s string) string { return folder.String(strings.TrimSpace(s)) }

// namePrefixes are the prefixes of 1 to MaxIndexPrefix runes of a folded name part.
func namePrefixes(s string) []string {
	s = foldString(s)
	var out []string
	for i, n := 0, 0; i < len(s) && n < MaxIndexPrefix; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		out = append(out, s[:i])
	}
	return out
}

// IndexedParams are the search parameters of typ that the blind index
// serves without a patient (SearchTerms makes their conditions).
func IndexedParams(typ string) []string { return slices.Clone(indexedTypeParams[typ]) }

// SearchTerms is the condition that a search parameter's value (param may
// carry a modifier: "family:exact") looks up, for a search of resource type
// typ; false if the index cannot serve it (a modifier other than :exact,
// a date range, a parameter it does not index). Several values (commas)
// make one condition of all their terms, if the index serves each. A
// condition only narrows the candidates: the caller still matches the
// decrypted resources against the whole search.
func SearchTerms(typ, param, value string) (IndexCondition, bool) {
	if strings.Contains(value, ",") {
		var c IndexCondition
		for _, v := range strings.Split(value, ",") {
			alt, ok := SearchTerms(typ, param, v)
			if !ok {
				return nil, false
			}
			c = append(c, alt...)
		}
		return c, true
	}
	value = strings.TrimSpace(value)
	name, modifier, _ := strings.Cut(param, ":")
	if value == "" || (modifier != "" && modifier != "exact") {
		return nil, false
	}
	t := IndexTerm{Type: typ, Param: name, Value: value}
	switch typ + "." + param {
	case "Patient.identifier", "Observation.code", "DiagnosticReport.code", "Condition.code":
		if system, v, ok := strings.Cut(value, "|"); ok {
			t.Value = strings.TrimSpace(system) + "|" + strings.TrimSpace(v)
		}
	case "Patient.gender":
	case "Patient.name", "Patient.family", "Patient.given", "Patient.name:exact", "Patient.family:exact", "Patient.given:exact":
		p := namePrefixes(value)
		t.Value = p[len(p)-1]
	case "Patient.general-practitioner", "Patient.organization", "Observation.performer", "Observation.encounter":
		t.Value = normReference(value)
	case "Patient.birthdate", "Observation.date", "DiagnosticReport.date":
		return dateCondition(typ, name, value)
	default:
		return nil, false
	}
	return IndexCondition{t}, true
}
