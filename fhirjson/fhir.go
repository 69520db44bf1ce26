// Package fhirjson validates FHIR R4 resources (JSON) against the official HL7
// FHIR R4 JSON schema before carechain encrypts and stores them.
//
// The schema (schema/fhir.r4.schema.json, see schema/README.md for its
// provenance) is embedded and compiled once, lazily, on first use. A resource
// is validated against the definition for its own resourceType
// (#/definitions/<ResourceType>) rather than the schema's top-level oneOf
// over all 146 resource types, which is both faster and gives errors about
// the resource actually sent.
//
// The schema file is embedded unmodified. The parsed copy is adjusted in
// memory in two documented ways before compiling, and one check runs after
// the schema:
//
//   - definitions/ResourceList (any resource: contained, Bundle.entry.resource,
//     ...) dispatches on resourceType instead of evaluating a oneOf over all
//     146 resources, which costs 146^depth for nested resources (a denial of
//     service); the two are equivalent (see replaceResourceList);
//   - complex types must be JSON objects (requireObjects): the HL7 schema
//     omits "type": "object", so {"subject": 42} would pass;
//   - top-level required elements that JSON Schema cannot express, such as
//     Observation.status, are checked after the schema (requiredElements).
//
// Input limits for untrusted data apply before any of that: MaxResourceSize,
// MaxDepth, valid UTF-8, no duplicate object keys.
//
// Error messages never contain resource values (resources are health data):
// they name the failing path, the kind of failure, and where relevant what
// the schema allows (enum values, JSON types).
package fhirjson

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

//go:embed schema/fhir.r4.schema.json
var schemaJSON []byte

// schemaURL is the schema's own "id"; the document is registered under it so
// that its internal "#/definitions/..." references resolve without any
// network access.
const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

// maxIssues bounds the number of issues reported for one resource.
const maxIssues = 100

// Validator validates FHIR R4 resources. Safe for concurrent use.
// The zero value is usable; it compiles the shared schema on first use.
type Validator struct {
	c *compiled
}

type compiled struct {
	byType map[string]*jsonschema.Schema
	// primitiveOf maps a schema location below "#/definitions/" whose value
	// is a FHIR primitive (e.g. "Observation/properties/effectiveDateTime")
	// to the primitive's name ("dateTime"), for pattern error messages.
	primitiveOf map[string]string
	compileTime time.Duration
}

// NewValidator compiles (or reuses the compiled) schema.
func NewValidator() (*Validator, error) {
	c, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	return &Validator{c: c}, nil
}

// compiledSchema compiles the embedded schema once per process.
var compiledSchema = sync.OnceValues(func() (*compiled, error) {
	start := time.Now()
	byType, primitiveOf, err := compileSchema(true)
	if err != nil {
		return nil, err
	}
	return &compiled{byType: byType, primitiveOf: primitiveOf, compileTime: time.Since(start)}, nil
})

// compileSchema compiles #/definitions/<Type> for every resource type. With
// supplement set, the parsed schema is first adjusted in memory by
// replaceResourceList and requireObjects; tests compile without them to
// compare with the unmodified schema.
func compileSchema(supplement bool) (map[string]*jsonschema.Schema, map[string]string, error) {
	types, err := resourceTypes()
	if err != nil {
		return nil, nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, nil, fmt.Errorf("fhir: parse embedded schema: %w", err)
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft6)
	if supplement {
		if err := replaceResourceList(doc, types); err != nil {
			return nil, nil, err
		}
		requireObjects(doc)
		comp.RegisterVocabulary(&jsonschema.Vocabulary{
			URL:     "urn:carechain:fhir:resource-dispatch",
			Compile: compileDispatch,
		})
	}
	if err := comp.AddResource(schemaURL, doc); err != nil {
		return nil, nil, fmt.Errorf("fhir: add embedded schema: %w", err)
	}
	byType := make(map[string]*jsonschema.Schema, len(types))
	for t, ref := range types {
		sch, err := comp.Compile(schemaURL + ref)
		if err != nil {
			return nil, nil, fmt.Errorf("fhir: compile schema for %s: %w", t, err)
		}
		byType[t] = sch
	}
	return byType, primitiveLocations(doc), nil
}

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

// primitiveLocations indexes every property (or array item) of every
// definition whose value is a FHIR primitive, so that pattern errors can name
// the primitive type. Primitives are either referenced ("$ref":
// "#/definitions/dateTime") or, for choice elements such as
// Observation.effectiveDateTime, inlined with the primitive's pattern; the
// choice element's name ends with the type name.
func primitiveLocations(doc any) map[string]string {
	out := make(map[string]string)
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	byPattern := make(map[string][]string) // pattern -> primitive names
	var primitives []string                // definitions named in lower camel case
	for name, d := range defs {
		def, _ := d.(map[string]any)
		if pat, ok := def["pattern"].(string); ok {
			byPattern[pat] = append(byPattern[pat], name)
			out[name] = name
		}
		if name != "" && name[0] >= 'a' && name[0] <= 'z' {
			primitives = append(primitives, name)
		}
	}
	primitiveOf := func(prop map[string]any, pname string) string {
		if r, ok := prop["$ref"].(string); ok {
			name, _ := strings.CutPrefix(r, "#/definitions/")
			if stringField(defs[name], "pattern") != "" {
				return name
			}
			return ""
		}
		pat := stringField(prop, "pattern")
		if pat == "" {
			return ""
		}
		cands := byPattern[pat]
		if len(cands) == 0 {
			// The primitive's own definition may lack the pattern (R4's
			// base64Binary): match the choice name against all primitives.
			cands = primitives
		}
		best := ""
		for _, c := range cands {
			if strings.HasSuffix(pname, strings.ToUpper(c[:1])+c[1:]) && len(c) > len(best) {
				best = c
			}
		}
		if best == "" && len(cands) == 1 {
			best = cands[0]
		}
		return best
	}
	for dname, d := range defs {
		def, _ := d.(map[string]any)
		props, _ := def["properties"].(map[string]any)
		for pname, p := range props {
			prop, _ := p.(map[string]any)
			if name := primitiveOf(prop, pname); name != "" {
				out[dname+"/properties/"+pname] = name
			}
			if items, ok := prop["items"].(map[string]any); ok {
				if name := primitiveOf(items, pname); name != "" {
					out[dname+"/properties/"+pname+"/items"] = name
				}
			}
		}
	}
	return out
}

func stringField(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// resourceTypes returns the schema's discriminator mapping (resource type ->
// "#/definitions/<type>"). It reads only the head of the embedded schema,
// where "discriminator" sits, so IsResourceType does not need a compile.
var resourceTypes = sync.OnceValues(func() (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(schemaJSON))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("fhir: embedded schema is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("fhir: read embedded schema: %w", err)
		}
		if t != "discriminator" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("fhir: read embedded schema: %w", err)
			}
			continue
		}
		var d struct {
			PropertyName string            `json:"propertyName"`
			Mapping      map[string]string `json:"mapping"`
		}
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("fhir: read schema discriminator: %w", err)
		}
		if d.PropertyName != "resourceType" || len(d.Mapping) == 0 {
			return nil, fmt.Errorf("fhir: unexpected schema discriminator")
		}
		for t, ref := range d.Mapping {
			if ref != "#/definitions/"+t {
				return nil, fmt.Errorf("fhir: unexpected discriminator mapping for %s", t)
			}
		}
		return d.Mapping, nil
	}
	return nil, fmt.Errorf("fhir: embedded schema has no discriminator")
})

// IsResourceType reports whether t is a FHIR R4 resource type known to the
// schema (its discriminator mapping: 146 types).
func IsResourceType(t string) bool {
	types, err := resourceTypes()
	if err != nil {
		return false
	}
	_, ok := types[t]
	return ok
}

// ValidationError describes why a resource was rejected. It unwraps to one of
// the Err* sentinels (ErrSchema for schema and required-element failures).
type ValidationError struct {
	// ResourceType is the resource's type, or "" if it could not be
	// determined (input not parsed, resourceType missing or unknown).
	ResourceType string
	// Issues lists the failures, sorted by path; at most 100 are kept.
	Issues []Issue

	sentinel error
}

// Issue is one validation failure.
type Issue struct {
	// Path locates the failure in FHIRPath-like form, e.g.
	// "Observation.code.coding[0].system". It is "" when the failure is not
	// tied to an element (e.g. malformed JSON, where Message gives the byte
	// offset).
	Path string
	// Message says what is wrong. It never repeats resource values.
	Message string
}

func (e *ValidationError) Error() string {
	var sb strings.Builder
	if e.ResourceType != "" {
		sb.WriteString("invalid ")
		sb.WriteString(e.ResourceType)
	} else {
		sb.WriteString("invalid FHIR resource")
	}
	const shown = 3
	for i, is := range e.Issues {
		if i == shown {
			fmt.Fprintf(&sb, " (and %d more)", len(e.Issues)-shown)
			break
		}
		if i == 0 {
			sb.WriteString(": ")
		} else {
			sb.WriteString("; ")
		}
		if is.Path != "" {
			sb.WriteString(is.Path)
			sb.WriteString(": ")
		}
		sb.WriteString(is.Message)
	}
	return sb.String()
}

// Unwrap returns the sentinel classifying the failure.
func (e *ValidationError) Unwrap() error {
	if e.sentinel == nil {
		return ErrSchema
	}
	return e.sentinel
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

func singleIssue(sentinel error, rt, path, msg string) *ValidationError {
	return &ValidationError{ResourceType: rt, Issues: []Issue{{Path: path, Message: msg}}, sentinel: sentinel}
}

func fromParseError(e *parseError) *ValidationError {
	if e.kind == ErrMalformedJSON {
		return singleIssue(e.kind, "", "", fmt.Sprintf("malformed JSON at byte offset %d: %s", e.offset, e.reason))
	}
	// Structural errors: the path from the resource root, tokens innermost
	// first. The resource type is not known yet, so the root is "Resource".
	var sb strings.Builder
	sb.WriteString("Resource")
	for i := len(e.rev) - 1; i >= 0; i-- {
		tok := e.rev[i]
		if strings.HasPrefix(tok, "[") {
			sb.WriteString(tok)
		} else {
			writeName(&sb, tok)
		}
	}
	return singleIssue(e.kind, "", sb.String(), e.reason)
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return "unknown"
	}
}

// collector turns a jsonschema error tree into flat Issues.
type collector struct {
	c      *compiled
	root   string
	doc    any
	issues []Issue
}

func (c *collector) add(loc []string, extra, msg string) {
	if len(c.issues) > 4*maxIssues {
		return
	}
	c.issues = append(c.issues, Issue{Path: c.path(loc, extra), Message: msg})
}

// path renders an instance location (JSON pointer tokens) FHIRPath-style,
// walking the document to tell array indexes from object keys. extra, if
// not empty, is one more object key (a missing or unknown property).
func (c *collector) path(loc []string, extra string) string {
	var sb strings.Builder
	sb.WriteString(c.root)
	cur := c.doc
	for _, tok := range loc {
		switch node := cur.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				sb.WriteString("[?]")
				cur = nil
				continue
			}
			sb.WriteByte('[')
			sb.WriteString(tok)
			sb.WriteByte(']')
			cur = node[i]
		case map[string]any:
			writeName(&sb, tok)
			cur = node[tok]
		default:
			writeName(&sb, tok)
			cur = nil
		}
	}
	if extra != "" {
		writeName(&sb, extra)
	}
	return sb.String()
}

func (c *collector) at(loc []string) any {
	cur := c.doc
	for _, tok := range loc {
		switch node := cur.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return nil
			}
			cur = node[i]
		case map[string]any:
			cur = node[tok]
		default:
			return nil
		}
	}
	return cur
}

func (c *collector) walk(e *jsonschema.ValidationError) {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf, *kind.AnyOf:
		if len(e.Causes) == 0 {
			c.add(loc, "", "invalid value")
		}
		for _, cause := range e.Causes {
			c.walk(cause)
		}
	case *kind.OneOf:
		c.oneOf(e, k)
	case unknownResourceType:
		c.add(loc, "resourceType", "missing or unknown resourceType")
	case *kind.Required:
		for _, m := range k.Missing {
			c.add(loc, m, "missing required property")
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			c.add(loc, p, "unknown property")
		}
	case *kind.Type:
		c.add(loc, "", fmt.Sprintf("wrong type: got %s, want %s", k.Got, strings.Join(k.Want, " or ")))
	case *kind.Enum:
		c.add(loc, "", "value must be one of "+displayValues(k.Want))
	case *kind.Const:
		c.add(loc, "", "value must be "+displayValues([]any{k.Want}))
	case *kind.Pattern:
		c.add(loc, "", "invalid "+c.primitiveName(e.SchemaURL)+" value (does not match its FHIR format)")
	case *kind.Format:
		c.add(loc, "", "invalid "+k.Want+" value")
	case *kind.MinLength, *kind.MaxLength, *kind.MinItems, *kind.MaxItems:
		c.add(loc, "", e.ErrorKind.KeywordPath()[0]+" violated")
	default:
		kw := strings.Join(e.ErrorKind.KeywordPath(), "/")
		if kw == "" {
			kw = "schema"
		}
		c.add(loc, "", kw+" constraint failed")
	}
}

// oneOf handles the schema's ResourceList (a oneOf over every resource type,
// used for contained and Bundle.entry.resource etc.): it descends only into
// the branch for the value's own resourceType, like the top level does.
func (c *collector) oneOf(e *jsonschema.ValidationError, k *kind.OneOf) {
	if k.Subschemas != nil {
		c.add(e.InstanceLocation, "", "value matches more than one allowed alternative")
		return
	}
	if obj, ok := c.at(e.InstanceLocation).(map[string]any); ok {
		rt, _ := obj["resourceType"].(string)
		if rt == "" || !IsResourceType(rt) {
			c.add(e.InstanceLocation, "resourceType", "missing or unknown resourceType")
			return
		}
		for _, cause := range e.Causes {
			if ref, ok := cause.ErrorKind.(*kind.Reference); ok && strings.HasSuffix(ref.URL, "/definitions/"+rt) {
				c.walk(cause)
				return
			}
		}
	}
	c.add(e.InstanceLocation, "", "value does not match any allowed alternative")
}

// primitiveName names the FHIR primitive type checked at a schema location
// such as "http://hl7.org/fhir/json-schema/4.0#/definitions/Observation/properties/effectiveDateTime".
func (c *collector) primitiveName(schemaLoc string) string {
	if _, frag, ok := strings.Cut(schemaLoc, "#/definitions/"); ok {
		if name, ok := c.c.primitiveOf[frag]; ok {
			return name
		}
	}
	return "primitive"
}

// displayValues renders schema-provided values (enum/const), never instance
// values.
func displayValues(vals []any) string {
	parts := make([]string, 0, len(vals))
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			parts = append(parts, strconv.Quote(v))
		default:
			b, err := json.Marshal(v)
			if err != nil {
				parts = append(parts, "?")
			} else {
				parts = append(parts, string(b))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// tidy sorts issues by path then message, drops duplicates, and caps them,
// so that error output is deterministic (the schema library visits object
// properties in map order).
func tidy(issues []Issue) []Issue {
	slices.SortFunc(issues, func(a, b Issue) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	issues = slices.Compact(issues)
	if len(issues) > maxIssues {
		issues = append(issues[:maxIssues-1], Issue{Message: "further issues not shown"})
	}
	return issues
}
