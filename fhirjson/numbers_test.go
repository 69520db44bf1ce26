package fhirjson

import (
	"errors"
	"strings"
	"testing"
)

// TestNumbersInRange: a number that a 64-bit float cannot hold is refused
// wherever it is, and FHIR's integer primitives must be whole numbers in
// their 32-bit range; the error names the element and the rule, not the
// value.
func TestNumbersInRange(t *testing.T) {
	v := newValidator(t)
	obs := func(value string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},` + value + `}`
	}
	appt := func(field string) string {
		return `{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],` + field + `}`
	}
	tests := []struct {
		name, input string
		sentinel    error  // nil: accepted
		path        string // of the one issue
	}{
		{"decimal", obs(`"valueQuantity":{"value":1.5e3}`), nil, ""},
		{"largest float", obs(`"valueQuantity":{"value":1.7976931348623157e308}`), nil, ""},
		{"zero with a large exponent", obs(`"valueQuantity":{"value":-0.0e999999}`), nil, ""},
		{"decimal overflowing a float", obs(`"valueQuantity":{"value":1e999999999}`), ErrNumberRange, "Resource.valueQuantity.value"},
		{"negative overflow", obs(`"valueQuantity":{"value":-1e400}`), ErrNumberRange, "Resource.valueQuantity.value"},
		{"underflow to zero", obs(`"valueQuantity":{"value":1e-400}`), ErrNumberRange, "Resource.valueQuantity.value"},
		{"overflow where no number belongs", obs(`"component":[{"code":{"text":"y"},"extension":[1e999]}]`), ErrNumberRange, "Resource.component[0].extension[0]"},
		{"largest integer", obs(`"valueInteger":2147483647`), nil, ""},
		{"least integer", obs(`"valueInteger":-2147483648`), nil, ""},
		{"integer over 32 bits", obs(`"valueInteger":2147483648`), ErrSchema, "Observation.valueInteger"},
		{"integer under 32 bits", obs(`"valueInteger":-2147483649`), ErrSchema, "Observation.valueInteger"},
		{"integer with a fraction", obs(`"valueInteger":1.5`), ErrSchema, "Observation.valueInteger"},
		{"integer with an exponent", obs(`"valueInteger":1e3`), ErrSchema, "Observation.valueInteger"},
		{"integer overflowing a float", obs(`"valueInteger":1e999999999`), ErrNumberRange, "Resource.valueInteger"},
		{"positiveInt", appt(`"minutesDuration":1`), nil, ""},
		{"positiveInt zero", appt(`"minutesDuration":0`), ErrSchema, "Appointment.minutesDuration"},
		{"unsignedInt zero", appt(`"priority":0`), nil, ""},
		{"unsignedInt negative", appt(`"priority":-1`), ErrSchema, "Appointment.priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Parse([]byte(tt.input))
			if tt.sentinel == nil {
				if err != nil {
					t.Fatalf("Parse: %v, want success", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, tt.sentinel) || len(verr.Issues) != 1 || verr.Issues[0].Path != tt.path {
				t.Fatalf("Parse: %v (%+v), want %v at %s", err, verr, tt.sentinel, tt.path)
			}
			if strings.Contains(err.Error(), "999") || strings.Contains(err.Error(), "1.5") {
				t.Errorf("the error repeats the value: %v", err)
			}
		})
	}
}

// TestUnmarshalAppliesTheInputLimits: a body decoded into a struct is held
// to the rules Parse applies, at every depth, and to case-insensitive
// duplicates, which encoding/json would merge.
func TestUnmarshalAppliesTheInputLimits(t *testing.T) {
	type entry struct {
		Request struct{ Method string } `json:"request"`
	}
	type bundle struct {
		Type  string  `json:"type"`
		Entry []entry `json:"entry"`
	}
	tests := []struct {
		name, input string
		sentinel    error
		path        string
	}{
		{"valid", `{"type":"batch","entry":[{"request":{"method":"POST"}}]}`, nil, ""},
		{"duplicate at the top", `{"type":"batch","type":"transaction"}`, ErrDuplicateKey, "Resource.type"},
		{"duplicate deep", `{"entry":[{"request":{"method":"POST","method":"PUT"}}]}`, ErrDuplicateKey, "Resource.entry[0].request.method"},
		{"duplicate but for case", `{"type":"batch","Type":"transaction"}`, ErrDuplicateKey, "Resource.type"},
		{"duplicate but for case, deep", `{"entry":[{},{"request":{"METHOD":"PUT","method":"POST"}}]}`, ErrDuplicateKey, "Resource.entry[1].request.method"},
		{"number out of range", `{"type":"batch","x":1e999999999}`, ErrNumberRange, "Resource.x"},
		{"wrong type", `{"type":7}`, ErrSchema, "Resource.type"},
		{"not an object", `[]`, ErrNotObject, ""},
		{"malformed", `{"type":`, ErrMalformedJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bundle
			err := Unmarshal([]byte(tt.input), &b)
			if tt.sentinel == nil {
				if err != nil || b.Type != "batch" || b.Entry[0].Request.Method != "POST" {
					t.Fatalf("Unmarshal: %v %+v", err, b)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, tt.sentinel) || verr.Issues[0].Path != tt.path {
				t.Fatalf("Unmarshal: %v (%+v), want %v at %q", err, verr, tt.sentinel, tt.path)
			}
		})
	}
}
