package fhirrest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/carechain/carechain/records"
)

// How a decrypted resource is matched against a search's parameters
// (searchparams.go declares them), modifiers included.

// matchAll reports whether the resource doc (decoded JSON) of typ has what
// every parameter of q asks for; lastUpdated is its version's time (RFC
// 3339), for _lastUpdated. Parameters the search applies itself, result
// parameters and unknown ones (checkParams refuses them first) pass.
func matchAll(typ string, doc any, lastUpdated string, q map[string][]string) bool {
	for key, values := range q {
		p, modifier, ok := queryParam(typ, key)
		if !ok || p.byCaller {
			continue
		}
		leaves := p.leaves(doc, lastUpdated)
		for _, v := range values {
			if !p.match(leaves, modifier, v) {
				return false
			}
		}
	}
	return true
}

// leaves are the values of p in doc.
func (p searchParam) leaves(doc any, lastUpdated string) []any {
	var out []any
	if p.name == "_lastUpdated" {
		out = []any{lastUpdated}
	}
	for _, path := range p.paths {
		out = append(out, elements(doc, strings.Split(path, "."))...)
	}
	return out
}

// match reports whether leaves, p's values in a resource, match value v
// (commas: alternatives) of p with modifier (R4 search.html): :missing=true
// matches no value, :missing=false any; :not matches when no value matches
// any alternative, so also when there is no value.
func (p searchParam) match(leaves []any, modifier, v string) bool {
	switch modifier {
	case "missing":
		return (len(leaves) == 0) == (v == "true")
	case "not":
		return !p.match(leaves, "", v)
	}
	for _, alt := range strings.Split(v, ",") {
		for _, leaf := range leaves {
			if p.matchLeaf(leaf, modifier, alt) {
				return true
			}
		}
	}
	return false
}

func (p searchParam) matchLeaf(leaf any, modifier, v string) bool {
	switch p.typ {
	case "token":
		if modifier == "text" {
			return tokenText(leaf, stringMatcher("", v))
		}
		return tokenMatch(leaf, v)
	case "string":
		return stringMatch(leaf, stringMatcher(modifier, v))
	case "date":
		return dateLeafMatch(leaf, v)
	case "reference":
		return refMatch(leaf, v)
	}
	return false
}

// stringMatcher is how a string search value v with modifier matches one
// string: by default its case-insensitive prefix; :exact the whole string,
// exactly; :contains any part of it, case-insensitive.
func stringMatcher(modifier, v string) func(string) bool {
	lower := strings.ToLower(v)
	switch modifier {
	case "exact":
		return func(s string) bool { return s == v }
	case "contains":
		return func(s string) bool { return strings.Contains(strings.ToLower(s), lower) }
	}
	return func(s string) bool { return strings.HasPrefix(strings.ToLower(s), lower) }
}

// elements are the values at path in doc, arrays flattened.
func elements(doc any, path []string) []any {
	if arr, ok := doc.([]any); ok {
		var out []any
		for _, x := range arr {
			out = append(out, elements(x, path)...)
		}
		return out
	}
	if len(path) == 0 {
		return []any{doc}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	next, ok := m[path[0]]
	if !ok {
		return nil
	}
	return elements(next, path[1:])
}

// tokenMatch matches a code, boolean, Coding, CodeableConcept or
// Identifier with "[system|]code".
func tokenMatch(leaf any, v string) bool {
	system, code, withSystem := strings.Cut(v, "|")
	if !withSystem {
		code = system
	}
	switch x := leaf.(type) {
	case string:
		return x == code
	case bool:
		return fmt.Sprint(x) == code
	case map[string]any:
		if coding, ok := x["coding"].([]any); ok {
			for _, c := range coding {
				if tokenMatch(c, v) {
					return true
				}
			}
			return false
		}
		value, ok := x["code"]
		if !ok {
			value = x["value"] // an Identifier
		}
		return value == code && (!withSystem || x["system"] == system)
	}
	return false
}

// stringMatch: some string in leaf matches.
func stringMatch(leaf any, matches func(string) bool) bool {
	switch x := leaf.(type) {
	case string:
		return matches(x)
	case []any:
		for _, e := range x {
			if stringMatch(e, matches) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if stringMatch(e, matches) {
				return true
			}
		}
	}
	return false
}

// dateLeafMatch matches a date, dateTime or instant, or a Period as the
// range from its start to its end (either open if absent), with a date
// parameter.
func dateLeafMatch(leaf any, v string) bool {
	switch x := leaf.(type) {
	case string:
		return matchDate(x, v)
	case map[string]any:
		start, _ := x["start"].(string)
		end, _ := x["end"].(string)
		op, at := datePrefix(v)
		after := end == "" || matchDate(end, "ge"+at)      // the period reaches at
		before := start == "" || matchDate(start, "le"+at) // the period begins by at
		switch op {
		case "eq":
			return after && before
		case "ne":
			return !(after && before)
		case "gt", "ge":
			return end == "" || matchDate(end, op+at)
		case "lt", "le":
			return start == "" || matchDate(start, op+at)
		case "sa": // the period starts after at
			return start != "" && matchDate(start, "gt"+at)
		case "eb": // the period ends before at
			return end != "" && matchDate(end, "lt"+at)
		case "ap":
			return after && before || approximately(start, at) || approximately(end, at)
		}
	}
	return false
}

// firstDate is the first date of date parameter p in the resource res (a
// Period's start), "" if it has none.
func (p searchParam) firstDate(res json.RawMessage) string {
	var doc any
	if json.Unmarshal(res, &doc) != nil {
		return ""
	}
	for _, path := range p.paths {
		for _, leaf := range elements(doc, strings.Split(path, ".")) {
			switch x := leaf.(type) {
			case string:
				return x
			case map[string]any:
				if start, ok := x["start"].(string); ok {
					return start
				}
			}
		}
	}
	return ""
}

// refMatch matches a Reference with "Type/id" or "id"; a version in the
// reference (…/_history/n) is ignored.
func refMatch(leaf any, v string) bool {
	m, ok := leaf.(map[string]any)
	if !ok {
		return false
	}
	r, _ := m["reference"].(string)
	r, _, _ = strings.Cut(r, "/_history/")
	return r != "" && (r == v || strings.HasSuffix(r, "/"+v) && !strings.Contains(v, "/"))
}

// decoded is v as plain JSON values (maps, slices, strings …), as the
// matchers walk them.
func decoded(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc any
	return doc, json.Unmarshal(b, &doc)
}

// sortValue is what _sort by p orders rec by: the first value of p in it,
// as text that orders as the value does (dates normalized, strings
// case-folded, a code, a reference, a number zero-padded); "" if it has
// none, so those come first ascending.
func (p searchParam) sortValue(rec *records.Record) string {
	if p.typ == "date" {
		return normDate(p.firstDate(rec.Resource))
	}
	if p.byCaller {
		return rec.Patient
	}
	var doc any
	if err := json.Unmarshal(rec.Resource, &doc); err != nil {
		return ""
	}
	for _, leaf := range p.leaves(doc, "") {
		if v := leafText(leaf); v != "" {
			return v
		}
	}
	return ""
}

// leafText is a search value's leaf as sortable text.
func leafText(leaf any) string {
	switch x := leaf.(type) {
	case string:
		return strings.ToLower(x)
	case float64:
		return fmt.Sprintf("%030.9f", x+1e15) // non-negative for any value a record holds, so text order is number order
	case bool:
		return fmt.Sprint(x)
	case map[string]any:
		for _, field := range []string{"family", "text", "reference", "code", "value", "start"} {
			if v, ok := x[field]; ok {
				return leafText(v)
			}
		}
		if codings, ok := x["coding"].([]any); ok && len(codings) > 0 {
			return leafText(codings[0])
		}
	case []any:
		if len(x) > 0 {
			return leafText(x[0])
		}
	}
	return ""
}

// tokenText reports whether the text of a token's value matches: a
// CodeableConcept's text or a Coding's display (its codings' too), an
// Identifier's type text.
func tokenText(leaf any, match func(string) bool) bool {
	m, ok := leaf.(map[string]any)
	if !ok {
		return false
	}
	for _, field := range []string{"text", "display"} {
		if s, ok := m[field].(string); ok && match(s) {
			return true
		}
	}
	if codings, ok := m["coding"].([]any); ok {
		for _, c := range codings {
			if tokenText(c, match) {
				return true
			}
		}
	}
	return m["type"] != nil && tokenText(m["type"], match)
}
