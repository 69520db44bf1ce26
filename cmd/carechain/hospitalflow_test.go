package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHospitalWorkflowAcrossNodes drives the hospital's workflow through
// the FHIR API of three organizations' own nodes, each made by init with
// only its own keys: St Mary's desk registers a patient (identity, Patient,
// Coverage) and finds them, publishes a Slot and books an Appointment; a
// physician sees the patient (Encounter) and orders a test of North Lab,
// which reads the order and reports on its own node while the order is
// open; the physician reads the result, completes the order, and the lab's
// next result is refused; an imaging order to North Lab's radiology gets a
// report, corrected under North Lab's approval policy (see imagingOrder);
// the physician prescribes, the patient lets East
// Pharmacy dispense, which dispenses part, the rest and the refill on its
// own node and is refused more; the desk captures the visit's charges and
// invoices them from its catalogue; the patient reads the invoice, and their access log names the lab and the
// pharmacy.
func TestHospitalWorkflowAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node subprocesses")
	}
	skipUnderRace(t)
	stMary, northlab, eastpharm, _ := foundThree(t)
	staff := func(m *member, id, role string) string {
		t.Helper()
		key := strings.Replace(id, "/", ".", 1)
		m.cli("keys", "new", key)
		m.register(strings.SplitN(id, "/", 2)[0]+"/admin", "--id", id, "--role", role, "--pubkey", m.pub(key))
		return m.token(id)
	}
	dr := staff(stMary, "st-mary/dr-jones", "physician")
	desk := staff(stMary, "st-mary/clerk-ali", "registration-clerk")
	tech := staff(northlab, "northlab/tech-kim", "lab-technician")
	pharmacist := staff(eastpharm, "eastpharm/pharm-lee", "pharmacist")
	// want sends a FHIR request to a node and requires the status; it
	// returns the created or read resource's id.
	want := func(m *member, token, method, path, body string, status int) string {
		t.Helper()
		got, res, raw := m.fhirJSON(token, method, path, body)
		if got != status {
			t.Fatalf("%s %s on %s: HTTP %d, want %d: %s", method, path, m.home, got, status, raw)
		}
		id, _ := res["id"].(string)
		return id
	}
	// eventually retries a request on another node until it has synced.
	eventually := func(m *member, token, path string, status int) {
		t.Helper()
		m.proc.waitFor(t, time.Minute, path+" on "+m.home, func() error {
			if got, _ := m.fhir(token, "GET", path, ""); got != status {
				return fmt.Errorf("HTTP %d", got)
			}
			return nil
		})
	}

	// Registration: the desk makes the identity (the patient's keys on the
	// node, under their own passphrase), the Patient and the Coverage.
	const pass = "the patient's own passphrase"
	penv := passEnv(pass)
	mustRun(t, penv, "keys", "new", "patient.p1", "--kind", "patient", "--home", stMary.home)
	pub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, penv, append([]string{"keys", "export-public", "patient.p1", "--home", stMary.home}, extra...)...))
	}
	stMary.register("st-mary/clerk-ali", "--kind", "patient", "--id", "patient/p1", "--pubkey", pub(), "--encryption-key", pub("--encryption"))
	want(stMary, desk, "PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:st-mary:mrn","value":"SM-0077"}],
	  "name":[{"family":"Okonkwo","given":["Ada"]}],"birthDate":"1968-04-02"}`, http.StatusCreated)
	want(stMary, desk, "POST", "/fhir/Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p1"},
	  "payor":[{"display":"Carewell Health Insurance"}]}`, http.StatusCreated)
	if _, _, raw := stMary.fhirJSON(desk, "GET", "/fhir/Patient?identifier=urn:st-mary:mrn|SM-0077", ""); !strings.Contains(raw, "Okonkwo") {
		t.Fatalf("the desk finds the patient by MRN: %s", raw)
	}
	status, ptok := stMary.login("patient/p1", pass)
	if status != http.StatusOK {
		t.Fatalf("the patient signs in: HTTP %d", status)
	}

	// Planning: a Slot, one Appointment in it, a second refused.
	schedule := want(stMary, desk, "POST", "/fhir/Schedule", `{"resourceType":"Schedule","active":true,"actor":[{"reference":"Practitioner/st-mary.dr-jones"}]}`, http.StatusCreated)
	slot := want(stMary, desk, "POST", "/fhir/Slot", `{"resourceType":"Slot","schedule":{"reference":"Schedule/`+schedule+`"},"status":"free",
	  "start":"2031-05-06T09:00:00Z","end":"2031-05-06T09:20:00Z"}`, http.StatusCreated)
	appointment := `{"resourceType":"Appointment","status":"booked","slot":[{"reference":"Slot/` + slot + `"}],"start":"2031-05-06T09:00:00Z","end":"2031-05-06T09:20:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/st-mary.dr-jones"},"status":"accepted"}]}`
	want(stMary, desk, "POST", "/fhir/Appointment", appointment, http.StatusCreated)
	want(stMary, desk, "POST", "/fhir/Appointment", appointment, http.StatusConflict)

	// The visit, and a lab order to North Lab, reported on its own node.
	encounter := want(stMary, dr, "POST", "/fhir/Encounter", `{"resourceType":"Encounter","status":"finished",
	  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"},
	  "type":[{"coding":[{"system":"http://snomed.info/sct","code":"11429006","display":"Consultation"}]}]}`, http.StatusCreated)
	order := func(status string) string {
		return `{"resourceType":"ServiceRequest","status":"` + status + `","intent":"order","subject":{"reference":"Patient/p1"},
		  "encounter":{"reference":"Encounter/` + encounter + `"},
		  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"108252007"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c"}]},"performer":[{"reference":"Organization/northlab"}]}`
	}
	sr := want(stMary, dr, "POST", "/fhir/ServiceRequest", order("active"), http.StatusCreated)
	eventually(northlab, tech, "/fhir/ServiceRequest/"+sr, http.StatusOK)
	result := `{"resourceType":"Observation","status":"final","basedOn":[{"reference":"ServiceRequest/` + sr + `"}],
	  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
	  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"Patient/p1"},
	  "valueQuantity":{"value":6.1,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`
	res := want(northlab, tech, "POST", "/fhir/Observation", result, http.StatusCreated)
	eventually(stMary, dr, "/fhir/Observation/"+res, http.StatusOK)
	want(stMary, dr, "PUT", "/fhir/ServiceRequest/"+sr, strings.Replace(order("completed"), `{"resourceType":"ServiceRequest",`, `{"resourceType":"ServiceRequest","id":"`+sr+`",`, 1), http.StatusOK)
	eventually(northlab, tech, "/fhir/ServiceRequest/"+sr, http.StatusNotFound)
	want(northlab, tech, "POST", "/fhir/Observation", result, http.StatusConflict)

	imagingOrder(t, stMary, northlab, dr, ptok, encounter, staff)

	// A prescription, dispensed at East Pharmacy's node up to the refill.
	rx := want(stMary, dr, "POST", "/fhir/MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
	  "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975","display":"Metformin 500 MG Oral Tablet"}]},
	  "dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":30,"unit":"tablet"}}}`, http.StatusCreated)
	want(stMary, ptok, "POST", "/fhir/Consent", `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p1"},
	  "provision":{"actor":[{"reference":{"reference":"Organization/eastpharm"}}],"action":[{"coding":[{"code":"access"}]},{"coding":[{"code":"correct"}]}],
	    "purpose":[{"code":"treatment"}],"class":[{"system":"urn:carechain:category","code":"medication"}]}}`, http.StatusCreated)
	eventually(eastpharm, pharmacist, "/fhir/MedicationRequest/"+rx, http.StatusOK)
	dispense := func(quantity string, status int) {
		t.Helper()
		want(eastpharm, pharmacist, "POST", "/fhir/MedicationDispense", `{"resourceType":"MedicationDispense","status":"completed","subject":{"reference":"Patient/p1"},
		  "authorizingPrescription":[{"reference":"MedicationRequest/`+rx+`"}],"medicationCodeableConcept":{"text":"Metformin 500 mg"},
		  "quantity":{"value":`+quantity+`,"unit":"tablet"}}`, status)
	}
	dispense("20", http.StatusCreated) // part of the first fill
	dispense("10", http.StatusCreated) // its rest
	dispense("30", http.StatusCreated) // the refill
	dispense("1", http.StatusConflict)

	// Charges captured from the visit and invoiced, priced from the desk's
	// catalogue: St Mary's role policy lets its clerks read care records
	// for billing.
	stMary.cli("role-policy", "set", "--as", "st-mary/admin", "--org", "st-mary", "--file", clerksReadCarePolicy(t))
	want(stMary, desk, "POST", "/fhir/ChargeItemDefinition", `{"resourceType":"ChargeItemDefinition","url":"https://st-mary.example/fees/consultation","status":"active",
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"11429006"}]},
	  "propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":80,"currency":"EUR"}}]}]}`, http.StatusCreated)
	_, captured, raw := stMary.fhirJSON(desk, "POST", "/fhir/Encounter/"+encounter+"/$capture-charges",
		`{"resourceType":"Parameters","parameter":[{"name":"invoice","valueBoolean":true}]}`)
	invoice := ""
	for _, p := range captured["parameter"].([]any) {
		if p := p.(map[string]any); p["name"] == "invoice" {
			invoice = strings.TrimPrefix(p["valueReference"].(map[string]any)["reference"].(string), "Invoice/")
		}
	}
	if invoice == "" {
		t.Fatalf("capture and invoice the visit: %s", raw)
	}
	if _, res, raw := stMary.fhirJSON(ptok, "GET", "/fhir/Invoice/"+invoice, ""); fmt.Sprint(res["totalGross"]) != "map[currency:EUR value:80]" {
		t.Fatalf("the patient's invoice: %s", raw)
	}

	// The patient's access log names the lab's and the pharmacy's readers.
	stMary.proc.waitFor(t, time.Minute, "the lab and the pharmacy in the access log", func() error {
		_, body := stMary.fhir(ptok, "GET", "/fhir/AuditEvent?patient=Patient/p1", "")
		for _, who := range []string{"Practitioner/northlab.tech-kim", "Practitioner/eastpharm.pharm-lee"} {
			if !strings.Contains(string(body), who) {
				return fmt.Errorf("no %s in %.3000s", who, body)
			}
		}
		return nil
	})
}

// imagingOrder: the physician orders a chest X-ray of North Lab, whose
// radiologist reports on its own node. Under North Lab's approval policy
// for imaging reports (the author, its head of radiology and the patient),
// the radiologist's correction is a proposal (202, a Task) that commits as
// version 2 only when the last of the three signs, and the physician reads
// it on St Mary's node. Completing the order ends the radiologist's
// writes on it: a further correction is refused.
func imagingOrder(t *testing.T, stMary, northlab *member, dr, ptok, encounter string, staff func(m *member, id, role string) string) {
	t.Helper()
	rad := staff(northlab, "northlab/dr-rad", "radiologist")
	head := staff(northlab, "northlab/dr-head", "head-of-radiology")
	northlab.cli("amend", "policy", "--as", "northlab/admin", "--org", "northlab", "--category", "imaging", "--resource-type", "DiagnosticReport",
		"--rule", "all-of", "--term", "author", "--term", "head-of-radiology@northlab", "--term", "patient")
	fhir := func(m *member, token, method, path, body string, status int, header ...string) map[string]any {
		t.Helper()
		got, res, raw := m.fhirJSON(token, method, path, body, header...)
		if got != status {
			t.Fatalf("%s %s on %s: HTTP %d, want %d: %s", method, path, m.home, got, status, raw)
		}
		return res
	}
	order := func(status string) string {
		return `{"resourceType":"ServiceRequest","status":"` + status + `","intent":"order","subject":{"reference":"Patient/p1"},
		  "encounter":{"reference":"Encounter/` + encounter + `"},
		  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"363679005","display":"Imaging"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"36643-5","display":"XR Chest 2 Views"}]},"performer":[{"reference":"Organization/northlab"}]}`
	}
	sr := fhir(stMary, dr, "POST", "/fhir/ServiceRequest", order("active"), http.StatusCreated)["id"].(string)
	northlab.proc.waitFor(t, time.Minute, "the imaging order on North Lab's node", func() error {
		if got, _ := northlab.fhir(rad, "GET", "/fhir/ServiceRequest/"+sr, ""); got != http.StatusOK {
			return fmt.Errorf("HTTP %d", got)
		}
		return nil
	})
	report := func(id, conclusion string) string {
		head := `{"resourceType":"DiagnosticReport",`
		if id != "" {
			head += `"id":"` + id + `",`
		}
		return head + `"status":"final","basedOn":[{"reference":"ServiceRequest/` + sr + `"}],
		  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"RAD"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"36643-5"}]},"subject":{"reference":"Patient/p1"},"conclusion":"` + conclusion + `"}`
	}
	rep := fhir(northlab, rad, "POST", "/fhir/DiagnosticReport", report("", "No acute findings."), http.StatusCreated)["id"].(string)
	task := fhir(northlab, rad, "PUT", "/fhir/DiagnosticReport/"+rep, report(rep, "Small left pleural effusion."), http.StatusAccepted,
		"X-Amendment-Reason", "effusion missed on the lateral view")
	tid, _ := task["id"].(string)
	if task["resourceType"] != "Task" || tid == "" {
		t.Fatalf("the correction is no Task: %v", task)
	}
	for i, signer := range []struct {
		m     *member
		token string
	}{{northlab, rad}, {northlab, head}, {stMary, ptok}} {
		if i == 2 {
			// Two of three signed: the report is still version 1.
			if got := fhir(northlab, rad, "GET", "/fhir/DiagnosticReport/"+rep, "", http.StatusOK); got["conclusion"] != "No acute findings." {
				t.Fatalf("committed before the patient signed: %v", got["conclusion"])
			}
			signer.m.proc.waitFor(t, time.Minute, "the proposal on St Mary's node", func() error {
				if got, _ := signer.m.fhir(signer.token, "GET", "/fhir/Task/"+tid, ""); got != http.StatusOK {
					return fmt.Errorf("HTTP %d", got)
				}
				return nil
			})
		}
		fhir(signer.m, signer.token, "POST", "/fhir/Task/"+tid+"/$approve", "", http.StatusOK)
	}
	stMary.proc.waitFor(t, time.Minute, "the corrected report on St Mary's node", func() error {
		_, res, raw := stMary.fhirJSON(dr, "GET", "/fhir/DiagnosticReport/"+rep, "")
		if meta, _ := res["meta"].(map[string]any); meta["versionId"] != "2" || res["conclusion"] != "Small left pleural effusion." {
			return fmt.Errorf("%.500s", raw)
		}
		return nil
	})
	// Completed, the order takes no more reports from North Lab.
	fhir(stMary, dr, "PUT", "/fhir/ServiceRequest/"+sr, strings.Replace(order("completed"), `{"resourceType":"ServiceRequest",`, `{"resourceType":"ServiceRequest","id":"`+sr+`",`, 1), http.StatusOK)
	northlab.proc.waitFor(t, time.Minute, "the completed order on North Lab's node", func() error {
		if got, _ := northlab.fhir(rad, "GET", "/fhir/ServiceRequest/"+sr, ""); got != http.StatusNotFound {
			return fmt.Errorf("HTTP %d", got)
		}
		return nil
	})
	fhir(northlab, rad, "POST", "/fhir/DiagnosticReport", report("", "Addendum."), http.StatusConflict)
}
