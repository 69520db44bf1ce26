package fhirjson

import (
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator validates FHIR R4 resources. Safe for concurrent use.
// The zero value is usable; it compiles the shared schema on first use.
type Validator struct {
	c *compiled
}

// NewValidator compiles (or reuses the compiled) schema.
func NewValidator() (*Validator, error) {
	c, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	return &Validator{c: c}, nil
}

// Parse parses and validates one resource against the shared schema, as
// (*Validator).Parse does.
func Parse(resource []byte) (*Resource, error) {
	var v Validator
	return v.Parse(resource)
}

// Parse parses one resource (JSON bytes) once and validates it: the input
// limits (MaxResourceSize, MaxDepth, UTF-8, no duplicate keys), the schema
// definition for its resourceType, and the required elements the schema
// cannot express. A rejected resource is a *ValidationError; other errors
// mean the embedded schema did not compile.
func (v *Validator) Parse(resource []byte) (*Resource, error) {
	rt, obj, err := v.parse(resource)
	if err != nil {
		return nil, err
	}
	return &Resource{typ: rt, obj: obj, size: len(resource)}, nil
}

// Validate checks one resource (JSON bytes). It returns the resource type and,
// on failure, *ValidationError. The resource type is returned whenever it
// could be determined, including when the resource is invalid.
func (v *Validator) Validate(resource []byte) (resourceType string, err error) {
	rt, _, err := v.parse(resource)
	return rt, err
}

// parse is Parse without the Resource: the resource type whenever it could be
// determined, and the parsed object if it is valid.
func (v *Validator) parse(resource []byte) (string, map[string]any, error) {
	c, err := v.schema()
	if err != nil {
		return "", nil, err
	}
	obj, verr := parseResource(resource)
	if verr != nil {
		return "", nil, verr
	}
	rt, verr := resourceTypeOf(obj)
	if verr != nil {
		return "", nil, verr
	}
	if err := c.check(rt, obj); err != nil {
		return rt, nil, err
	}
	return rt, obj, nil
}

// schema returns the Validator's compiled schema; the zero Validator uses the
// shared one, compiling it on first use.
func (v *Validator) schema() (*compiled, error) {
	if v != nil && v.c != nil {
		return v.c, nil
	}
	return compiledSchema()
}

// check validates obj, a resource of type rt, against the schema and the
// required elements.
func (c *compiled) check(rt string, obj map[string]any) error {
	sch := c.byType[rt]
	if sch == nil { // cannot happen: byType and IsResourceType share the mapping
		return singleIssue(ErrUnknownResourceType, "", "resourceType", "unknown FHIR R4 resource type")
	}
	var issues []Issue
	if err := sch.Validate(obj); err != nil {
		ve, ok := err.(*jsonschema.ValidationError)
		if !ok {
			return fmt.Errorf("fhir: validate %s: %w", rt, err)
		}
		col := collector{root: rt, doc: obj, c: c}
		col.walk(ve)
		issues = col.issues
	}
	for _, name := range missingRequired(rt, obj) {
		issues = append(issues, Issue{Path: rt + "." + name, Message: "missing required element"})
	}
	if len(issues) == 0 {
		return nil
	}
	return &ValidationError{ResourceType: rt, Issues: tidy(issues), sentinel: ErrSchema}
}

// parseResource applies the input limits and decodes a JSON object.
func parseResource(resource []byte) (map[string]any, *ValidationError) {
	if len(resource) > MaxResourceSize {
		return nil, singleIssue(ErrTooLarge, "", "",
			fmt.Sprintf("resource is %d bytes, larger than the %d byte limit", len(resource), MaxResourceSize))
	}
	v, perr := parseJSON(resource)
	if perr != nil {
		return nil, fromParseError(perr)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, singleIssue(ErrNotObject, "", "", "resource must be a JSON object, got "+jsonTypeName(v))
	}
	return obj, nil
}

func resourceTypeOf(obj map[string]any) (string, *ValidationError) {
	raw, ok := obj["resourceType"]
	if !ok {
		return "", singleIssue(ErrUnknownResourceType, "", "resourceType", "missing resourceType")
	}
	rt, ok := raw.(string)
	if !ok {
		return "", singleIssue(ErrUnknownResourceType, "", "resourceType", "resourceType must be a string, got "+jsonTypeName(raw))
	}
	if !IsResourceType(rt) {
		return "", singleIssue(ErrUnknownResourceType, "", "resourceType", "unknown FHIR R4 resource type")
	}
	return rt, nil
}
