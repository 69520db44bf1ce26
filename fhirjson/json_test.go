package fhirjson

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

var parserSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e-3`, `-12.50E+2`, `"x"`,
	`{"a":[1,2,{"b":null}],"c":"d"}`,
	` { "a" : [ ] , "b" : { } } `,
	`"\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r"`,
	`"\ud800"`, `"\udc00\ud800x"`, `"\ud83dx"`, `"\ud83d\u0041"`,
	`"é😀"`,
	`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
	`1e999999999`, `-1e400`, `1e-400`, `[-0.0e-999999]`, `1.7976931348623157e308`, `5e-324`,
	`01`, `1.`, `.5`, `-`, `1e`, `+1`, `0x10`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`,
	`"a` + "\x01" + `"`, `"\x"`, `"\u12"`, `"\u12g4"`, `tru`, `nul`, `[1 2]`, `{} x`,
	"\xff", `"` + "\xc3" + `"`,
	strings.Repeat("[", 70) + strings.Repeat("]", 70),
}

// TestParserMatchesEncodingJSON checks that, where both accept an input,
// parseJSON builds the same value as encoding/json with UseNumber, and that
// it rejects what encoding/json rejects.
func TestParserMatchesEncodingJSON(t *testing.T) {
	for _, s := range parserSeeds {
		checkParser(t, []byte(s))
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range parserSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(heartRate))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParser(t, data)
	})
}

func checkParser(t *testing.T, data []byte) {
	t.Helper()
	got, perr := parseJSON(data)

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	stdErr := dec.Decode(&want)
	if stdErr == nil {
		if _, err := dec.Token(); err != io.EOF {
			stdErr = errTrailing
		}
	}

	switch {
	case stdErr != nil && perr == nil:
		t.Fatalf("%q: parseJSON accepted input encoding/json rejects (%v)", data, stdErr)
	case stdErr == nil && perr != nil:
		// Only our extra rules may reject valid JSON.
		switch perr.kind {
		case ErrDuplicateKey, ErrTooDeep, ErrNumberRange:
		case ErrMalformedJSON:
			if perr.reason != "invalid UTF-8" { // encoding/json replaces bad UTF-8
				t.Fatalf("%q: parseJSON rejected valid JSON: %v", data, perr)
			}
		default:
			t.Fatalf("%q: unexpected error kind %v", data, perr.kind)
		}
	case stdErr == nil && perr == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseJSON = %#v, encoding/json = %#v", data, got, want)
		}
		// Canonical form round-trips to the same value.
		c := appendCanonical(nil, got)
		again, perr := parseJSON(c)
		if perr != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("%q: canonical %q does not round-trip (%v)", data, c, perr)
		}
		if c2 := appendCanonical(nil, again); !bytes.Equal(c, c2) {
			t.Fatalf("%q: canonical not idempotent: %q vs %q", data, c, c2)
		}
	}
}

var errTrailing = &parseError{reason: "trailing"}
