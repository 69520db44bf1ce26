package fhirrest_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

// letClaimsOfficersReadCare sets hosp-a's role policy to the default with
// claims officers also reading general and medication records for
// billing: what charge capture needs to read an encounter's services.
func (e *env) letClaimsOfficersReadCare() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := consent.DefaultRolePolicy()
	for i := range p.Rules {
		if p.Rules[i].Role == carechain.RoleClaimsOfficer {
			p.Rules[i].Read = append(p.Rules[i].Read, "general", "medication")
		}
	}
	nonce, _ := e.n.App().Latest().NextNonce("hosp-a/admin")
	raw, _ := tx.Sign(e.keys["hosp-a/admin"], chainID, "hosp-a/admin", nonce, tx.TypeRolePolicy, &tx.RolePolicySet{Org: "hosp-a", Policy: p})
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("role policy: %+v %v", out, err)
	}
}

// parts is a $capture-charges answer as name → the parts of each
// parameter of that name, each part as name → its value's JSON.
func parts(body map[string]any) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	params, _ := body["parameter"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		row := map[string]string{}
		for _, pt := range asAnyList(p["part"]) {
			pt := pt.(map[string]any)
			for k, v := range pt {
				if k != "name" {
					b, _ := json.Marshal(v)
					row[pt["name"].(string)] = string(b)
				}
			}
		}
		for k, v := range p {
			if k != "name" && k != "part" {
				b, _ := json.Marshal(v)
				row["value"] = string(b)
			}
		}
		out[p["name"].(string)] = append(out[p["name"].(string)], row)
	}
	return out
}

func asAnyList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestCaptureChargesFromAnEncounter: a physician records an encounter (a
// consultation) with an appendectomy, a dispense of ten tablets and a
// procedure the catalogue does not price; the claims officer's capture
// writes one ChargeItem per priced service, lists the unpriced one, writes
// nothing the second time, and invoices the encounter at the catalogue's
// prices, once. Before the role policy lets claims officers read care
// records the encounter is absent to them, and a physician cannot charge.
func TestCaptureChargesFromAnEncounter(t *testing.T) {
	e := setup(t)
	drA := e.token("hosp-a/dr-a")
	billing := e.registerStaff("hosp-a", "hosp-a/billing", carechain.RoleClaimsOfficer)
	desk := e.registerStaff("hosp-a", "hosp-a/desk", carechain.RoleRegistrationClerk)
	for _, def := range []string{
		`"url":"https://hosp-a.example/fees/consultation","code":{"coding":[{"system":"http://snomed.info/sct","code":"11429006"}]},"propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":120,"currency":"EUR"}}]}]`,
		`"url":"https://hosp-a.example/fees/appendectomy","code":{"coding":[{"system":"http://snomed.info/sct","code":"80146002"}]},"propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":800,"currency":"EUR"}}]}]`,
		`"url":"https://hosp-a.example/fees/amoxicillin","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308182"}]},"propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":2.5,"currency":"EUR"}}]}]`,
	} {
		if r := e.do("POST", "/fhir/ChargeItemDefinition", desk, []byte(`{"resourceType":"ChargeItemDefinition","status":"active",`+def+`}`)); r.status != 201 {
			t.Fatalf("catalogue: %d %s", r.status, r.rawBody)
		}
	}
	write := func(typ, body string) string {
		t.Helper()
		r := e.do("POST", "/fhir/"+typ, drA, []byte(`{"resourceType":"`+typ+`","subject":{"reference":"Patient/p"},`+body+`}`))
		if r.status != 201 {
			t.Fatalf("%s: %d %s", typ, r.status, r.rawBody)
		}
		return r.body["id"].(string)
	}
	enc := write("Encounter", `"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"type":[{"coding":[{"system":"http://snomed.info/sct","code":"11429006","display":"Consultation"}]}]`)
	other := write("Encounter", `"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}`)
	surgery := write("Procedure", `"status":"completed","encounter":{"reference":"Encounter/`+enc+`"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"80146002","display":"Appendectomy"}]}`)
	write("Procedure", `"status":"completed","encounter":{"reference":"Encounter/`+other+`"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"80146002"}]}`)
	unpriced := write("Procedure", `"status":"completed","encounter":{"reference":"Encounter/`+enc+`"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"387713003","display":"Surgical procedure"}]}`)
	dispense := write("MedicationDispense", `"status":"completed","context":{"reference":"Encounter/`+enc+`"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308182"}]},"quantity":{"value":10}`)
	capture := "/fhir/Encounter/" + enc + "/$capture-charges"
	invoice := []byte(`{"resourceType":"Parameters","parameter":[{"name":"invoice","valueBoolean":true}]}`)

	e.do("POST", capture, billing, nil).outcome(t, 404, "Encounter not found")
	e.letClaimsOfficersReadCare()
	if r := e.do("POST", capture, drA, invoice); r.status < 400 {
		t.Errorf("a physician captures charges: %d %s", r.status, r.rawBody)
	}
	e.do("POST", capture, billing, []byte(`{"resourceType":"Parameters","parameter":[{"name":"invoce","valueBoolean":true}]}`)).outcome(t, 400, "invoice")
	if r := e.do("GET", "/fhir/ChargeItem?patient=Patient/p", billing, nil, "X-Purpose-Of-Use", "billing"); r.body["total"] != 0.0 {
		t.Fatalf("ChargeItems before the first capture: %s", r.rawBody)
	}

	r := e.do("POST", capture, billing, nil)
	got := parts(r.body)
	charged := map[string]string{}
	for _, c := range got["charged"] {
		charged[c["service"]] = c["chargeItem"]
	}
	if r.status != 200 || len(got["charged"]) != 3 || charged[`{"display":"Consultation","reference":"Encounter/`+enc+`"}`] == "" ||
		charged[`{"display":"Appendectomy","reference":"Procedure/`+surgery+`"}`] == "" ||
		len(got["notCharged"]) != 1 || !strings.Contains(got["notCharged"][0]["service"], unpriced) || got["invoice"] != nil {
		t.Fatalf("first capture: %d %s", r.status, r.rawBody)
	}
	items := e.do("GET", "/fhir/ChargeItem?patient=Patient/p&context=Encounter/"+enc, billing, nil, "X-Purpose-Of-Use", "billing")
	if items.body["total"] != 3.0 || !strings.Contains(string(items.rawBody), `"value": 10`) || !strings.Contains(string(items.rawBody), "MedicationDispense/"+dispense) {
		t.Fatalf("the encounter's ChargeItems: %s", items.rawBody)
	}

	again := parts(e.do("POST", capture, billing, nil).body)
	if len(again["charged"]) != 0 || len(again["alreadyCharged"]) != 3 {
		t.Fatalf("second capture: %v", again)
	}
	billed := parts(e.do("POST", capture, billing, invoice).body)
	if len(billed["invoice"]) != 1 || !strings.Contains(billed["invoice"][0]["value"], `"display":"945.00 EUR"`) {
		t.Fatalf("capture with invoice: %v", billed)
	}
	ref := billed["invoice"][0]["value"]
	id := ref[strings.Index(ref, "Invoice/")+len("Invoice/") : strings.LastIndex(ref, `"`)]
	if r := e.do("GET", "/fhir/Invoice/"+id, e.patientToken(), nil); r.status != 200 || r.body["totalGross"].(map[string]any)["value"] != 945.0 {
		t.Errorf("the patient reads the invoice: %d %s", r.status, r.rawBody)
	}
	once := parts(e.do("POST", capture, billing, invoice).body)
	if len(once["invoice"]) != 0 || len(once["invoiceNote"]) != 1 {
		t.Errorf("a second invoice: %v", once)
	}
	if r := e.do("GET", "/fhir/ChargeItem?patient=Patient/p", billing, nil, "X-Purpose-Of-Use", "billing"); r.body["total"] != 3.0 {
		t.Errorf("ChargeItems after every capture: %s", r.rawBody)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil {
		t.Fatal(err)
	}
	log := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", e.patientToken(), nil)
	if !slices.ContainsFunc(asAnyList(log.body["entry"]), func(ev any) bool {
		b, _ := json.Marshal(ev)
		return strings.Contains(string(b), "Practitioner/hosp-a.billing") && strings.Contains(string(b), surgery)
	}) {
		t.Errorf("the claims officer's read of the procedure is not in the patient's access log: %s", log.rawBody)
	}
}
