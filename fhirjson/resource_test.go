package fhirjson

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParseAgreesWithValidateAndCanonical: Parse accepts what Validate
// accepts, rejects with the same error, and its Canonical is the package's.
func TestParseAgreesWithValidateAndCanonical(t *testing.T) {
	v := newValidator(t)
	inputs := map[string][]byte{
		"heart rate":      []byte(heartRate),
		"1 KiB":           []byte(observation1K),
		"bad status":      mutate(t, heartRate, func(m map[string]any) { m["status"] = "bogus" }),
		"no status":       mutate(t, heartRate, func(m map[string]any) { delete(m, "status") }),
		"unknown type":    []byte(`{"resourceType":"Nope"}`),
		"duplicate key":   []byte(`{"resourceType":"Patient","id":"a","id":"b"}`),
		"malformed":       []byte(`{"resourceType":"Patient"`),
		"not an object":   []byte(`"Patient"`),
		"too large":       padTo(t, MaxResourceSize+1),
		"nested contains": []byte(nestedContained(3, `,"foo":1`)),
	}
	for name, src := range validResources {
		inputs[name] = []byte(src)
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			rt, verr := v.Validate(in)
			for _, parse := range []func([]byte) (*Resource, error){v.Parse, Parse} {
				r, err := parse(in)
				if !reflect.DeepEqual(err, verr) {
					t.Fatalf("Parse error %v, Validate error %v", err, verr)
				}
				if err != nil {
					if r != nil {
						t.Errorf("Parse returned a Resource with error %v", err)
					}
					continue
				}
				if r.Type() != rt {
					t.Errorf("Type() = %q, Validate says %q", r.Type(), rt)
				}
				want, err := Canonical(in)
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Canonical(); !bytes.Equal(got, want) {
					t.Errorf("Resource.Canonical differs from Canonical:\n%s\n%s", got, want)
				}
			}
		})
	}
}

func parseOrFail(t *testing.T, src []byte) *Resource {
	t.Helper()
	r, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func TestResourceAccessors(t *testing.T) {
	tests := []struct {
		name, src, field string
		id, reference    string
		codes            []string
	}{
		{name: "reference", field: "subject", reference: "Patient/example", id: "heart-rate", src: heartRate,
			codes: nil}, // a Reference has no codings
		{name: "array of concepts", field: "category", id: "heart-rate", src: heartRate,
			codes: []string{"vital-signs"}},
		{name: "one concept", field: "code", src: `{"resourceType":"Observation","status":"final",
			"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"},{"display":"no code"},{"code":"LAB"}]}}`,
			codes: []string{"8867-4", "LAB"}},
		{name: "several concepts in order", field: "category", src: `{"resourceType":"Observation","status":"final","code":{"text":"x"},
			"category":[{"coding":[{"code":"laboratory"}]},{"text":"no coding"},{"coding":[{"code":"imaging"},{"code":"RAD"}]}]}`,
			codes: []string{"laboratory", "imaging", "RAD"}},
		{name: "patient reference", field: "patient", reference: "Patient/p1", id: "i1",
			src: `{"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"text":"x"},"occurrenceString":"2020","patient":{"reference":"Patient/p1"}}`},
		{name: "reference without reference string", field: "subject",
			src: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"display":"Amy"}}`},
		{name: "absent element", field: "focus", id: "heart-rate", src: heartRate},
		{name: "primitive element", field: "status", id: "heart-rate", src: heartRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseOrFail(t, []byte(tt.src))
			if got := r.ID(); got != tt.id {
				t.Errorf("ID() = %q, want %q", got, tt.id)
			}
			if got := r.Reference(tt.field); got != tt.reference {
				t.Errorf("Reference(%q) = %q, want %q", tt.field, got, tt.reference)
			}
			if got := r.CodingCodes(tt.field); !slices.Equal(got, tt.codes) {
				t.Errorf("CodingCodes(%q) = %q, want %q", tt.field, got, tt.codes)
			}
		})
	}
}

// TestSetID: SetID accepts exactly the ids the schema accepts, refuses the
// others with the error Parse gives for them, and leaves the resource valid.
func TestSetID(t *testing.T) {
	v := newValidator(t)
	ids := []string{"x", "rec-0123abcd", "A-b.9", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"", "a b", "a/b", "a_b", "caf\u00e9", "a\nb", "../x"}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			r := parseOrFail(t, []byte(heartRate))
			err := r.SetID(id)
			withID := mutate(t, heartRate, func(m map[string]any) { m["id"] = id })
			_, want := v.Validate(withID)
			if !reflect.DeepEqual(err, want) {
				t.Fatalf("SetID(%q) = %v; Parse of the resource with that id: %v", id, err, want)
			}
			if err != nil {
				if r.ID() != "heart-rate" {
					t.Errorf("refused SetID changed the id to %q", r.ID())
				}
				return
			}
			if r.ID() != id {
				t.Errorf("ID() = %q after SetID(%q)", r.ID(), id)
			}
			canonical, _ := Canonical(withID)
			if got := r.Canonical(); !bytes.Equal(got, canonical) {
				t.Errorf("Canonical after SetID:\n%s\nwant\n%s", got, canonical)
			}
		})
	}
}

func TestDropMeta(t *testing.T) {
	r := parseOrFail(t, []byte(heartRate))
	r.DropMeta()
	want, err := Canonical(mutate(t, heartRate, func(m map[string]any) { delete(m, "meta") }))
	if err != nil {
		t.Fatal(err)
	}
	got := r.Canonical()
	if !bytes.Equal(got, want) {
		t.Errorf("Canonical after DropMeta:\n%s\nwant\n%s", got, want)
	}
	if _, err := Parse(got); err != nil {
		t.Errorf("resource without meta is invalid: %v", err)
	}
}

// TestResourceCanonicalIsFresh: callers clear the canonical bytes after
// sealing them; that must not reach the Resource.
func TestResourceCanonicalIsFresh(t *testing.T) {
	r := parseOrFail(t, []byte(heartRate))
	first := r.Canonical()
	want := bytes.Clone(first)
	clear(first)
	if got := r.Canonical(); !bytes.Equal(got, want) {
		t.Errorf("Canonical after clearing an earlier result:\n%s\nwant\n%s", got, want)
	}
}

// TestRewriteReferences: every Reference.reference is rewritten, nested ones
// (contained resources, extensions) included, and nothing else; an error
// from the rewrite is returned.
func TestRewriteReferences(t *testing.T) {
	src := `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"},
	 "subject":{"reference":"Patient/p"},
	 "result":[{"reference":"urn:uuid:1"},{"reference":"urn:uuid:2","display":"urn:uuid:1"}],
	 "extension":[{"url":"http://example.org/x","valueReference":{"reference":"urn:uuid:1"}}],
	 "contained":[{"resourceType":"Observation","id":"c","status":"final","code":{"text":"x"},
	   "subject":{"reference":"urn:uuid:2"}}]}`
	r := parseOrFail(t, []byte(src))
	ids := map[string]string{"urn:uuid:1": "Observation/one", "urn:uuid:2": "Observation/two"}
	err := r.RewriteReferences(func(ref string) (string, error) {
		if id, ok := ids[ref]; ok {
			return id, nil
		}
		return ref, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(`"reference":"urn:uuid:1"`, `"reference":"Observation/one"`, `"reference":"urn:uuid:2"`, `"reference":"Observation/two"`).Replace(src)
	canonical, err := Canonical([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Canonical(); !bytes.Equal(got, canonical) {
		t.Fatalf("rewritten:\n%s\nwant\n%s", got, canonical)
	}
	r = parseOrFail(t, []byte(src))
	if err := r.RewriteReferences(func(string) (string, error) { return "", errTest }); err != errTest {
		t.Fatalf("rewrite error: got %v", err)
	}
}

var errTest = errors.New("test")
