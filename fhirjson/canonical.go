package fhirjson

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Canonical returns the resource re-encoded as compact JSON with object keys
// sorted, so equal resources have equal bytes.
//
// Keys are sorted by their UTF-8 bytes; strings are re-escaped minimally
// (only '"', '\\' and control characters; "\u00e9" and "é" encode the same);
// numbers keep their literal text, because FHIR decimals carry precision
// ("1.50" is not "1.5"). The same input limits as Validate apply (size, depth,
// duplicate keys, UTF-8, must be an object); the schema is not checked.
func Canonical(resource []byte) ([]byte, error) {
	obj, verr := parseResource(resource)
	if verr != nil {
		return nil, verr
	}
	return appendCanonical(make([]byte, 0, len(resource)), obj), nil
}

// appendCanonical appends v as compact JSON with object keys sorted by their
// UTF-8 bytes. Numbers keep their original literal text; strings are
// re-escaped minimally (", \, and control characters only).
func appendCanonical(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case json.Number:
		return append(b, v...)
	case string:
		return appendString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
		}
		return append(b, '}')
	default:
		// parseJSON produces no other types.
		panic(fmt.Sprintf("fhir: unexpected JSON value type %T", v))
	}
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
