package deid

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Known is what identifies one patient, to be scrubbed from free text
// wherever it appears, in any letter case: their names and their
// contacts' (relatives), identifiers, telecom, address lines, city, ZIP
// code, birth date and the ids of their Patient resources. The zero Known
// scrubs nothing.
type Known struct {
	strings   []string
	birthYear int
	re        *regexp.Regexp // strings, compiled by Add: scrub only reads it, so a Known is safe to share
	yearRe    *regexp.Regexp
}

// minKnownLen keeps initials and one-letter strings out of Known: scrubbing
// every "J" would destroy the text and protect nobody.
const minKnownLen = 2

// Add adds strings to k.
func (k *Known) Add(ss ...string) {
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) >= minKnownLen && !slices.Contains(k.strings, s) {
			k.strings = append(k.strings, s)
		}
	}
	if len(k.strings) > 0 {
		k.re = k.compile()
	}
}

// Strings returns k's strings (for tests and diagnostics; never log them).
func (k *Known) Strings() []string { return slices.Clone(k.strings) }

// KnownFrom collects the identifiers of the person resources among
// resources (Patient, RelatedPerson, Person JSON); others, and what is not
// JSON, add nothing.
func KnownFrom(resources ...[]byte) *Known {
	k := &Known{}
	for _, raw := range resources {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if typ, _ := m["resourceType"].(string); !slices.Contains(personTypes, typ) {
			continue
		}
		k.person(m)
	}
	return k
}

// person adds a person resource's identifiers.
func (k *Known) person(m map[string]any) {
	if id, ok := m["id"].(string); ok {
		k.Add(id) // a record number, however short: "s1" as a whole word goes too
	}
	if s, ok := m["birthDate"].(string); ok {
		k.Add(s)
		if y, err := strconv.Atoi(s[:min(4, len(s))]); err == nil {
			k.birthYear = y
			k.yearRe = regexp.MustCompile(`\b` + strconv.Itoa(y) + `\b`)
		}
	}
	k.walk(m)
	for _, c := range asList(m["contact"]) {
		if cm, ok := c.(map[string]any); ok {
			k.walk(cm)
		}
	}
}

// walk adds the names, identifiers, telecom and addresses of m and of its
// extensions (a mother's maiden name, a birth place).
func (k *Known) walk(m map[string]any) {
	for key, v := range m {
		switch key {
		case "name", "valueHumanName":
			eachMap(v, k.name)
		case "identifier", "telecom", "valueIdentifier", "valueContactPoint":
			eachMap(v, func(x map[string]any) { k.Add(str(x["value"])) })
		case "address", "valueAddress":
			eachMap(v, k.address)
		case "extension":
			eachMap(v, func(x map[string]any) {
				if strings.Contains(strings.ToLower(str(x["url"])), "name") {
					k.Add(str(x["valueString"]))
				}
				k.walk(x)
			})
		}
	}
}

func (k *Known) name(n map[string]any) {
	k.Add(str(n["text"]), str(n["family"]))
	given := asList(n["given"])
	for _, g := range given {
		k.Add(str(g))
	}
	if len(given) > 0 {
		k.Add(str(given[0]) + " " + str(n["family"]))
	}
}

func (k *Known) address(a map[string]any) {
	for _, l := range asList(a["line"]) {
		k.Add(str(l))
	}
	k.Add(str(a["text"]), str(a["city"]), str(a["district"]))
	if pc := str(a["postalCode"]); len(pc) >= 5 {
		k.Add(pc)
	}
}

func eachMap(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
	case []any:
		for _, e := range x {
			if em, ok := e.(map[string]any); ok {
				f(em)
			}
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// scrub replaces every Known string in s.
func (k *Known) scrub(s string) string {
	if k.re != nil {
		s = k.re.ReplaceAllString(s, redactedName)
	}
	return s
}

// scrubBirthYear replaces the birth year of a patient over 89 in the year
// now: after the dates in s became years, so none slips through as one.
func (k *Known) scrubBirthYear(s string, now int) string {
	if k.yearRe != nil && now-k.birthYear > 89 {
		s = k.yearRe.ReplaceAllString(s, redactedDate)
	}
	return s
}

// Merge adds what o knows to k.
func (k *Known) Merge(o *Known) {
	if o == nil {
		return
	}
	if o.yearRe != nil {
		k.birthYear, k.yearRe = o.birthYear, o.yearRe
	}
	k.Add(o.strings...)
}

// compile makes one case-insensitive alternation of k's strings, longest
// first (so "John Smith" goes whole before "John"), whole words only, any
// run of white space matching any other.
func (k *Known) compile() *regexp.Regexp {
	ss := slices.Clone(k.strings)
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	alts := make([]string, 0, len(ss))
	for _, s := range ss {
		words := strings.Fields(s)
		for i, w := range words {
			words[i] = regexp.QuoteMeta(w)
		}
		p := strings.Join(words, `\s+`)
		if isWordByte(s[0]) {
			p = `\b` + p
		}
		if isWordByte(s[len(s)-1]) {
			p += `\b`
		}
		alts = append(alts, p)
	}
	return regexp.MustCompile(`(?i)(?:` + strings.Join(alts, "|") + `)`)
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
