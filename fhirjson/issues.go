package fhirjson

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// maxIssues bounds the number of issues reported for one resource.
const maxIssues = 100

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
		next, index, ok := child(cur, tok)
		switch {
		case !index:
			writeName(&sb, tok)
		case !ok:
			sb.WriteString("[?]")
		default:
			sb.WriteByte('[')
			sb.WriteString(tok)
			sb.WriteByte(']')
		}
		cur = next
	}
	if extra != "" {
		writeName(&sb, extra)
	}
	return sb.String()
}

// at returns the value at an instance location, or nil.
func (c *collector) at(loc []string) any {
	cur := c.doc
	for _, tok := range loc {
		next, _, ok := child(cur, tok)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// child steps from node to its element tok. index reports that node is an
// array (tok is an index); ok that node is a container and, for an array,
// that tok is one of its indexes.
func child(node any, tok string) (v any, index, ok bool) {
	switch n := node.(type) {
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(n) {
			return nil, true, false
		}
		return n[i], true, true
	case map[string]any:
		return n[tok], false, true
	}
	return nil, false, false
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
	case integerError:
		c.add(loc, "", k.msg)
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

// safeName reports whether an object key may be shown in an error path.
// Keys come from untrusted input, so only short identifier-like names (which
// is what every FHIR element name is) are echoed.
func safeName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func writeName(sb *strings.Builder, k string) {
	sb.WriteByte('.')
	if safeName(k) {
		sb.WriteString(k)
	} else {
		sb.WriteString("<invalid-name>")
	}
}
