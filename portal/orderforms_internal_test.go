package portal

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// TestOrderResourcesAreValidFHIR: the order form's ServiceRequest, a lab's
// Observation and DiagnosticReport, a radiologist's report and a dispense
// are valid R4, carry what the ledger's order and dispensing rules read
// (performer, basedOn, authorizingPrescription, quantity, the supply), and
// bad input is refused naming the field.
func TestOrderResourcesAreValidFHIR(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	const patient = "patient/demo-12"
	orgs := []string{"northlab", "city-general"}
	hba1c, _ := orderableOf("lab:4548-4")
	xray, _ := orderableOf("imaging:36643-5")
	build := map[string]func(url.Values) ([]byte, error){
		"order": func(f url.Values) ([]byte, error) {
			o, err := readOrderForm(f, orgs)
			if err != nil {
				return nil, err
			}
			return serviceRequestResource(o, patient, "Dr. Mei Chen", "North Lab", now)
		},
		"lab-obs": func(f url.Values) ([]byte, error) {
			obs, _, err := labReportResources(f, patient, "rec-order", "rec-obs", hba1c, now)
			return obs, err
		},
		"lab-report": func(f url.Values) ([]byte, error) {
			_, dr, err := labReportResources(f, patient, "rec-order", "rec-obs", hba1c, now)
			return dr, err
		},
		"rad":      func(f url.Values) ([]byte, error) { return radiologyReportResource(f, patient, "rec-order", xray, now) },
		"dispense": func(f url.Values) ([]byte, error) { return dispenseResource(f, patient, "rec-rx", nil, now) },
		"rx":       func(f url.Values) ([]byte, error) { return prescriptionResource(f, patient, now) },
	}
	for _, c := range []struct {
		form string
		in   url.Values
		want []string // in the JSON, or one in the error
		ok   bool
	}{
		{"order", url.Values{"what": {"lab:4548-4"}, "performer": {"northlab"}, "reason": {"Diabetes"}, "names": {"Observation/demo-12-glucose"}},
			[]string{`"reference":"Organization/northlab"`, `"code":"108252007"`, `"supportingInfo":[{"reference":"Observation/demo-12-glucose"}]`, `"status":"active"`}, true},
		{"order", url.Values{"what": {"imaging:36643-5"}, "performer": {"city-general"}, "reason": {"Cough"}}, []string{`"code":"363679005"`, `"code":"36643-5"`}, true},
		{"order", url.Values{"what": {"lab:0000-0"}, "performer": {"northlab"}, "reason": {"x"}}, []string{"Test or procedure"}, false},
		{"order", url.Values{"what": {"lab:4548-4"}, "performer": {"st-mary"}, "reason": {"x"}}, []string{"To:"}, false},
		{"order", url.Values{"what": {"lab:4548-4"}, "performer": {"northlab"}}, []string{"Reason: required"}, false},
		{"order", url.Values{"what": {"lab:4548-4"}, "performer": {"northlab"}, "reason": {"x"}, "names": {"Observation/a/b"}}, []string{"Records"}, false},
		{"lab-obs", url.Values{"value": {"7.2"}, "unit": {"%"}, "low": {"4"}, "high": {"5.6"}}, []string{`"basedOn":[{"reference":"ServiceRequest/rec-order"}]`, `"code":"4548-4"`}, true},
		{"lab-report", url.Values{"value": {"7.2"}, "unit": {"%"}, "conclusion": {"High."}},
			[]string{`"result":[{"reference":"Observation/rec-obs"}]`, `"code":"LAB"`, `"basedOn":[{"reference":"ServiceRequest/rec-order"}]`}, true},
		{"lab-obs", url.Values{"value": {"x"}, "unit": {"%"}}, []string{"Value"}, false},
		{"rad", url.Values{"conclusion": {"Clear."}}, []string{`"code":"RAD"`, `"basedOn":[{"reference":"ServiceRequest/rec-order"}]`}, true},
		{"rad", url.Values{}, []string{"Conclusion: required"}, false},
		{"dispense", url.Values{"quantity": {"20"}}, []string{`"authorizingPrescription":[{"reference":"MedicationRequest/rec-rx"}]`, `"quantity":{"value":20}`}, true},
		{"dispense", url.Values{"quantity": {"0"}}, []string{"Quantity"}, false},
		{"rx", url.Values{"medication": {"Amoxicillin"}, "dosage": {"tid"}, "quantity": {"20"}, "refills": {"1"}},
			[]string{`"dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":20}}`}, true},
		{"rx", url.Values{"medication": {"Amoxicillin"}, "dosage": {"tid"}, "quantity": {"20"}, "refills": {"1.5"}}, []string{"Refills"}, false},
	} {
		b, err := build[c.form](c.in)
		if !c.ok {
			if err == nil || !strings.Contains(err.Error(), c.want[0]) {
				t.Errorf("%s %v: error %v, want one naming %q", c.form, c.in, err, c.want[0])
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %v: %v", c.form, c.in, err)
		}
		if _, err := fhirjson.Parse(b); err != nil {
			t.Errorf("%s %v: not valid FHIR R4: %v\n%s", c.form, c.in, err, b)
		}
		for _, w := range append(c.want, `"reference":"Patient/demo-12"`) {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s lacks %s", c.form, b, w)
			}
		}
	}
}

// TestWorkPagesByRole: each work page is for its roles only.
func TestWorkPagesByRole(t *testing.T) {
	pr := func(roles ...carechain.Role) *carechain.Principal {
		return &carechain.Principal{Kind: carechain.KindPractitioner, Roles: roles}
	}
	for _, c := range []struct {
		who  *carechain.Principal
		want []string
	}{
		{pr(carechain.RolePhysician), []string{"orders"}},
		{pr(carechain.RoleLabTechnician), []string{"lab"}},
		{pr(carechain.RoleSpecialist, carechain.RoleRadiologist), []string{"orders", "radiology"}},
		{pr(carechain.RolePharmacist), []string{"pharmacy"}},
		{pr(carechain.RoleRegistrationClerk), nil},
		{&carechain.Principal{Kind: carechain.KindPatient}, nil},
		{nil, nil},
	} {
		var got []string
		for _, page := range []string{"orders", "lab", "radiology", "pharmacy"} {
			if mayUse(page, c.who) {
				got = append(got, page)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v may use %v, want %v", c.who, got, c.want)
		}
	}
}
