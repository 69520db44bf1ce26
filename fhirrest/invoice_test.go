package fhirrest_test

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

// TestInvoicePricedFromTheCatalogue: the hospital's billing desk publishes
// a price in its ChargeItemDefinition catalogue, records ChargeItems of an
// encounter (one at the catalogue price, twice; one with a price
// override), and writes an Invoice of them: the server prices each line
// and the totals; a total that disagrees with the catalogue, a ChargeItem
// of another record type, and an unknown definition are 400s. The patient
// reads the Invoice.
func TestInvoicePricedFromTheCatalogue(t *testing.T) {
	e := setup(t)
	desk := e.registerStaff("hosp-a", "hosp-a/billing", carechain.RoleRegistrationClerk)
	if r := e.do("POST", "/fhir/ChargeItemDefinition", desk, []byte(`{"resourceType":"ChargeItemDefinition","url":"https://hosp-a.example/fees/consultation","status":"active","title":"Consultation",
	  "propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":120.00,"currency":"EUR"}}]}]}`)); r.status != 201 {
		t.Fatalf("catalogue: %d %s", r.status, r.rawBody)
	}
	item := func(extra string) string {
		t.Helper()
		r := e.do("POST", "/fhir/ChargeItem", desk, []byte(`{"resourceType":"ChargeItem","status":"billable","code":{"text":"Consultation"},"subject":{"reference":"Patient/p"},`+extra+`}`))
		if r.status != 201 {
			t.Fatalf("ChargeItem %s: %d %s", extra, r.status, r.rawBody)
		}
		return r.body["id"].(string)
	}
	twice := item(`"definitionCanonical":["https://hosp-a.example/fees/consultation"],"quantity":{"value":2}`)
	override := item(`"priceOverride":{"value":35.50,"currency":"EUR"}`)
	unknown := item(`"definitionCanonical":["https://hosp-a.example/fees/nothing"]`)
	invoice := func(lines ...string) string {
		var ls []string
		for _, l := range lines {
			ls = append(ls, `{"chargeItemReference":{"reference":"ChargeItem/`+l+`"}}`)
		}
		return `{"resourceType":"Invoice","status":"issued","subject":{"reference":"Patient/p"},"lineItem":[` + strings.Join(ls, ",") + `]}`
	}
	r := e.do("POST", "/fhir/Invoice", desk, []byte(invoice(twice, override)))
	if r.status != 201 {
		t.Fatalf("invoice: %d %s", r.status, r.rawBody)
	}
	net, _ := r.body["totalNet"].(map[string]any)
	lines, _ := r.body["lineItem"].([]any)
	first, _ := lines[0].(map[string]any)["priceComponent"].([]any)
	if net["value"] != 275.5 || net["currency"] != "EUR" || len(first) != 1 || first[0].(map[string]any)["amount"].(map[string]any)["value"] != 240.0 {
		t.Errorf("priced invoice: %s", r.rawBody)
	}
	id := r.body["id"].(string)
	if r := e.do("GET", "/fhir/Invoice/"+id, e.patientToken(), nil); r.status != 200 || r.body["totalGross"] == nil {
		t.Errorf("the patient reads the invoice: %d %s", r.status, r.rawBody)
	}
	wrong := strings.Replace(invoice(twice), `"lineItem"`, `"totalNet":{"value":200,"currency":"EUR"},"lineItem"`, 1)
	agreeing := strings.Replace(invoice(twice), `"lineItem"`, `"totalNet":{"value":240,"currency":"EUR"},"lineItem"`, 1)
	for name, c := range map[string]struct {
		body string
		want int
		says string
	}{
		"a total the catalogue disagrees with": {wrong, 400, "the catalogue prices it"},
		"the same total, written 240":          {agreeing, 201, ""},
		"an unknown definition":                {invoice(unknown), 400, "no active ChargeItemDefinition"},
		"a line that is not a ChargeItem":      {invoice(id), 400, "is not a ChargeItem"},
	} {
		if r := e.do("POST", "/fhir/Invoice", desk, []byte(c.body)); r.status != c.want || !strings.Contains(string(r.rawBody), c.says) {
			t.Errorf("%s: %d %s", name, r.status, r.rawBody)
		}
	}
}
