package deid

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// deidentifier walks one resource, changing it in place.
type deidentifier struct {
	o    Options
	year int
}

// dropped are elements removed wherever they appear: each is an identifier
// kind of Safe Harbor (or holds one).
var dropped = map[string]bool{
	"identifier": true, "masterIdentifier": true, "accessionIdentifier": true, "telecom": true, "photo": true,
	"serialNumber": true, "lotNumber": true, "udiCarrier": true, "subscriberId": true, "distinctIdentifier": true,
	"valueIdentifier": true, "valueContactPoint": true, "valueHumanName": true,
}

// personTypes are resources that describe a person related to the patient
// (or the patient): their name, contacts, links and birth date go.
var personTypes = []string{"Patient", "RelatedPerson", "Person"}

// structural are elements whose strings are codes or structure, never free
// text: they are kept as they are.
var structural = map[string]bool{
	"resourceType": true, "id": true, "system": true, "code": true, "version": true, "url": true,
	"contentType": true, "language": true, "status": true, "use": true, "unit": true, "gender": true,
	"profile": true, "comparator": true,
}

// keptReferenceTypes are resource types whose references stay: they are
// not the patient's (the organization and people caring for them,
// definitions, medications).
var keptReferenceTypes = []string{"Practitioner", "PractitionerRole", "Organization", "Location", "HealthcareService",
	"Endpoint", "Medication", "Substance", "ResearchStudy", "PlanDefinition", "ActivityDefinition", "Questionnaire",
	"ValueSet", "CodeSystem", "StructureDefinition"}

// resource de-identifies a resource object (the top one or a contained one).
func (d *deidentifier) resource(m map[string]any) {
	typ, _ := m["resourceType"].(string)
	if slices.Contains(personTypes, typ) {
		d.person(m)
	}
	if typ == "DocumentReference" { // an instant, named date
		if s, ok := m["date"].(string); ok {
			m["date"] = d.instant(s)
		}
	}
	d.object(m)
}

// person removes what identifies a person beyond the generic rules.
func (d *deidentifier) person(m map[string]any) {
	for _, k := range []string{"name", "contact", "link"} {
		delete(m, k)
	}
	if s, ok := m["birthDate"].(string); ok {
		if y, err := strconv.Atoi(s[:min(4, len(s))]); err == nil && d.year-y > 89 {
			delete(m, "birthDate")
			m["extension"] = append(asList(m["extension"]), map[string]any{"url": AgeExtension, "valueString": Over89})
		}
	}
}

// AgeExtension marks a person whose birth date was removed because it
// implied an age over 89.
const AgeExtension = "https://carechain.dev/fhir/StructureDefinition/deidentified-age"

// Over89 is what replaces an age over 89.
const Over89 = "90 or older"

// instants are elements of FHIR type instant: a year alone is not valid
// there, so they become the first instant of their year.
var instants = map[string]bool{"issued": true, "effectiveInstant": true, "recorded": true, "lastUpdated": true, "when": true, "timestamp": true, "valueInstant": true}

// object de-identifies every element of m, in place.
func (d *deidentifier) object(m map[string]any) {
	for k, v := range m {
		if dropped[k] {
			delete(m, k)
			continue
		}
		m[k] = d.element(m, k, v)
	}
	if _, ok := m["url"]; ok && !keepsURL(m) {
		delete(m, "url")
	}
	if isAttachment(m) {
		d.attachment(m)
	}
	if d.isAge(m) {
		m["value"], m["comparator"] = json.Number("90"), ">="
	}
	for k, v := range m { // what de-identification emptied is not sent: R4 has no empty elements
		if empty(v) {
			delete(m, k)
		}
	}
}

// element is the de-identified value v of m's element k.
func (d *deidentifier) element(m map[string]any, k string, v any) any {
	s, isString := v.(string)
	switch {
	case k == "contained":
		for _, c := range asList(v) {
			if cm, ok := c.(map[string]any); ok {
				d.resource(cm)
			}
		}
		return v
	case k == "extension" || k == "modifierExtension":
		return d.extensions(asList(v))
	case k == "address" || k == "valueAddress":
		return d.each(v, d.address)
	case k == "reference" && isString:
		if ref := d.reference(s); ref != s {
			delete(m, "display") // the display of a patient's reference names them
			return ref
		}
		return s
	case instants[k] && isString:
		return d.instant(s)
	case k == "div" && isString:
		return d.narrative(s)
	case isString && structural[k], k == "data": // data: an attachment's, handled with it
		return v
	}
	return d.value(v)
}

// keepsURL reports whether m's url is a canonical URL (of an extension or a
// definitional resource) rather than where some data lives (an
// attachment's, a link's), which goes.
func keepsURL(m map[string]any) bool {
	if _, ok := m["resourceType"]; ok {
		return true
	}
	for k := range m {
		if strings.HasPrefix(k, "value") || k == "extension" {
			return true
		}
	}
	return false
}

// isAttachment reports whether m is an Attachment (or a Binary).
func isAttachment(m map[string]any) bool {
	_, ct := m["contentType"]
	_, data := m["data"]
	return ct || data
}

func (d *deidentifier) each(v any, f func(map[string]any)) any {
	eachMap(v, f)
	return v
}

// value de-identifies any JSON value: objects and arrays element by element,
// strings as free text (dates in them to the year).
func (d *deidentifier) value(v any) any {
	switch x := v.(type) {
	case map[string]any:
		d.object(x)
	case []any:
		out := x[:0]
		for _, e := range x {
			e = d.value(e)
			if !empty(e) {
				out = append(out, e)
			}
		}
		return out
	case string:
		if datePattern.MatchString(x) {
			return x[:4]
		}
		return d.text(x)
	}
	return v
}

// datePattern is a FHIR date or dateTime more precise than a year.
var datePattern = regexp.MustCompile(`^\d{4}-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?$`)

func (d *deidentifier) instant(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[:4] + "-01-01T00:00:00Z"
}

// isAge is a Quantity in years (UCUM a) over 89.
func (d *deidentifier) isAge(m map[string]any) bool {
	if m["system"] != "http://unitsofmeasure.org" || m["code"] != "a" {
		return false
	}
	n, ok := m["value"].(json.Number)
	if !ok {
		return false
	}
	f, err := n.Float64()
	return err == nil && f > 89
}

// extensions de-identifies extension values; an extension whose value had to
// go entirely (an identifier, a URL) goes too.
func (d *deidentifier) extensions(list []any) []any {
	out := list[:0]
	for _, e := range list {
		em, ok := e.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range []string{"valueUri", "valueUrl", "valueOid", "valueUuid", "valueCanonical", "valueId", "valueBase64Binary"} {
			delete(em, k)
		}
		d.object(em)
		if hasValue(em) {
			out = append(out, em)
		}
	}
	return out
}

// hasValue reports whether an extension still has a value or sub-extensions.
func hasValue(em map[string]any) bool {
	for k := range em {
		if strings.HasPrefix(k, "value") || k == "extension" {
			return true
		}
	}
	return false
}

// address keeps the state, the country and the first three digits of the
// ZIP code (000 for the restricted ones).
func (d *deidentifier) address(a map[string]any) {
	for k := range a {
		switch k {
		case "state", "country", "use", "type":
		case "postalCode":
			if s, ok := a[k].(string); ok {
				a[k] = zip3(s)
			}
		default:
			delete(a, k)
		}
	}
}

// reference is ref with a reference to the patient's data made
// pseudonymous: Type/pseudonym, relative even when ref was absolute.
func (d *deidentifier) reference(ref string) string {
	if strings.HasPrefix(ref, "#") {
		return ref
	}
	parts := strings.Split(strings.TrimSuffix(ref, "/"), "/")
	if strings.HasPrefix(ref, "urn:") || len(parts) < 2 {
		return Pseudonym(d.o.Key, "urn", ref)
	}
	typ, id := parts[len(parts)-2], parts[len(parts)-1]
	if i := slices.Index(parts, "_history"); i >= 2 {
		typ, id = parts[i-2], parts[i-1]
	}
	if slices.Contains(keptReferenceTypes, typ) {
		return typ + "/" + id
	}
	return typ + "/" + Pseudonym(d.o.Key, typ, id)
}

// attachment handles an Attachment: its URL goes; text/plain data was
// scrubbed as text, anything else (an image: possibly a full-face
// photograph; a PDF: not scrubbable) is dropped.
func (d *deidentifier) attachment(a map[string]any) {
	delete(a, "url")
	delete(a, "hash")
	delete(a, "size")
	data, ok := a["data"].(string)
	if !ok {
		return
	}
	ct, _ := a["contentType"].(string)
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || !strings.HasPrefix(ct, "text/plain") {
		delete(a, "data")
		return
	}
	a["data"] = base64.StdEncoding.EncodeToString([]byte(d.text(string(raw))))
}

func empty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case nil:
		return true
	}
	return false
}
