package portal

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// The portal's write forms make FHIR R4 resources from a few fields: the
// resource is built here as JSON and then written through
// records.Service.Put, which validates it against the R4 schema as a FHIR
// create does. Codes are LOINC; units are UCUM, chosen from fixed lists,
// never typed.

const (
	loinc           = "http://loinc.org"
	ucum            = "http://unitsofmeasure.org"
	obsCategorySys  = "http://terminology.hl7.org/CodeSystem/observation-category"
	maxFormText     = 2000 // a note, a symptom or a dosage, in bytes
	maxFormNameText = 200  // a test or medicine name
)

// measure is one kind of measurement a form offers.
type measure struct {
	Key, Label  string
	Code, Name  string // LOINC
	Unit, UCUM  string // the unit for people, its UCUM code
	Min, Max    float64
	Vital       bool // a vital sign (observation-category vital-signs)
	Systolic    bool // blood pressure: two values (systolic, diastolic)
	PatientOnly bool // offered to patients only
}

// measures are the measurements of the portal's forms.
var measures = []measure{
	{Key: "heart-rate", Label: "Heart rate", Code: "8867-4", Name: "Heart rate", Unit: "beats/minute", UCUM: "/min", Min: 1, Max: 400, Vital: true},
	{Key: "blood-pressure", Label: "Blood pressure", Code: "85354-9", Name: "Blood pressure panel", Unit: "mmHg", UCUM: "mm[Hg]", Min: 1, Max: 400, Vital: true, Systolic: true},
	{Key: "body-temperature", Label: "Body temperature", Code: "8310-5", Name: "Body temperature", Unit: "°C", UCUM: "Cel", Min: 20, Max: 45, Vital: true},
	{Key: "body-weight", Label: "Body weight", Code: "29463-7", Name: "Body weight", Unit: "kg", UCUM: "kg", Min: 0.1, Max: 700, Vital: true},
	{Key: "blood-glucose", Label: "Blood glucose", Code: "2339-0", Name: "Glucose [Mass/volume] in Blood", Unit: "mg/dL", UCUM: "mg/dL", Min: 1, Max: 2000, PatientOnly: true},
}

// labUnits are the UCUM units a lab result form offers.
var labUnits = []string{"mg/dL", "mmol/L", "g/dL", "g/L", "%", "U/L", "mEq/L", "10*3/uL", "10*6/uL", "ng/mL", "umol/L"}

func measureOf(key string) (measure, bool) {
	for _, m := range measures {
		if m.Key == key {
			return m, true
		}
	}
	return measure{}, false
}

// formNumber reads field name of f as a number within [lo, hi].
func formNumber(f url.Values, name, label string, lo, hi float64) (float64, error) {
	s := strings.TrimSpace(f.Get(name))
	if s == "" {
		return 0, fmt.Errorf("%s: enter a number", label)
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s: %q is not a number", label, s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s: %s is outside %s to %s", label, formatNumber(n), formatNumber(lo), formatNumber(hi))
	}
	return n, nil
}

// formText reads field name of f, trimmed; required: not empty; at most max bytes.
func formText(f url.Values, name, label string, required bool, max int) (string, error) {
	s := strings.TrimSpace(f.Get(name))
	switch {
	case required && s == "":
		return "", fmt.Errorf("%s: required", label)
	case len(s) > max:
		return "", fmt.Errorf("%s: longer than %d characters", label, max)
	}
	return s, nil
}

type jsonObj = map[string]any

func subjectOf(patient string) jsonObj {
	return jsonObj{"reference": "Patient/" + strings.TrimPrefix(patient, carechain.PatientPrefix)}
}

func coded(system, code, display string) jsonObj {
	return jsonObj{"coding": []jsonObj{{"system": system, "code": code, "display": display}}, "text": display}
}

func quantity(n float64, m measure) jsonObj {
	return jsonObj{"value": n, "unit": m.Unit, "system": ucum, "code": m.UCUM}
}

// measurementResource is an Observation of measurement key for patient at
// now, from the form's value (and for blood pressure, systolic and
// diastolic).
func measurementResource(f url.Values, patient string, now time.Time) ([]byte, string, error) {
	m, ok := measureOf(f.Get("measure"))
	if !ok {
		return nil, "", errors.New("choose what was measured")
	}
	obs := jsonObj{"resourceType": "Observation", "status": "final", "code": coded(loinc, m.Code, m.Name),
		"subject": subjectOf(patient), "effectiveDateTime": now.UTC().Format(time.RFC3339)}
	category := "general"
	if m.Vital {
		obs["category"] = []jsonObj{coded(obsCategorySys, "vital-signs", "Vital Signs")}
		category = "vital-signs"
	}
	if m.Systolic {
		sys, err := formNumber(f, "systolic", "Systolic", m.Min, m.Max)
		if err != nil {
			return nil, "", err
		}
		dia, err := formNumber(f, "diastolic", "Diastolic", m.Min, m.Max)
		if err != nil {
			return nil, "", err
		}
		obs["component"] = []jsonObj{
			{"code": coded(loinc, "8480-6", "Systolic blood pressure"), "valueQuantity": quantity(sys, m)},
			{"code": coded(loinc, "8462-4", "Diastolic blood pressure"), "valueQuantity": quantity(dia, m)}}
	} else {
		n, err := formNumber(f, "value", m.Label, m.Min, m.Max)
		if err != nil {
			return nil, "", err
		}
		obs["valueQuantity"] = quantity(n, m)
	}
	b, err := json.Marshal(obs)
	return b, category, err
}

// symptomResource is a patient's symptom note: an Observation of LOINC
// 75325-1 (Symptom) with the text as its value.
func symptomResource(f url.Values, patient string, now time.Time) ([]byte, error) {
	text, err := formText(f, "text", "Symptom", true, maxFormText)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonObj{"resourceType": "Observation", "status": "final", "code": coded(loinc, "75325-1", "Symptom"),
		"subject": subjectOf(patient), "effectiveDateTime": now.UTC().Format(time.RFC3339), "valueString": text})
}

// labResource is a lab result: a named test (LOINC code optional), its
// value in a UCUM unit from labUnits, and an optional reference range.
func labResource(f url.Values, patient string, now time.Time) ([]byte, error) {
	name, err := formText(f, "test", "Test", true, maxFormNameText)
	if err != nil {
		return nil, err
	}
	code, err := formText(f, "loinc", "LOINC code", false, 16)
	if err != nil {
		return nil, err
	}
	unit := f.Get("unit")
	if !slices.Contains(labUnits, unit) {
		return nil, errors.New("Unit: choose one from the list")
	}
	n, err := formNumber(f, "value", "Value", -1e9, 1e9)
	if err != nil {
		return nil, err
	}
	concept := jsonObj{"text": name}
	if code != "" {
		concept["coding"] = []jsonObj{{"system": loinc, "code": code, "display": name}}
	}
	m := measure{Unit: unit, UCUM: unit}
	obs := jsonObj{"resourceType": "Observation", "status": "final", "category": []jsonObj{coded(obsCategorySys, "laboratory", "Laboratory")},
		"code": concept, "subject": subjectOf(patient), "effectiveDateTime": now.UTC().Format(time.RFC3339), "valueQuantity": quantity(n, m)}
	if f.Get("low") != "" || f.Get("high") != "" {
		lo, err := formNumber(f, "low", "Range low", -1e9, 1e9)
		if err != nil {
			return nil, err
		}
		hi, err := formNumber(f, "high", "Range high", lo, 1e9)
		if err != nil {
			return nil, err
		}
		obs["referenceRange"] = []jsonObj{{"low": quantity(lo, m), "high": quantity(hi, m)}}
	}
	return json.Marshal(obs)
}

// noteResource is a clinical note: a DocumentReference (LOINC 11506-3,
// Progress note) with the text as a text/plain attachment.
func noteResource(f url.Values, patient string, now time.Time) ([]byte, error) {
	title, err := formText(f, "title", "Title", true, maxFormNameText)
	if err != nil {
		return nil, err
	}
	text, err := formText(f, "text", "Note", true, maxFormText)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonObj{"resourceType": "DocumentReference", "status": "current", "type": coded(loinc, "11506-3", "Progress note"),
		"subject": subjectOf(patient), "date": now.UTC().Format(time.RFC3339), "description": title,
		"content": []jsonObj{{"attachment": jsonObj{"contentType": "text/plain; charset=utf-8", "data": base64.StdEncoding.EncodeToString([]byte(text))}}}})
}

// prescriptionResource is a MedicationRequest (an active order) of a
// medicine named in text, with dosage instructions and, optionally, the
// quantity to dispense and the refills allowed (dispenseRequest).
func prescriptionResource(f url.Values, patient string, now time.Time) ([]byte, error) {
	med, err := formText(f, "medication", "Medication", true, maxFormNameText)
	if err != nil {
		return nil, err
	}
	dosage, err := formText(f, "dosage", "Dosage", true, maxFormText)
	if err != nil {
		return nil, err
	}
	rx := jsonObj{"resourceType": "MedicationRequest", "status": "active", "intent": "order",
		"medicationCodeableConcept": jsonObj{"text": med}, "subject": subjectOf(patient),
		"authoredOn": now.UTC().Format(time.RFC3339), "dosageInstruction": []jsonObj{{"text": dosage}}}
	if strings.TrimSpace(f.Get("quantity")) != "" { // the supply a pharmacy may dispense (ledger/dispensing.go)
		q, err := formNumber(f, "quantity", "Quantity", 0.001, 1e6)
		if err != nil {
			return nil, err
		}
		supply := jsonObj{"quantity": jsonObj{"value": q}}
		if strings.TrimSpace(f.Get("refills")) != "" {
			n, err := formNumber(f, "refills", "Refills", 0, 1000)
			if err != nil || n != math.Trunc(n) {
				return nil, cmp.Or(err, errors.New("Refills: a whole number"))
			}
			supply["numberOfRepeatsAllowed"] = int(n)
		}
		rx["dispenseRequest"] = supply
	}
	return json.Marshal(rx)
}

// imagingStudy is one kind of imaging study the imaging report form offers.
type imagingStudy struct{ Code, Name string } // LOINC

// imagingStudies are the studies of the imaging report form.
var imagingStudies = []imagingStudy{
	{"36643-5", "XR Chest 2 Views"},
	{"24627-2", "CT Chest"},
	{"24590-2", "MR Brain"},
}

// radiologyCategory is the DiagnosticReport category of an imaging report
// (HL7 v2 table 0074, diagnostic service section RAD).
var radiologyCategory = coded("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")

// imagingResource is a final imaging report: a DiagnosticReport of a study
// from imagingStudies, with the radiologist's conclusion, of the study
// done on the form's date (default: now, never in the future).
func imagingResource(f url.Values, patient string, now time.Time) ([]byte, error) {
	i := slices.IndexFunc(imagingStudies, func(s imagingStudy) bool { return s.Code == f.Get("study") })
	if i < 0 {
		return nil, errors.New("Study: choose one from the list")
	}
	conclusion, err := formText(f, "conclusion", "Conclusion", true, maxFormText)
	if err != nil {
		return nil, err
	}
	effective := now.UTC().Format(time.RFC3339)
	if d := strings.TrimSpace(f.Get("date")); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil || t.After(now) {
			return nil, fmt.Errorf("Study date: %q is not a date up to today", d)
		}
		effective = d
	}
	st := imagingStudies[i]
	return json.Marshal(jsonObj{"resourceType": "DiagnosticReport", "status": "final", "category": []jsonObj{radiologyCategory},
		"code": coded(loinc, st.Code, st.Name), "subject": subjectOf(patient), "effectiveDateTime": effective,
		"issued": now.UTC().Format(time.RFC3339), "conclusion": conclusion})
}
