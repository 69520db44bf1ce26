package fhirjson

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Unmarshal decodes a JSON object from a client into v, as json.Unmarshal
// does, once it has passed the input limits that Parse applies: at most
// MaxResourceSize bytes, valid UTF-8, MaxDepth, no duplicate object keys,
// every number within a 64-bit float's range. It is for bodies that are
// read into Go structs rather than validated against the schema (a Bundle's
// envelope, a Consent): encoding/json alone takes the last of duplicate
// keys, so one body could say one thing to a proxy or auditor that reads the
// first and another to this server.
//
// Keys that differ only in case ("type" and "Type") are duplicates too:
// encoding/json matches field names case-insensitively. A refused document
// is a *ValidationError.
func Unmarshal(data []byte, v any) error {
	obj, verr := parseResource(data)
	if verr != nil {
		return verr
	}
	if path := caseDuplicate(obj); path != nil {
		return fromParseError(&parseError{kind: ErrDuplicateKey, reason: "duplicate object key (differing only in case)", rev: path})
	}
	if err := json.Unmarshal(data, v); err != nil {
		var terr *json.UnmarshalTypeError
		if errors.As(err, &terr) {
			return singleIssue(ErrSchema, "", fieldPath(terr.Field), "wrong type: got "+terr.Value)
		}
		return singleIssue(ErrMalformedJSON, "", "", "cannot decode the JSON")
	}
	return nil
}

// caseDuplicate returns the path, innermost first, of an object key in v
// that equals an earlier key of its object but for case, or nil if there is
// none. Keys are visited in sorted order, so the answer is deterministic.
func caseDuplicate(v any) []string {
	switch v := v.(type) {
	case map[string]any:
		folded := make(map[string]bool, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			f := foldKey(k)
			if folded[f] {
				return []string{k}
			}
			folded[f] = true
			if path := caseDuplicate(v[k]); path != nil {
				return append(path, k)
			}
		}
	case []any:
		for i, e := range v {
			if path := caseDuplicate(e); path != nil {
				return append(path, "["+strconv.Itoa(i)+"]")
			}
		}
	}
	return nil
}

// foldKey maps each rune of k to the least rune of its Unicode case-folding
// orbit, so two keys have equal foldKey exactly when strings.EqualFold (the
// rule encoding/json matches field names by) holds for them.
func foldKey(k string) string {
	var sb strings.Builder
	sb.Grow(len(k))
	for _, r := range k {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		sb.WriteRune(least)
	}
	return sb.String()
}

// fieldPath renders encoding/json's dotted field path ("entry.request.method")
// as an issue path.
func fieldPath(field string) string {
	var sb strings.Builder
	sb.WriteString("Resource")
	for tok := range strings.SplitSeq(field, ".") {
		writeName(&sb, tok)
	}
	return sb.String()
}
