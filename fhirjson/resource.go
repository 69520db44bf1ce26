package fhirjson

import "encoding/json"

// Resource is a FHIR R4 resource that Parse has parsed and validated, so that
// the layers above read and adjust it without parsing the JSON again.
//
// A Resource is only made by Parse: holding one means its JSON was within the
// input limits and valid for its resourceType. The methods that change it
// keep it valid (SetID refuses an id that is not a FHIR id). A Resource is not
// safe for concurrent use.
type Resource struct {
	typ string
	obj map[string]any
	// size is the length of the parsed JSON, a capacity hint for Canonical.
	size int
}

// Type returns the resource's resourceType, e.g. "Observation".
func (r *Resource) Type() string { return r.typ }

// ID returns the resource's logical id, or "" if it has none.
func (r *Resource) ID() string {
	id, _ := r.obj["id"].(string)
	return id
}

// SetID sets the resource's logical id (the server assigns ids). An id that
// is not a FHIR id (1 to 64 letters, digits, '-' and '.') is refused with a
// *ValidationError, the one Parse would give for it, and r is unchanged.
func (r *Resource) SetID(id string) error {
	if !isFHIRID(id) {
		return singleIssue(ErrSchema, r.typ, r.typ+".id", "invalid id value (does not match its FHIR format)")
	}
	r.obj["id"] = id
	return nil
}

// DropMeta removes meta: the server owns meta (versionId, lastUpdated) and
// writes its own when it serves the resource.
func (r *Resource) DropMeta() { delete(r.obj, "meta") }

// Canonical returns the resource's canonical encoding, the bytes Canonical
// gives for it. Each call returns a new slice, which the caller may clear.
func (r *Resource) Canonical() []byte {
	return appendCanonical(make([]byte, 0, r.size), r.obj)
}

// Reference returns the reference string of the top-level Reference element
// field, such as "subject" or "patient" ("Patient/123"), or "" if the element
// is absent, not an object, or has no reference.
func (r *Resource) Reference(field string) string {
	ref, _ := r.obj[field].(map[string]any)
	s, _ := ref["reference"].(string)
	return s
}

// ArrayReferences returns, in document order, the reference string of the
// Reference element named element in each object of the top-level array
// field, such as Appointment.participant[].actor; objects without one are
// skipped.
func (r *Resource) ArrayReferences(field, element string) []string {
	items, _ := r.obj[field].([]any)
	var refs []string
	for _, it := range items {
		obj, _ := it.(map[string]any)
		ref, _ := obj[element].(map[string]any)
		if s, ok := ref["reference"].(string); ok && s != "" {
			refs = append(refs, s)
		}
	}
	return refs
}

// ReferenceList returns, in document order, the reference strings of the
// top-level array of References field, such as Appointment.slot; items
// without one are skipped.
func (r *Resource) ReferenceList(field string) []string {
	items, _ := r.obj[field].([]any)
	var refs []string
	for _, it := range items {
		ref, _ := it.(map[string]any)
		if s, ok := ref["reference"].(string); ok && s != "" {
			refs = append(refs, s)
		}
	}
	return refs
}

// Number returns the number at path, a chain of object elements from the
// top (MedicationRequest "dispenseRequest", "quantity", "value"), as its
// JSON literal; false if there is none.
func (r *Resource) Number(path ...string) (json.Number, bool) {
	var v any = r.obj
	for _, el := range path {
		obj, _ := v.(map[string]any)
		v = obj[el]
	}
	n, ok := v.(json.Number)
	return n, ok
}

// Code returns the top-level primitive element field as a string, such as
// an Appointment's status, or "" if it is absent or not a string.
func (r *Resource) Code(field string) string {
	s, _ := r.obj[field].(string)
	return s
}

// CodingCodes returns, in document order, the code of every coding of the
// top-level CodeableConcept field, or of every CodeableConcept in it if it
// is an array (Observation.category). Codings without a code are skipped.
func (r *Resource) CodingCodes(field string) []string {
	var concepts []any
	switch v := r.obj[field].(type) {
	case map[string]any:
		concepts = []any{v}
	case []any:
		concepts = v
	}
	var codes []string
	for _, c := range concepts {
		concept, _ := c.(map[string]any)
		codings, _ := concept["coding"].([]any)
		for _, cd := range codings {
			coding, _ := cd.(map[string]any)
			if code, ok := coding["code"].(string); ok {
				codes = append(codes, code)
			}
		}
	}
	return codes
}

// isFHIRID reports whether id matches the R4 id type: 1 to 64 of A-Z, a-z,
// 0-9, '-' and '.' (the schema's definitions/id pattern; TestSetID checks
// that the two agree).
func isFHIRID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// RewriteReferences replaces every Reference.reference string of the
// resource, at any depth (in contained resources and extensions too), with
// what rewrite returns for it, and stops at rewrite's first error. A
// transaction uses it to turn the urn:uuid references between its entries
// into the ids it assigns. rewrite must return a valid reference string: the
// resource stays valid because a reference is any string.
func (r *Resource) RewriteReferences(rewrite func(ref string) (string, error)) error {
	return rewriteReferences(r.obj, rewrite)
}

func rewriteReferences(v any, rewrite func(string) (string, error)) error {
	switch v := v.(type) {
	case map[string]any:
		for k, el := range v {
			if s, ok := el.(string); ok && k == "reference" {
				out, err := rewrite(s)
				if err != nil {
					return err
				}
				v[k] = out
				continue
			}
			if err := rewriteReferences(el, rewrite); err != nil {
				return err
			}
		}
	case []any:
		for _, el := range v {
			if err := rewriteReferences(el, rewrite); err != nil {
				return err
			}
		}
	}
	return nil
}
