package fhirrest

import (
	"encoding/json"
)

// members splits a stored resource, compact JSON object as
// fhirjson.Canonical writes it, into its top-level members, as
// json.Unmarshal into a map[string]json.RawMessage would, without decoding
// the values: a read only adds members (withMeta) and json.Marshal of the
// map validates every value as it writes it. Input it is not sure of (white
// space, a key with an escape or a non-ASCII byte, anything malformed) goes
// to json.Unmarshal, so the result and its errors are always that one's.
func members(b []byte) (map[string]json.RawMessage, error) {
	if m, ok := splitMembers(b); ok {
		return m, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// splitMembers is members' fast path; ok is false where it declines.
func splitMembers(b []byte) (map[string]json.RawMessage, bool) {
	if len(b) < 2 || b[0] != '{' {
		return nil, false
	}
	m := make(map[string]json.RawMessage, 16)
	if b[1] == '}' {
		return m, len(b) == 2
	}
	i := 1
	for {
		key, next, ok := plainKey(b, i)
		if !ok || next >= len(b) || b[next] != ':' {
			return nil, false
		}
		end, ok := skipValue(b, next+1)
		if !ok || end >= len(b) {
			return nil, false
		}
		m[key] = json.RawMessage(b[next+1 : end])
		switch b[end] {
		case ',':
			i = end + 1
		case '}':
			return m, end == len(b)-1
		default:
			return nil, false
		}
	}
}

// plainKey reads the string at b[i], a key of printable ASCII without
// escapes, and returns it and the index after its closing quote.
func plainKey(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipValue returns the index just after the compact JSON value starting at
// b[i]: strings are skipped with their escapes, and brackets counted
// outside strings. It checks structure only; json.Marshal validates the
// value itself.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			j, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = j - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
		case ',':
			if depth == 0 {
				return i, true
			}
		case ' ', '\t', '\n', '\r':
			return 0, false
		}
	}
	return 0, false
}

// skipString returns the index just after the string starting at b[i].
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}
