package fhirjson

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema/fhir.r4.schema.json
var schemaJSON []byte

// schemaURL is the schema's own "id"; the document is registered under it so
// that its internal "#/definitions/..." references resolve without any
// network access.
const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

// compiled is the embedded schema after compileSchema: one compiled
// definition per resource type, shared by every Validator.
type compiled struct {
	byType map[string]*jsonschema.Schema
	// primitiveOf maps a schema location below "#/definitions/" whose value
	// is a FHIR primitive (e.g. "Observation/properties/effectiveDateTime")
	// to the primitive's name ("dateTime"), for pattern error messages.
	primitiveOf map[string]string
	compileTime time.Duration
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
// replaceResourceList, requireObjects and limitIntegers; tests compile without them to
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
		if err := limitIntegers(doc); err != nil {
			return nil, nil, err
		}
		comp.RegisterVocabulary(&jsonschema.Vocabulary{
			URL:     "urn:carechain:fhir:resource-dispatch",
			Compile: compileDispatch,
		})
		comp.RegisterVocabulary(&jsonschema.Vocabulary{
			URL:     "urn:carechain:fhir:integer-range",
			Compile: compileInteger,
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
