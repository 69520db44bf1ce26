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

// Validate checks one resource (JSON bytes). It returns the resource type and,
// on failure, *ValidationError. The resource type is returned whenever it
// could be determined, including when the resource is invalid.
func (v *Validator) Validate(resource []byte) (resourceType string, err error) {
	var c *compiled
	if v != nil && v.c != nil {
		c = v.c
	} else {
		c, err = compiledSchema()
		if err != nil {
			return "", err
		}
	}

	obj, verr := parseResource(resource)
	if verr != nil {
		return "", verr
	}
	rt, verr := resourceTypeOf(obj)
	if verr != nil {
		return "", verr
	}
	sch := c.byType[rt]
	if sch == nil { // cannot happen: byType and IsResourceType share the mapping
		return "", singleIssue(ErrUnknownResourceType, "", "resourceType", "unknown FHIR R4 resource type")
	}

	var issues []Issue
	if err := sch.Validate(obj); err != nil {
		ve, ok := err.(*jsonschema.ValidationError)
		if !ok {
			return rt, fmt.Errorf("fhir: validate %s: %w", rt, err)
		}
		col := collector{root: rt, doc: obj, c: c}
		col.walk(ve)
		issues = col.issues
	}
	for _, name := range missingRequired(rt, obj) {
		issues = append(issues, Issue{Path: rt + "." + name, Message: "missing required element"})
	}
	if len(issues) == 0 {
		return rt, nil
	}
	return rt, &ValidationError{ResourceType: rt, Issues: tidy(issues), sentinel: ErrSchema}
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
