package study

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Case report data are ordinary FHIR resources of the subject's patient,
// sealed like any record, that name the study, the subject and the visit
// inside the resource, in three extensions:
//
//	http://hl7.org/fhir/StructureDefinition/workflow-researchStudy  valueReference ResearchStudy/<study>
//	https://carechain.dev/fhir/StructureDefinition/research-subject valueReference ResearchSubject/<study>.<n>
//	https://carechain.dev/fhir/StructureDefinition/study-visit      valueString <visit>
//
// The first is HL7's own (R4 core extension); the other two are
// carechain's. Extensions rather than meta.tag, because the server owns
// meta and drops what a client sends in it. Being inside the sealed
// resource, they put nothing in plain on the ledger.
const (
	ExtStudy   = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"
	ExtSubject = "https://carechain.dev/fhir/StructureDefinition/research-subject"
	ExtVisit   = "https://carechain.dev/fhir/StructureDefinition/study-visit"
)

// Capture names the study, subject and visit of case report data.
type Capture struct {
	Study   string
	Subject uint64 // the enrolment's number
	Visit   string
}

// SubjectID is the subject's FHIR ResearchSubject id.
func (c Capture) SubjectID() string { return fmt.Sprintf("%s.%d", c.Study, c.Subject) }

// Tag returns resource (a FHIR resource as JSON) carrying c's extensions,
// in place of any it had with their URLs.
func Tag(resource []byte, c Capture) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, fmt.Errorf("not a FHIR resource: %w", err)
	}
	var kept []any
	if exts, ok := obj["extension"].([]any); ok {
		for _, e := range exts {
			if m, ok := e.(map[string]any); !ok || !isCaptureURL(m["url"]) {
				kept = append(kept, e)
			}
		}
	}
	obj["extension"] = append(kept,
		map[string]any{"url": ExtStudy, "valueReference": map[string]any{"reference": "ResearchStudy/" + c.Study}},
		map[string]any{"url": ExtSubject, "valueReference": map[string]any{"reference": "ResearchSubject/" + c.SubjectID()}},
		map[string]any{"url": ExtVisit, "valueString": c.Visit})
	return json.Marshal(obj)
}

func isCaptureURL(u any) bool { return u == ExtStudy || u == ExtSubject || u == ExtVisit }

// CaptureOf reads the study, subject and visit a resource names; false if
// it names none, or not all three consistently.
func CaptureOf(resource []byte) (Capture, bool) {
	var r struct {
		Extension []struct {
			URL            string `json:"url"`
			ValueString    string `json:"valueString"`
			ValueReference struct {
				Reference string `json:"reference"`
			} `json:"valueReference"`
		} `json:"extension"`
	}
	if json.Unmarshal(resource, &r) != nil {
		return Capture{}, false
	}
	var c Capture
	var subject string
	for _, e := range r.Extension {
		switch e.URL {
		case ExtStudy:
			c.Study, _ = strings.CutPrefix(e.ValueReference.Reference, "ResearchStudy/")
		case ExtSubject:
			subject, _ = strings.CutPrefix(e.ValueReference.Reference, "ResearchSubject/")
		case ExtVisit:
			c.Visit = e.ValueString
		}
	}
	n, ok := strings.CutPrefix(subject, c.Study+".")
	if !ok || c.Study == "" || c.Visit == "" {
		return Capture{}, false
	}
	num, err := strconv.ParseUint(n, 10, 64)
	if err != nil || num == 0 {
		return Capture{}, false
	}
	c.Subject = num
	return c, true
}
