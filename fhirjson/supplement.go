package fhirjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

// The in-memory adjustments compileSchema makes to the parsed HL7 schema
// (see the package comment): ResourceList dispatches on resourceType,
// complex types must be objects, and integers must be whole and in range.

// dispatchKeyword replaces, in the compiled (in-memory) copy of the schema,
// the "oneOf" of definitions/ResourceList. The file itself is unchanged.
const dispatchKeyword = "x-carechain-resource-dispatch"

// replaceResourceList rewrites definitions/ResourceList, the schema's
// "any resource" type used by DomainResource.contained, Bundle.entry.resource,
// Bundle.entry.response.outcome and Parameters.parameter.resource.
//
// In the schema it is a oneOf over all 146 resource definitions. Evaluating
// it validates the value against every definition, and each definition
// evaluates its own "contained" through ResourceList again, so the cost is
// 146^depth: a Patient nested three deep in "contained" took seconds, four
// deep minutes — a denial of service from a few hundred bytes. A flat Bundle
// cost ~2 ms per entry.
//
// The rewrite validates the value against the one definition named by its
// resourceType instead. That is equivalent, which this function checks rather
// than assumes: the oneOf must list exactly the discriminator's types, and
// every definition must require "resourceType" with "const" equal to its own
// type, so at most one branch can ever match — the one named by resourceType.
// (A non-object value matches every branch and so fails the oneOf; dispatch
// rejects it too.)
func replaceResourceList(doc any, types map[string]string) error {
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	rl, _ := defs["ResourceList"].(map[string]any)
	branches, _ := rl["oneOf"].([]any)
	if len(rl) != 1 || len(branches) != len(types) {
		return fmt.Errorf("fhir: unexpected definitions/ResourceList in schema")
	}
	seen := make(map[string]bool, len(types))
	for _, b := range branches {
		bm, _ := b.(map[string]any)
		ref, _ := bm["$ref"].(string)
		t, _ := strings.CutPrefix(ref, "#/definitions/")
		if len(bm) != 1 || types[t] != ref || seen[t] {
			return fmt.Errorf("fhir: unexpected ResourceList branch %q", ref)
		}
		seen[t] = true
		def, _ := defs[t].(map[string]any)
		props, _ := def["properties"].(map[string]any)
		rtProp, _ := props["resourceType"].(map[string]any)
		required, _ := def["required"].([]any)
		if c, _ := rtProp["const"].(string); c != t || !slices.Contains(required, any("resourceType")) {
			return fmt.Errorf("fhir: definition %s does not pin resourceType", t)
		}
	}
	list := make([]any, 0, len(types))
	for t := range types {
		list = append(list, t)
	}
	defs["ResourceList"] = map[string]any{dispatchKeyword: list}
	return nil
}

// requireObjects adds "type": "object" to every definition that has
// "properties" (resources, complex datatypes, backbone elements).
//
// The HL7 schema leaves the type out, so JSON Schema applies "properties",
// "required" and "additionalProperties" only when the value happens to be an
// object and accepts anything else: {"code": "abc"} or {"subject": 42}
// passes as an Observation. FHIR JSON represents every complex element as an
// object, so this only rejects documents that are not FHIR JSON.
func requireObjects(doc any) {
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	for _, d := range defs {
		def, _ := d.(map[string]any)
		if _, ok := def["properties"]; ok {
			if _, typed := def["type"]; !typed {
				def["type"] = "object"
			}
		}
	}
}

// compileDispatch compiles dispatchKeyword (see replaceResourceList).
func compileDispatch(ctx *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	list, ok := obj[dispatchKeyword].([]any)
	if !ok {
		return nil, nil
	}
	d := &resourceDispatch{byType: make(map[string]*jsonschema.Schema, len(list))}
	for _, v := range list {
		t, _ := v.(string)
		sch, err := ctx.EnqueueRef("#/definitions/" + t)
		if err != nil {
			return nil, err
		}
		d.byType[t] = sch
	}
	return d, nil
}

type resourceDispatch struct {
	byType map[string]*jsonschema.Schema
}

func (d *resourceDispatch) Validate(ctx *jsonschema.ValidatorContext, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		ctx.AddError(&kind.Type{Got: jsonTypeName(v), Want: []string{"object"}})
		return
	}
	rt, _ := obj["resourceType"].(string)
	sch := d.byType[rt]
	if sch == nil {
		ctx.AddError(unknownResourceType{})
		return
	}
	if err := ctx.Validate(sch, v, nil); err != nil {
		ctx.AddErr(err)
	}
}

// unknownResourceType is the error kind for a contained/entry resource whose
// resourceType is missing or unknown.
type unknownResourceType struct{}

func (unknownResourceType) KeywordPath() []string { return []string{dispatchKeyword} }

func (unknownResourceType) LocalizedString(*message.Printer) string {
	return "missing or unknown resourceType"
}

// integerKeyword marks, in the compiled copy of the schema, the definitions of
// FHIR's integer primitives; its value is the primitive's name.
const integerKeyword = "x-carechain-integer"

// integerMin is the least value of each FHIR R4 integer primitive. All three
// are 32-bit: at most math.MaxInt32 (R4 datatypes).
var integerMin = map[string]int64{"integer": math.MinInt32, "unsignedInt": 0, "positiveInt": 1}

// limitIntegers adds integerKeyword to definitions integer, unsignedInt and
// positiveInt, and to the copies of them the schema inlines for choice
// elements (Observation.valueInteger): every number schema with one of their
// patterns.
//
// The HL7 schema gives them "type": "number" and a pattern, but JSON Schema
// applies a pattern to strings only: 1.5, 1e3 and 99999999999 passed as a
// FHIR integer, and 0 as a positiveInt. (JSON Schema's own "minimum" is not
// used: it converts the value to a big.Rat, which for 1e999999999 is a
// denial of service in itself.)
func limitIntegers(doc any) error {
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	byPattern := make(map[string]string, len(integerMin))
	for name := range integerMin {
		def, _ := defs[name].(map[string]any)
		pattern, _ := def["pattern"].(string)
		if def["type"] != "number" || pattern == "" {
			return fmt.Errorf("fhir: unexpected definitions/%s in schema", name)
		}
		byPattern[pattern] = name
	}
	var mark func(v any)
	mark = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if pattern, _ := v["pattern"].(string); v["type"] == "number" && byPattern[pattern] != "" {
				v[integerKeyword] = byPattern[pattern]
			}
			for _, e := range v {
				mark(e)
			}
		case []any:
			for _, e := range v {
				mark(e)
			}
		}
	}
	mark(doc)
	return nil
}

// compileInteger compiles integerKeyword (see limitIntegers).
func compileInteger(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	name, ok := obj[integerKeyword].(string)
	if !ok {
		return nil, nil
	}
	return integerRange{name: name, min: integerMin[name]}, nil
}

// integerRange checks a FHIR integer primitive: its literal is a whole
// number (no fraction or exponent, as the primitive's pattern says) from min
// to math.MaxInt32.
type integerRange struct {
	name string
	min  int64
}

func (r integerRange) Validate(ctx *jsonschema.ValidatorContext, v any) {
	n, ok := v.(json.Number)
	if !ok {
		return // not a number: the "type" keyword reports it
	}
	i, err := strconv.ParseInt(string(n), 10, 32)
	if err == nil && i >= r.min {
		return
	}
	msg := fmt.Sprintf("invalid %s value: a whole number from %d to %d", r.name, r.min, math.MaxInt32)
	if errors.Is(err, strconv.ErrSyntax) {
		msg = fmt.Sprintf("invalid %s value: a whole number without fraction or exponent", r.name)
	}
	ctx.AddError(integerError{msg: msg})
}

// integerError is the error kind of integerRange. Its message names the
// primitive and its range, never the value.
type integerError struct{ msg string }

func (integerError) KeywordPath() []string { return []string{integerKeyword} }

func (e integerError) LocalizedString(*message.Printer) string { return e.msg }
