package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Valid R4 resources (shapes follow the R4 examples on hl7.org/fhir/R4).
var validResources = map[string]string{
	"Patient": `{
		"resourceType": "Patient",
		"id": "example",
		"meta": {"versionId": "1", "lastUpdated": "2024-01-02T10:00:00Z"},
		"identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
		"active": true,
		"name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
		"telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}],
		"gender": "male",
		"birthDate": "1974-12-25",
		"deceasedBoolean": false,
		"address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}]
	}`,
	"Observation": heartRate,
	"DiagnosticReport": `{
		"resourceType": "DiagnosticReport",
		"id": "cbc",
		"status": "final",
		"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "HM"}]}],
		"code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel - Blood by Automated count"}]},
		"subject": {"reference": "Patient/example"},
		"effectiveDateTime": "2024-03-01T08:30:00+01:00",
		"issued": "2024-03-01T12:00:00.000+01:00",
		"result": [{"reference": "Observation/hgb"}, {"reference": "Observation/wbc"}],
		"conclusion": "Within normal limits"
	}`,
	"MedicationRequest": `{
		"resourceType": "MedicationRequest",
		"id": "medrx0302",
		"status": "active",
		"intent": "order",
		"medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG Oral Tablet"}]},
		"subject": {"reference": "Patient/example"},
		"authoredOn": "2024-01-15",
		"requester": {"reference": "Practitioner/f007"},
		"dosageInstruction": [{
			"sequence": 1,
			"text": "one tablet daily",
			"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
			"route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]},
			"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code": "TAB"}}]
		}],
		"dispenseRequest": {"numberOfRepeatsAllowed": 3, "quantity": {"value": 30, "unit": "tablet"}}
	}`,
	"AllergyIntolerance": `{
		"resourceType": "AllergyIntolerance",
		"id": "example",
		"clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
		"verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
		"type": "allergy",
		"category": ["food"],
		"criticality": "high",
		"code": {"coding": [{"system": "http://snomed.info/sct", "code": "227493005", "display": "Cashew nuts"}]},
		"patient": {"reference": "Patient/example"},
		"onsetDateTime": "2004",
		"recordedDate": "2014-10-09T14:58:00+11:00",
		"reaction": [{
			"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "39579001", "display": "Anaphylactic reaction"}]}],
			"severity": "severe"
		}]
	}`,
	"Condition": `{
		"resourceType": "Condition",
		"id": "example",
		"clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
		"verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
		"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
		"severity": {"coding": [{"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}]},
		"code": {"coding": [{"system": "http://snomed.info/sct", "code": "39065001", "display": "Burn of ear"}], "text": "Burnt Ear"},
		"bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "49521004"}]}],
		"subject": {"reference": "Patient/example"},
		"onsetDateTime": "2012-05-24"
	}`,
	"Immunization": `{
		"resourceType": "Immunization",
		"id": "example",
		"status": "completed",
		"vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}], "text": "Influenza, seasonal, injectable"},
		"patient": {"reference": "Patient/example"},
		"occurrenceDateTime": "2013-01-10",
		"primarySource": true,
		"lotNumber": "AAJN11K",
		"expirationDate": "2015-02-15",
		"site": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActSite", "code": "LA", "display": "left arm"}]},
		"doseQuantity": {"value": 5, "system": "http://unitsofmeasure.org", "code": "mg"},
		"performer": [{"actor": {"reference": "Practitioner/example"}}]
	}`,
	"Encounter": `{
		"resourceType": "Encounter",
		"id": "home",
		"status": "finished",
		"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH", "display": "home health"},
		"subject": {"reference": "Patient/example"},
		"participant": [{"period": {"start": "2015-01-17T16:00:00+10:00", "end": "2015-01-17T16:30:00+10:00"}, "individual": {"reference": "Practitioner/example"}}],
		"period": {"start": "2015-01-17T16:00:00+10:00", "end": "2015-01-17T16:30:00+10:00"},
		"reasonCode": [{"text": "follow-up visit"}]
	}`,
}

// heartRate is a vital-signs heart rate Observation.
const heartRate = `{
	"resourceType": "Observation",
	"id": "heart-rate",
	"meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
	"status": "final",
	"category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}], "text": "Vital Signs"}],
	"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}], "text": "Heart rate"},
	"subject": {"reference": "Patient/example"},
	"effectiveDateTime": "1999-07-02",
	"valueQuantity": {"value": 44, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
}`

func newValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

func TestValidResources(t *testing.T) {
	v := newValidator(t)
	for _, want := range []string{"Patient", "Observation", "DiagnosticReport", "MedicationRequest",
		"AllergyIntolerance", "Condition", "Immunization", "Encounter"} {
		t.Run(want, func(t *testing.T) {
			src, ok := validResources[want]
			if !ok {
				t.Fatalf("no fixture for %s", want)
			}
			got, err := v.Validate([]byte(src))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got != want {
				t.Fatalf("resource type = %q, want %q", got, want)
			}
		})
	}
}

// mutate parses a fixture, applies f, and re-encodes it.
func mutate(t *testing.T, src string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInvalidResources(t *testing.T) {
	v := newValidator(t)
	tooLarge := append([]byte(`{"resourceType":"Patient","id":"x","text":{"status":"generated","div":"`),
		bytes.Repeat([]byte("a"), MaxResourceSize)...)
	tooLarge = append(tooLarge, `"}}`...)
	deep := `{"resourceType":"Patient","extension":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`

	tests := []struct {
		name     string
		input    []byte
		kind     error
		rt       string // expected ResourceType in the error and return value
		path     string // an issue with exactly this path must exist
		msg      string // ... and its message must contain this
		errorStr string // Error() must contain this
	}{
		{
			name: "Observation missing status",
			input: mutate(t, heartRate, func(m map[string]any) {
				delete(m, "status")
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.status", msg: "missing required element",
			errorStr: "invalid Observation: Observation.status: missing required element",
		},
		{
			name: "Observation status bogus",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["status"] = "bogus"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.status",
			msg:      `value must be one of "registered", "preliminary", "final"`,
			errorStr: "invalid Observation: Observation.status: value must be one of",
		},
		{
			name: "Observation valueQuantity.value as string",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["valueQuantity"].(map[string]any)["value"] = "44"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.valueQuantity.value",
			msg: "wrong type: got string, want number",
		},
		{
			name: "unknown top-level property",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["foo"] = "bar"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.foo", msg: "unknown property",
			errorStr: "Observation.foo: unknown property",
		},
		{
			name: "Observation missing code (schema-required)",
			input: mutate(t, heartRate, func(m map[string]any) {
				delete(m, "code")
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.code", msg: "missing required property",
		},
		{
			name: "bad uri in nested coding",
			input: mutate(t, heartRate, func(m map[string]any) {
				coding := m["code"].(map[string]any)["coding"].([]any)
				coding[0].(map[string]any)["system"] = "http://loinc org"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.code.coding[0].system", msg: "invalid uri value",
		},
		{
			name: "bad dateTime",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["effectiveDateTime"] = "02/07/1999"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.effectiveDateTime", msg: "invalid dateTime value",
		},
		{
			name: "empty string in array item",
			input: mutate(t, validResources["Patient"], func(m map[string]any) {
				m["name"].([]any)[0].(map[string]any)["given"] = []any{"Peter", ""}
			}),
			kind: ErrSchema, rt: "Patient", path: "Patient.name[0].given[1]", msg: "invalid string value",
		},
		{
			name: "bad code in category array",
			input: mutate(t, validResources["AllergyIntolerance"], func(m map[string]any) {
				m["category"] = []any{"food", "plants"}
			}),
			kind: ErrSchema, rt: "AllergyIntolerance", path: "AllergyIntolerance.category[1]", msg: `value must be one of "food", "medication", "environment", "biologic"`,
		},
		{
			name: "complex element as a string",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["code"] = "8867-4"
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.code", msg: "wrong type: got string, want object",
		},
		{
			name: "reference as a number",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["subject"] = 42
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.subject", msg: "wrong type: got number, want object",
		},
		{
			name: "array item of complex type as a string",
			input: mutate(t, validResources["Patient"], func(m map[string]any) {
				m["name"] = []any{"Peter Chalmers"}
			}),
			kind: ErrSchema, rt: "Patient", path: "Patient.name[0]", msg: "wrong type: got string, want object",
		},
		{
			name: "contained resource with unknown type",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["contained"] = []any{map[string]any{"resourceType": "Nope", "id": "p1"}}
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.contained[0].resourceType", msg: "missing or unknown resourceType",
		},
		{
			name: "contained resource not an object",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["contained"] = []any{"Patient"}
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.contained[0]", msg: "wrong type: got string, want object",
		},
		{
			name: "invalid contained resource",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["contained"] = []any{map[string]any{"resourceType": "Patient", "id": "p1", "foo": true}}
			}),
			kind: ErrSchema, rt: "Observation", path: "Observation.contained[0].foo", msg: "unknown property",
		},
		{
			name: "MedicationRequest missing medication[x]",
			input: mutate(t, validResources["MedicationRequest"], func(m map[string]any) {
				delete(m, "medicationCodeableConcept")
			}),
			kind: ErrSchema, rt: "MedicationRequest", path: "MedicationRequest.medication[x]", msg: "missing required element",
		},
		{
			name:  "unknown resourceType",
			input: []byte(`{"resourceType":"Observaton","status":"final"}`),
			kind:  ErrUnknownResourceType, path: "resourceType", msg: "unknown FHIR R4 resource type",
		},
		{
			name:  "STU3-only resourceType",
			input: []byte(`{"resourceType":"ProcedureRequest"}`),
			kind:  ErrUnknownResourceType, path: "resourceType", msg: "unknown FHIR R4 resource type",
		},
		{
			name:  "missing resourceType",
			input: []byte(`{"status":"final"}`),
			kind:  ErrUnknownResourceType, path: "resourceType", msg: "missing resourceType",
		},
		{
			name:  "resourceType not a string",
			input: []byte(`{"resourceType":7}`),
			kind:  ErrUnknownResourceType, path: "resourceType", msg: "must be a string, got number",
		},
		{
			name:  "not JSON",
			input: []byte(`resourceType: Patient`),
			kind:  ErrMalformedJSON, path: "", msg: "malformed JSON at byte offset 0",
		},
		{
			name:  "truncated JSON",
			input: []byte(`{"resourceType":"Patient"`),
			kind:  ErrMalformedJSON, path: "", msg: "unexpected end of input",
		},
		{
			name:  "trailing data",
			input: []byte(`{"resourceType":"Patient"} {}`),
			kind:  ErrMalformedJSON, path: "", msg: "unexpected data after top-level value",
		},
		{
			name:  "invalid UTF-8",
			input: []byte("{\"resourceType\":\"Patient\",\"id\":\"\xff\"}"),
			kind:  ErrMalformedJSON, path: "", msg: "invalid UTF-8",
		},
		{
			name:  "JSON array",
			input: []byte(`[` + heartRate + `]`),
			kind:  ErrNotObject, path: "", msg: "must be a JSON object, got array",
		},
		{
			name:  "JSON string",
			input: []byte(`"Patient"`),
			kind:  ErrNotObject, path: "", msg: "got string",
		},
		{
			name:  "too large",
			input: tooLarge,
			kind:  ErrTooLarge, path: "", msg: fmt.Sprintf("larger than the %d byte limit", MaxResourceSize),
		},
		{
			name:  "duplicate key",
			input: []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"status":"bogus"}`),
			kind:  ErrDuplicateKey, path: "Resource.status", msg: "duplicate object key",
		},
		{
			name:  "duplicate key nested, equal after unescaping",
			input: []byte(`{"resourceType":"Patient","name":[{"family":"a","f\u0061mily":"b"}]}`),
			kind:  ErrDuplicateKey, path: "Resource.name[0].family", msg: "duplicate object key",
		},
		{
			name:  "too deep",
			input: []byte(deep),
			kind:  ErrTooDeep, path: "Resource.extension" + strings.Repeat("[0]", MaxDepth-1), msg: "nesting deeper than 64 levels",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := v.Validate(tc.input)
			if err == nil {
				t.Fatalf("Validate accepted invalid input")
			}
			if rt != tc.rt {
				t.Errorf("returned resource type %q, want %q", rt, tc.rt)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T (%v) is not *ValidationError", err, err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("errors.Is(err, %v) = false; err = %v", tc.kind, err)
			}
			if ve.ResourceType != tc.rt {
				t.Errorf("ValidationError.ResourceType = %q, want %q", ve.ResourceType, tc.rt)
			}
			found := false
			for _, is := range ve.Issues {
				if is.Path == tc.path && strings.Contains(is.Message, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no issue at path %q containing %q; issues: %+v", tc.path, tc.msg, ve.Issues)
			}
			if tc.errorStr != "" && !strings.Contains(err.Error(), tc.errorStr) {
				t.Errorf("Error() = %q, want it to contain %q", err.Error(), tc.errorStr)
			}
			if tc.path != "" && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Error() = %q does not name path %q", err.Error(), tc.path)
			}
		})
	}
}

// TestExactIssues pins the complete issue list for a few failures, so that
// spurious extra issues (e.g. from oneOf branches) are caught.
func TestExactIssues(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name  string
		input []byte
		want  []Issue
	}{
		{
			name: "bogus status",
			input: mutate(t, heartRate, func(m map[string]any) {
				m["status"] = "bogus"
			}),
			want: []Issue{{Path: "Observation.status", Message: `value must be one of "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"`}},
		},
		{
			name: "three problems",
			input: mutate(t, heartRate, func(m map[string]any) {
				delete(m, "status")
				m["foo"] = 1
				m["valueQuantity"].(map[string]any)["value"] = "44"
			}),
			want: []Issue{
				{Path: "Observation.foo", Message: "unknown property"},
				{Path: "Observation.status", Message: "missing required element"},
				{Path: "Observation.valueQuantity.value", Message: "wrong type: got string, want number"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(tc.input)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			if !reflect.DeepEqual(ve.Issues, tc.want) {
				t.Fatalf("issues:\n got %+v\nwant %+v", ve.Issues, tc.want)
			}
		})
	}
}

func TestRequiredElementAlternatives(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name string
		src  []byte
	}{
		{"status only as _status extension", mutate(t, heartRate, func(m map[string]any) {
			delete(m, "status")
			m["_status"] = map[string]any{"extension": []any{map[string]any{
				"url":       "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
				"valueCode": "unknown",
			}}}
		})},
		{"medication as Reference", mutate(t, validResources["MedicationRequest"], func(m map[string]any) {
			delete(m, "medicationCodeableConcept")
			m["medicationReference"] = map[string]any{"reference": "Medication/med0301"}
		})},
		{"occurrence as string", mutate(t, validResources["Immunization"], func(m map[string]any) {
			delete(m, "occurrenceDateTime")
			m["occurrenceString"] = "last spring"
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Validate(tc.src); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestErrorsDoNotEchoValues plants a marker in many invalid values and keys
// and checks it never reaches an error message.
func TestErrorsDoNotEchoValues(t *testing.T) {
	v := newValidator(t)
	const secret = "SECRET-diagnosis-42"
	inputs := [][]byte{
		mutate(t, heartRate, func(m map[string]any) {
			m["status"] = secret
			m["effectiveDateTime"] = secret
			m["issued"] = secret
			m["valueQuantity"].(map[string]any)["value"] = secret
			m["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["system"] = secret + " x"
			m["subject"] = secret
			m["id"] = secret + "!"
			m["note"] = []any{map[string]any{"text": ""}, secret}
			m[secret+" key"] = secret
		}),
		mutate(t, validResources["Patient"], func(m map[string]any) {
			m["birthDate"] = secret
			m["gender"] = secret
			m["contained"] = []any{map[string]any{"resourceType": secret}, map[string]any{"resourceType": "Patient", "gender": secret}}
		}),
		[]byte(`{"resourceType":"` + secret + `"}`),
		[]byte(`{"resourceType":"Patient","id":"` + secret + `",}`),
		[]byte(`{"resourceType":"Patient","` + secret + `":1,"` + secret + `":2}`),
		[]byte(secret),
	}
	for i, in := range inputs {
		_, err := v.Validate(in)
		if err == nil {
			t.Fatalf("input %d accepted", i)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(fmt.Sprintf("%+v", err), "SECRET") {
			t.Errorf("input %d: error echoes a value: %v", i, err)
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, is := range ve.Issues {
				if strings.Contains(is.Path+is.Message, "SECRET") {
					t.Errorf("input %d: issue echoes a value: %+v", i, is)
				}
			}
		}
	}
}

func TestIsResourceType(t *testing.T) {
	for _, tc := range []struct {
		t    string
		want bool
	}{
		{"Observation", true},
		{"Patient", true},
		{"MedicinalProduct", true}, // R4-only
		{"ServiceRequest", true},   // new in R4
		{"observation", false},
		{"ProcedureRequest", false}, // STU3, removed in R4
		{"Citation", false},         // R4B/R5
		{"Resource", false},         // abstract
		{"DomainResource", false},   // abstract
		{"", false},
	} {
		if got := IsResourceType(tc.t); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tc.t, got, tc.want)
		}
	}
	types, err := resourceTypes()
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != 146 {
		t.Errorf("schema maps %d resource types, want 146 (FHIR R4)", len(types))
	}
}

// TestSchemaIsR4 checks the embedded schema's identity and R4 content.
func TestSchemaIsR4(t *testing.T) {
	var s struct {
		Schema      string `json:"$schema"`
		ID          string `json:"id"`
		Definitions map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != "http://json-schema.org/draft-06/schema#" || s.ID != "http://hl7.org/fhir/json-schema/4.0" {
		t.Fatalf("$schema=%q id=%q, want draft-06 and the FHIR 4.0 schema id", s.Schema, s.ID)
	}
	obs := s.Definitions["Observation"].Properties
	for _, p := range []string{"focus", "partOf", "hasMember", "derivedFrom", "valueQuantity", "encounter"} {
		if _, ok := obs[p]; !ok {
			t.Errorf("Observation.%s missing: not an R4 schema", p)
		}
	}
	if _, ok := obs["context"]; ok {
		t.Errorf("Observation.context present: STU3 schema")
	}

	// Every requiredElements entry names a real element that the schema does
	// not already require.
	for rt, names := range requiredElements {
		def, ok := s.Definitions[rt]
		if !ok || !IsResourceType(rt) {
			t.Errorf("requiredElements: %s is not a resource type", rt)
			continue
		}
		for _, n := range names {
			if strings.HasSuffix(n, "[x]") {
				if !elementPresent(toAny(def.Properties), n) {
					t.Errorf("requiredElements: %s.%s has no variants in the schema", rt, n)
				}
				continue
			}
			if _, ok := def.Properties[n]; !ok {
				t.Errorf("requiredElements: %s.%s not in the schema", rt, n)
			}
			for _, r := range def.Required {
				if r == n {
					t.Errorf("requiredElements: %s.%s already required by the schema", rt, n)
				}
			}
		}
	}
}

func toAny(m map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestCanonical(t *testing.T) {
	a := `{"resourceType":"Observation","status":"final","code":{"text":"Heart rate","coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":44.50,"unit":"beats/minute"},"note":[{"text":"caf\u00e9 \"quoted\"\nline"}]}`
	b := `
	{
	  "valueQuantity" : { "unit" : "beats/minute", "value" : 44.50 },
	  "note": [ { "text": "café \"quoted\"\u000aline" } ],
	  "code": { "coding": [ { "code": "8867-4", "system": "http://loinc.org" } ], "text": "Heart rate" },
	  "status": "final",
	  "resourceType": "Observation"
	}`
	want := `{"code":{"coding":[{"code":"8867-4","system":"http://loinc.org"}],"text":"Heart rate"},"note":[{"text":"café \"quoted\"\nline"}],"resourceType":"Observation","status":"final","valueQuantity":{"unit":"beats/minute","value":44.50}}`

	ca, err := Canonical([]byte(a))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Canonical([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(ca) != want {
		t.Errorf("Canonical(a) =\n%s\nwant\n%s", ca, want)
	}
	if !bytes.Equal(ca, cb) {
		t.Errorf("Canonical differs under reordering/whitespace:\n%s\n%s", ca, cb)
	}
	again, err := Canonical(ca)
	if err != nil || !bytes.Equal(again, ca) {
		t.Errorf("Canonical is not idempotent: %s (%v)", again, err)
	}
	// Decimal precision is significant in FHIR and must survive.
	c1, _ := Canonical([]byte(`{"resourceType":"Observation","valueQuantity":{"value":1.50}}`))
	c2, _ := Canonical([]byte(`{"resourceType":"Observation","valueQuantity":{"value":1.5}}`))
	if bytes.Equal(c1, c2) {
		t.Errorf("Canonical lost decimal precision: %s", c1)
	}
	// The canonical form is still a valid resource with the same meaning.
	v := newValidator(t)
	cr, err := Canonical([]byte(heartRate))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(cr); err != nil {
		t.Errorf("canonical heart rate invalid: %v", err)
	}
	if !jsonEqual(t, cr, []byte(heartRate)) {
		t.Errorf("canonical form changed the content")
	}
	// Input limits apply.
	for _, bad := range []string{`[1]`, `{"a":1,"a":2}`, `{"a":`, "{\"a\":\"\xc3\"}"} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%q) succeeded", bad)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestConcurrentValidate(t *testing.T) {
	v := newValidator(t)
	bad := mutate(t, heartRate, func(m map[string]any) { m["status"] = "bogus" })
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := v.Validate([]byte(heartRate)); err != nil {
					errs <- err
					return
				}
				if _, err := v.Validate(bad); err == nil {
					errs <- errors.New("bogus status accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestZeroValidator(t *testing.T) {
	var v Validator
	if rt, err := v.Validate([]byte(heartRate)); err != nil || rt != "Observation" {
		t.Fatalf("zero Validator: %q, %v", rt, err)
	}
}

// TestCompileTime reports the one-time schema compile cost.
func TestCompileTime(t *testing.T) {
	c, err := compiledSchema()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.byType) != 146 {
		t.Errorf("compiled %d resource schemas, want 146", len(c.byType))
	}
	t.Logf("one-time schema compile (embedded %d-byte schema, %d resource types): %v",
		len(schemaJSON), len(c.byType), c.compileTime)
}

// observation1K is a heart-rate Observation padded with realistic optional
// elements to about 1 KiB.
const observation1K = `{"resourceType":"Observation","id":"heart-rate-0001","meta":{"versionId":"3","lastUpdated":"2024-05-01T09:30:00.000Z","profile":["http://hl7.org/fhir/StructureDefinition/vitalsigns","http://hl7.org/fhir/StructureDefinition/heartrate"]},"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}],"text":"Vital Signs"}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"subject":{"reference":"Patient/example","display":"Amy Shaw"},"encounter":{"reference":"Encounter/home"},"effectiveDateTime":"2024-05-01T09:15:00+02:00","issued":"2024-05-01T09:20:00.000+02:00","performer":[{"reference":"Practitioner/example"}],"valueQuantity":{"value":72,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}]}]}`

func TestObservation1K(t *testing.T) {
	if n := len(observation1K); n < 900 || n > 1200 {
		t.Errorf("benchmark Observation is %d bytes, want about 1 KiB", n)
	}
	if _, err := newValidator(t).Validate([]byte(observation1K)); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkValidateObservation(b *testing.B) {
	v := newValidator(b)
	c, _ := compiledSchema()
	data := []byte(observation1K)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Validate(data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(c.compileTime.Milliseconds()), "compile-ms")
}

func BenchmarkCanonicalObservation(b *testing.B) {
	data := []byte(observation1K)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Canonical(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPrimitiveLocations checks that every pattern in the schema (inline or
// via a primitive definition) can be named in error messages.
func TestPrimitiveLocations(t *testing.T) {
	c, err := compiledSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Definitions map[string]struct {
			Pattern    string                    `json:"pattern"`
			Properties map[string]map[string]any `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Observation/properties/effectiveDateTime": "dateTime",
		"Observation/properties/status":            "", // enum, no pattern
		"Observation/properties/valueString":       "string",
		"Extension/properties/valueMarkdown":       "markdown",
		"Extension/properties/valueCanonical":      "canonical",
		"Extension/properties/valueUrl":            "url",
		"Coding/properties/system":                 "uri",
		"HumanName/properties/given/items":         "string",
		"Patient/properties/birthDate":             "date",
	}
	for loc, name := range want {
		if got := c.primitiveOf[loc]; got != name {
			t.Errorf("primitiveOf[%q] = %q, want %q", loc, got, name)
		}
	}
	for dname, def := range s.Definitions {
		for pname, prop := range def.Properties {
			if _, ok := prop["pattern"]; ok && c.primitiveOf[dname+"/properties/"+pname] == "" {
				t.Errorf("inline pattern at %s.%s has no primitive name", dname, pname)
			}
		}
	}
}

// nestedContained returns a Patient whose "contained" nests depth Patients,
// the innermost carrying inner's extra members.
func nestedContained(depth int, inner string) string {
	s := `{"resourceType":"Patient","id":"p0"` + inner + `}`
	for i := 0; i < depth; i++ {
		s = `{"resourceType":"Patient","id":"p` + fmt.Sprint(i+1) + `","contained":[` + s + `]}`
	}
	return s
}

// TestResourceListLinear guards against the schema's ResourceList oneOf cost
// (146^depth with nested contained resources): validation must stay linear.
func TestResourceListLinear(t *testing.T) {
	v := newValidator(t)
	const depth = 30 // 61 levels of JSON nesting, inside MaxDepth
	start := time.Now()
	if _, err := v.Validate([]byte(nestedContained(depth, ""))); err != nil {
		t.Fatalf("nested contained: %v", err)
	}
	_, err := v.Validate([]byte(nestedContained(depth, `,"foo":1`)))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	wantPath := "Patient" + strings.Repeat(".contained[0]", depth) + ".foo"
	if len(ve.Issues) != 1 || ve.Issues[0].Path != wantPath || ve.Issues[0].Message != "unknown property" {
		t.Fatalf("issues = %+v, want one unknown property at %s", ve.Issues, wantPath)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("nested contained depth %d took %v", depth, d)
	}

	// A Bundle of one-KiB Observations, as many as MaxResourceSize allows
	// (about 1000).
	entry := func(i int) string {
		return `{"fullUrl":"urn:uuid:00000000-0000-0000-0000-` + fmt.Sprintf("%012d", i) + `","resource":` + observation1K + `}`
	}
	entries := make([]string, (MaxResourceSize-100)/(len(entry(0))+1))
	for i := range entries {
		entries[i] = entry(i)
	}
	bundle := []byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`)
	start = time.Now()
	if _, err := v.Validate(bundle); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	d := time.Since(start)
	t.Logf("Bundle of %d entries (%d bytes) validated in %v", len(entries), len(bundle), d)
	if d > 10*time.Second {
		t.Fatalf("bundle validation took %v", d)
	}
}

// TestResourceListDispatchEquivalent compares the dispatch that replaces
// ResourceList's oneOf with the unmodified schema on the same inputs.
func TestResourceListDispatchEquivalent(t *testing.T) {
	orig, err := unmodifiedSchema()
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t)
	obs := strings.TrimSuffix(strings.TrimSpace(heartRate), "}")
	inputs := map[string]string{
		"valid contained":         obs + `,"contained":[{"resourceType":"Patient","id":"p"}]}`,
		"two contained":           obs + `,"contained":[{"resourceType":"Patient","id":"p"},{"resourceType":"Practitioner","id":"d"}]}`,
		"contained unknown prop":  obs + `,"contained":[{"resourceType":"Patient","foo":1}]}`,
		"contained unknown type":  obs + `,"contained":[{"resourceType":"Nope"}]}`,
		"contained no type":       obs + `,"contained":[{"id":"p"}]}`,
		"contained type number":   obs + `,"contained":[{"resourceType":1}]}`,
		"contained string":        obs + `,"contained":["Patient"]}`,
		"contained null":          obs + `,"contained":[null]}`,
		"contained array":         obs + `,"contained":[[]]}`,
		"contained bad status":    obs + `,"contained":[{"resourceType":"Observation","status":"x","code":{}}]}`,
		"contained missing code":  obs + `,"contained":[{"resourceType":"Observation"}]}`,
		"nested contained":        nestedContained(2, ""),
		"nested contained bad":    nestedContained(2, `,"gender":"x"`),
		"bundle entry":            `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"}}]}`,
		"bundle entry bad":        `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","active":"yes"}}]}`,
		"bundle entry no type":    `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{}}]}`,
		"bundle response outcome": `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"200","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}}}]}`,
		"parameters resource":     `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","birthDate":"not a date"}}]}`,
	}
	verdicts := map[bool]int{}
	for name, in := range inputs {
		doc, perr := parseJSON([]byte(in))
		if perr != nil {
			t.Fatalf("%s: %v", name, perr)
		}
		rt := doc.(map[string]any)["resourceType"].(string)
		origValid := orig[rt].Validate(doc) == nil
		verdicts[origValid]++
		_, err := v.Validate([]byte(in))
		var ve *ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("%s: %v", name, err)
		}
		// Only compare the schema verdict, not the extra required-element check.
		schemaValid := err == nil
		if ve != nil {
			schemaValid = true
			for _, is := range ve.Issues {
				if is.Message != "missing required element" {
					schemaValid = false
				}
			}
		}
		if schemaValid != origValid {
			t.Errorf("%s: dispatch valid=%v, original oneOf valid=%v (%v)", name, schemaValid, origValid, err)
		}
	}
	if verdicts[true] < 5 || verdicts[false] < 5 {
		t.Errorf("inputs not diverse: %v valid/invalid under the original schema", verdicts)
	}
}

// unmodifiedSchema compiles the embedded schema without the package's
// supplements, once per test binary.
var unmodifiedSchema = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	byType, _, err := compileSchema(false)
	return byType, err
})

// TestUnmodifiedSchemaGaps pins the gaps of the unmodified HL7 schema that
// the package's supplements close, so the supplements' rationale stays true.
func TestUnmodifiedSchemaGaps(t *testing.T) {
	orig, err := unmodifiedSchema()
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t)
	for name, in := range map[string]string{
		"Observation without status": `{"resourceType":"Observation","code":{"text":"x"}}`,
		"code as a string":           `{"resourceType":"Observation","status":"final","code":"abc"}`,
		"subject as a number":        `{"resourceType":"Observation","status":"final","code":{},"subject":42}`,
		"HumanName as a string":      `{"resourceType":"Patient","name":["x"]}`,
	} {
		doc, perr := parseJSON([]byte(in))
		if perr != nil {
			t.Fatal(perr)
		}
		rt := doc.(map[string]any)["resourceType"].(string)
		if err := orig[rt].Validate(doc); err != nil {
			t.Errorf("%s: unmodified schema now rejects it (%v); revisit the supplement", name, err)
		}
		if _, err := v.Validate([]byte(in)); err == nil {
			t.Errorf("%s: accepted by Validate", name)
		}
	}
}
