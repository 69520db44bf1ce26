package fhirrest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// labOrder is a lab ServiceRequest of patient p to performer, for reason
// (a record id, or none).
func labOrder(id, status, performer, reason string) []byte {
	idPart, reasonPart := "", ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	if reason != "" {
		reasonPart = `,"reasonReference":[{"reference":"Condition/` + reason + `"}]`
	}
	return []byte(`{"resourceType":"ServiceRequest",` + idPart + `"status":"` + status + `","intent":"order","subject":{"reference":"Patient/p"},
	  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"108252007","display":"Laboratory procedure"}]}],
	  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c"}]},
	  "performer":[{"reference":"Organization/` + performer + `"}]` + reasonPart + `}`)
}

// labResult is a lab Observation of patient p based on order (or on none).
func labResult(order string) []byte {
	based := ""
	if order != "" {
		based = `"basedOn":[{"reference":"ServiceRequest/` + order + `"}],`
	}
	return []byte(`{"resourceType":"Observation","status":"final",` + based + `
	  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
	  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c"}]},
	  "subject":{"reference":"Patient/p"},"valueQuantity":{"value":6.1,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`)
}

// TestOrderGivesItsPerformerAccess: a physician of hospital A orders a lab
// test of hospital B's lab, naming the diagnosis it is for. While the order
// is open hospital B reads the order and the diagnosis, as far as its role
// policy lets each of its staff (nothing else of the patient: 404, as for
// any record a caller may not read), and its lab technician writes results
// based on the order (nothing else); the patient sees the order's grant
// among their consents. Completing the
// order revokes the grant, rotates the keys the lab held only through it,
// and refuses a further result with 409; the lab still reads the result it
// wrote. An order to a lab the patient's order rule excludes is a 403
// naming the rule.
func TestOrderGivesItsPerformerAccess(t *testing.T) {
	e := setup(t)
	dr := e.token("hosp-a/dr-a")
	lab := e.registerStaff("hosp-b", "hosp-b/lab", carechain.RoleLabTechnician)
	r := e.do("POST", "/fhir/Condition", dr, []byte(`{"resourceType":"Condition","subject":{"reference":"Patient/p"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes mellitus type 2"}]}}`))
	if r.status != 201 {
		t.Fatalf("diagnosis: %d %s", r.status, r.rawBody)
	}
	diagnosis := r.body["id"].(string)
	other := e.createGlucose(dr, 99)
	if r := e.do("GET", "/fhir/Condition/"+diagnosis, lab, nil); r.status != 404 {
		t.Fatalf("the lab reads the diagnosis before any order: %d %s", r.status, r.rawBody)
	}

	r = e.do("POST", "/fhir/ServiceRequest", dr, labOrder("", "active", "hosp-b", diagnosis))
	if r.status != 201 {
		t.Fatalf("order: %d %s", r.status, r.rawBody)
	}
	order := r.body["id"].(string)
	// The grant is to hospital B; its role policy still decides which of
	// its staff read what: a lab technician reads lab records only.
	drB := e.token("hosp-b/dr-b")
	for _, c := range []struct {
		who, path string
		want      int
	}{
		{lab, "/fhir/ServiceRequest/" + order, 200}, {drB, "/fhir/Condition/" + diagnosis, 200},
		{lab, "/fhir/Condition/" + diagnosis, 404}, {drB, "/fhir/Observation/" + other, 404},
	} {
		if r := e.do("GET", c.path, c.who, nil); r.status != c.want {
			t.Errorf("hospital B reads %s while the order is open: %d, want %d: %s", c.path, r.status, c.want, r.rawBody)
		}
	}
	if r := e.do("POST", "/fhir/Observation", lab, labResult("")); r.status != 403 {
		t.Errorf("a lab result based on no order: %d, want 403: %s", r.status, r.rawBody)
	}
	r = e.do("POST", "/fhir/Observation", lab, labResult(order))
	if r.status != 201 {
		t.Fatalf("the lab's result: %d %s", r.status, r.rawBody)
	}
	result := r.body["id"].(string)
	if r := e.do("GET", "/fhir/Observation/"+result, dr, nil); r.status != 200 {
		t.Errorf("the ordering physician reads the lab's result: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Consent?patient=Patient/p", e.patientToken(), nil); r.status != 200 ||
		!strings.Contains(string(r.rawBody), "Organization/hosp-b") || !strings.Contains(string(r.rawBody), `"ServiceRequest/`+order+`"`) ||
		!strings.Contains(string(r.rawBody), `"Condition/`+diagnosis+`"`) {
		t.Errorf("the patient's consents do not show the order's grant, its order and the diagnosis: %d %s", r.status, r.rawBody)
	}

	general, _ := e.n.App().Latest().Epoch("patient/p", "general")
	if r := e.do("PUT", "/fhir/ServiceRequest/"+order, dr, labOrder(order, "completed", "hosp-b", diagnosis)); r.status != 200 {
		t.Fatalf("complete the order: %d %s", r.status, r.rawBody)
	}
	after, _ := e.n.App().Latest().Epoch("patient/p", "general")
	if after.Epoch != general.Epoch+1 || slices.Contains(after.Readers, "hosp-b") {
		t.Errorf("closing the order left the keys of general with the lab: epoch %d → %d, readers %v", general.Epoch, after.Epoch, after.Readers)
	}
	for _, c := range []struct {
		who, path string
		want      int
	}{{lab, "/fhir/ServiceRequest/" + order, 404}, {drB, "/fhir/Condition/" + diagnosis, 404}, {lab, "/fhir/Observation/" + result, 200}} {
		if r := e.do("GET", c.path, c.who, nil); r.status != c.want {
			t.Errorf("hospital B reads %s once the order is completed: %d, want %d: %s", c.path, r.status, c.want, r.rawBody)
		}
	}
	r = e.do("POST", "/fhir/Observation", lab, labResult(order))
	r.outcome(t, 409, "is closed")
	if r := e.do("PUT", "/fhir/ServiceRequest/"+order, dr, labOrder(order, "active", "hosp-b", "")); r.status != 409 {
		t.Errorf("reopening a completed order: %d, want 409: %s", r.status, r.rawBody)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	patient := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	if err := e.svc.SetOrderRule(ctx, patient, "patient/p", consent.OrderRule{Allow: consent.OrdersToExcept, Orgs: []string{"hosp-b"}}); err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/fhir/ServiceRequest", dr, labOrder("", "active", "hosp-b", ""))
	r.outcome(t, 403, "order rule of patient/p")
	if err := e.svc.SetOrderRule(ctx, patient, "", consent.OrderRule{Allow: consent.OrdersToOnly, Orgs: []string{"hosp-b"}}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/fhir/ServiceRequest", dr, labOrder("", "active", "hosp-b", "")); r.status != 201 {
		t.Errorf("an order the rule admits again: %d %s", r.status, r.rawBody)
	}
	if err := e.svc.SetOrderRule(ctx, records.Signer{ID: "hosp-a/dr-a", Key: e.keys["hosp-a/dr-a"]}, "patient/p", consent.OrderRule{Allow: consent.OrdersToAll}); err == nil {
		t.Error("a physician set the patient's order rule")
	}
}

// TestReferralToOnePractitioner: a referral (a ServiceRequest whose
// performer is a practitioner of another hospital) gives that specialist,
// not their colleagues, read of the referral and the diagnosis it names,
// and lets them write their findings based on it, until it is completed.
func TestReferralToOnePractitioner(t *testing.T) {
	e := setup(t)
	dr := e.token("hosp-a/dr-a")
	e.cust.Add("hosp-b/dr-b", e.keys["hosp-b/dr-b"]) // this node writes for the specialist too
	specialist := e.token("hosp-b/dr-b")
	colleague := e.registerStaff("hosp-b", "hosp-b/dr-c", carechain.RolePhysician)
	r := e.do("POST", "/fhir/Condition", dr, []byte(`{"resourceType":"Condition","subject":{"reference":"Patient/p"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"49436004","display":"Atrial fibrillation"}]}}`))
	if r.status != 201 {
		t.Fatalf("diagnosis: %d %s", r.status, r.rawBody)
	}
	diagnosis := r.body["id"].(string)
	referral := func(id, status string) []byte {
		idPart := ""
		if id != "" {
			idPart = `"id":"` + id + `",`
		}
		return []byte(`{"resourceType":"ServiceRequest",` + idPart + `"status":"` + status + `","intent":"order","subject":{"reference":"Patient/p"},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"3457005","display":"Patient referral"}]},
		  "performer":[{"reference":"Practitioner/hosp-b.dr-b"}],"reasonReference":[{"reference":"Condition/` + diagnosis + `"}]}`)
	}
	r = e.do("POST", "/fhir/ServiceRequest", dr, referral("", "active"))
	if r.status != 201 {
		t.Fatalf("referral: %d %s", r.status, r.rawBody)
	}
	ref := r.body["id"].(string)
	findings := []byte(`{"resourceType":"Observation","status":"final","basedOn":[{"reference":"ServiceRequest/` + ref + `"}],
	  "code":{"text":"Cardiology consultation findings"},"subject":{"reference":"Patient/p"},"valueString":"rate control advised"}`)
	for _, c := range []struct {
		who, method, path string
		body              []byte
		want              int
	}{
		{specialist, "GET", "/fhir/Condition/" + diagnosis, nil, 200},
		{colleague, "GET", "/fhir/Condition/" + diagnosis, nil, 404},
		{colleague, "POST", "/fhir/Observation", findings, 403},
		{specialist, "POST", "/fhir/Observation", findings, 201},
	} {
		if r := e.do(c.method, c.path, c.who, c.body); r.status != c.want {
			t.Errorf("%s %s during the referral: %d, want %d: %s", c.method, c.path, r.status, c.want, r.rawBody)
		}
	}
	if r := e.do("PUT", "/fhir/ServiceRequest/"+ref, dr, referral(ref, "completed")); r.status != 200 {
		t.Fatalf("complete the referral: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Condition/"+diagnosis, specialist, nil); r.status != 404 {
		t.Errorf("the specialist reads the diagnosis after the referral: %d %s", r.status, r.rawBody)
	}
}
