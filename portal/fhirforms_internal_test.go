package portal

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/fhirjson"
)

// TestFormResourcesAreValidFHIR: every write form makes a resource the R4
// schema accepts, with UCUM units and LOINC codes; bad input is refused
// with the field's name and makes nothing.
func TestFormResourcesAreValidFHIR(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	const patient = "patient/demo-09"
	build := map[string]func(url.Values) ([]byte, error){
		"measure": func(f url.Values) ([]byte, error) { b, _, err := measurementResource(f, patient, now); return b, err },
		"symptom": func(f url.Values) ([]byte, error) { return symptomResource(f, patient, now) },
		"lab":     func(f url.Values) ([]byte, error) { return labResource(f, patient, now) },
		"note":    func(f url.Values) ([]byte, error) { return noteResource(f, patient, now) },
		"rx":      func(f url.Values) ([]byte, error) { return prescriptionResource(f, patient, now) },
		"imaging": func(f url.Values) ([]byte, error) { return imagingResource(f, patient, now) },
	}
	for _, c := range []struct {
		form string
		in   url.Values
		want string // in the JSON, or in the error
		ok   bool
	}{
		{"measure", url.Values{"measure": {"body-weight"}, "value": {"72.5"}}, `"code":"kg"`, true},
		{"measure", url.Values{"measure": {"body-temperature"}, "value": {"38.2"}}, `"code":"Cel"`, true},
		{"measure", url.Values{"measure": {"blood-pressure"}, "systolic": {"128"}, "diastolic": {"84"}}, `"code":"mm[Hg]"`, true},
		{"measure", url.Values{"measure": {"blood-glucose"}, "value": {"110"}}, `"code":"mg/dL"`, true},
		{"measure", url.Values{"measure": {"heart-rate"}, "value": {"abc"}}, "Heart rate", false},
		{"measure", url.Values{"measure": {"heart-rate"}, "value": {"9999"}}, "outside", false},
		{"measure", url.Values{"measure": {"blood-pressure"}, "systolic": {"120"}}, "Diastolic", false},
		{"measure", url.Values{"measure": {"nope"}}, "choose", false},
		{"symptom", url.Values{"text": {"Headache since <b>Tuesday</b>"}}, `"75325-1"`, true},
		{"symptom", url.Values{"text": {"  "}}, "Symptom: required", false},
		{"lab", url.Values{"test": {"HbA1c"}, "loinc": {"4548-4"}, "value": {"6.1"}, "unit": {"%"}, "low": {"4"}, "high": {"5.6"}}, `"referenceRange"`, true},
		{"lab", url.Values{"test": {"HbA1c"}, "value": {"6.1"}, "unit": {"furlongs"}}, "Unit", false},
		{"lab", url.Values{"test": {"HbA1c"}, "value": {"6.1"}, "unit": {"%"}, "low": {"5"}, "high": {"4"}}, "Range high", false},
		{"note", url.Values{"title": {"Follow-up"}, "text": {"Doing well."}}, `"DocumentReference"`, true},
		{"rx", url.Values{"medication": {"Amoxicillin 500 mg"}, "dosage": {"1 capsule 3 times a day for 7 days"}}, `"intent":"order"`, true},
		{"rx", url.Values{"medication": {"Amoxicillin"}}, "Dosage", false},
		{"imaging", url.Values{"study": {"36643-5"}, "conclusion": {"No acute cardiopulmonary process."}}, `"code":"RAD"`, true},
		{"imaging", url.Values{"study": {"24627-2"}, "conclusion": {"Normal."}, "date": {"2026-12-01"}}, `"effectiveDateTime":"2026-12-01"`, true},
		{"imaging", url.Values{"study": {"24590-2"}, "conclusion": {"Normal."}}, `"status":"final"`, true},
		{"imaging", url.Values{"study": {"99999-9"}, "conclusion": {"Normal."}}, "Study", false},
		{"imaging", url.Values{"study": {"36643-5"}, "conclusion": {" "}}, "Conclusion: required", false},
		{"imaging", url.Values{"study": {"36643-5"}, "conclusion": {"Normal."}, "date": {"2027-01-01"}}, "Study date", false},
	} {
		b, err := build[c.form](c.in)
		if !c.ok {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %v: error %v, want one naming %q", c.form, c.in, err, c.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %v: %v", c.form, c.in, err)
		}
		if _, err := fhirjson.Parse(b); err != nil {
			t.Errorf("%s %v: not valid FHIR R4: %v\n%s", c.form, c.in, err, b)
		}
		if !strings.Contains(string(b), c.want) || !strings.Contains(string(b), `"reference":"Patient/demo-09"`) {
			t.Errorf("%s: %s lacks %s or the subject", c.form, b, c.want)
		}
	}
}
