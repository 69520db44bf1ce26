package fhirjson

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/carechain/carechain"
)

// padTo returns a valid resource of exactly n bytes: heartRate with
// whitespace before its closing brace.
func padTo(t *testing.T, n int) []byte {
	t.Helper()
	body := bytes.TrimSuffix(bytes.TrimSpace([]byte(heartRate)), []byte("}"))
	if len(body)+1 > n {
		t.Fatalf("cannot pad a %d-byte resource to %d bytes", len(body)+1, n)
	}
	return append(append(body, bytes.Repeat([]byte(" "), n-len(body)-1)...), '}')
}

// TestErrorKinds checks the size limit at its boundary and that every
// rejection is a *ValidationError whose sentinel and carechain error kind
// survive wrapping, through both Validate and Canonical.
func TestErrorKinds(t *testing.T) {
	v := newValidator(t)
	atLimit := padTo(t, MaxResourceSize)
	tests := []struct {
		name     string
		input    []byte
		sentinel error // nil: accepted
		kind     carechain.ErrorKind
		schema   bool // only the schema finds it, so Canonical accepts it
	}{
		{name: "exactly the size limit", input: atLimit},
		{name: "one byte over the size limit", input: padTo(t, MaxResourceSize+1), sentinel: ErrTooLarge, kind: carechain.KindTooLarge},
		{name: "malformed JSON", input: []byte(`{"resourceType":`), sentinel: ErrMalformedJSON, kind: carechain.KindMalformed},
		{name: "duplicate key", input: []byte(`{"resourceType":"Patient","id":"a","id":"b"}`), sentinel: ErrDuplicateKey, kind: carechain.KindMalformed},
		{name: "not an object", input: []byte(`["Patient"]`), sentinel: ErrNotObject, kind: carechain.KindMalformed},
		{name: "unknown resource type", input: []byte(`{"resourceType":"Nope"}`), sentinel: ErrUnknownResourceType, kind: carechain.KindMalformed, schema: true},
		{name: "schema violation", input: []byte(`{"resourceType":"Patient","gender":"often"}`), sentinel: ErrSchema, kind: carechain.KindMalformed, schema: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Validate(tt.input)
			checkKind(t, "Validate", err, tt.sentinel, tt.kind)
			_, err = Canonical(tt.input)
			if tt.schema {
				if err != nil {
					t.Errorf("Canonical: %v, want no schema check", err)
				}
				return
			}
			checkKind(t, "Canonical", err, tt.sentinel, tt.kind)
		})
	}
}

func checkKind(t *testing.T, op string, err, sentinel error, kind carechain.ErrorKind) {
	t.Helper()
	if sentinel == nil {
		if err != nil {
			t.Errorf("%s: %v, want success", op, err)
		}
		return
	}
	var verr *ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, sentinel) {
		t.Fatalf("%s: %v, want a *ValidationError unwrapping to %v", op, err, sentinel)
	}
	wrapped := fmt.Errorf("put record: %w", err)
	if got := carechain.KindOf(wrapped); got != kind {
		t.Errorf("%s: kind %v, want %v", op, got, kind)
	}
}
