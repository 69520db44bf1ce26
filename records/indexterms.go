package records

import (
	"encoding/json"
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
//     string search means "starts with". A longer search value looks up
//     its first MaxIndexPrefix runes; the caller checks the rest on the
//     decrypted resource.
//   - dates (birthdate) are indexed by year, month and day: "1980",
//     "1980-05", "1980-05-17"; a search for one of those precisions (eq)
//     looks up that bucket.

// MaxIndexPrefix bounds the name prefixes indexed per name part (in
// runes). Each prefix is one token, so it bounds what a name costs in the
// index; longer prefixes would narrow candidate sets only for rare names.
const MaxIndexPrefix = 8

// IndexTerm is one normalized search value of one parameter of a resource
// type: "Patient", "family", "okonkwo".
type IndexTerm struct {
	Type, Param, Value string
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
	Code *struct {
		Coding []struct {
			System string `json:"system"`
			Code   string `json:"code"`
		} `json:"coding"`
	} `json:"code"`
}

// resourceTerms are the index terms of a FHIR resource: a Patient's
// identifier, name, family, given, birthdate and gender; an Observation's
// code. Other resources have none.
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
	case "Observation":
		if r.Code != nil {
			for _, c := range r.Code.Coding {
				addToken(add, "code", c.System, c.Code)
			}
		}
	}
	return dedupTerms(out)
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

// dateBuckets are the year, month and day of a FHIR date: "1980-05-17" →
// "1980", "1980-05", "1980-05-17" (fewer for a partial date).
func dateBuckets(d string) []string {
	d = strings.TrimSpace(d)
	var out []string
	for _, n := range []int{4, 7, 10} {
		if len(d) >= n {
			out = append(out, d[:n])
		}
	}
	return out
}

// IndexedParams are the search parameters of typ that the blind index
// serves without a patient (SearchTerm makes their terms).
func IndexedParams(typ string) []string {
	switch typ {
	case "Patient":
		return []string{"identifier", "name", "family", "given", "gender", "birthdate"}
	case "Observation":
		return []string{"code"}
	}
	return nil
}

// SearchTerm is the index term that a search parameter's value looks up,
// for a search of resource type typ; false if the index cannot serve it
// (a modifier, several values, a date comparison, a parameter it does not
// index). A term only narrows the candidates: the caller still matches
// the decrypted resources against the whole search.
func SearchTerm(typ, param, value string) (IndexTerm, bool) {
	value = strings.TrimSpace(value)
	if value == "" || strings.Contains(value, ",") || strings.Contains(param, ":") {
		return IndexTerm{}, false
	}
	t := IndexTerm{Type: typ, Param: param}
	switch typ + "." + param {
	case "Patient.identifier", "Observation.code":
		if system, v, ok := strings.Cut(value, "|"); ok {
			value = strings.TrimSpace(system) + "|" + strings.TrimSpace(v)
		}
		t.Value = value
	case "Patient.gender":
		t.Value = value
	case "Patient.name", "Patient.family", "Patient.given":
		p := namePrefixes(value)
		t.Value = p[len(p)-1]
	case "Patient.birthdate":
		value = strings.TrimPrefix(value, "eq")
		if len(value) != 4 && len(value) != 7 && len(value) != 10 {
			return IndexTerm{}, false
		}
		t.Value = value
	default:
		return IndexTerm{}, false
	}
	return t, true
}
