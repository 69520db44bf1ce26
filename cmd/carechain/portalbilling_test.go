package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/demo"
)

// fhirPost posts a resource to base's FHIR API with tok and returns its id.
func fhirPost(t *testing.T, base, tok, typ, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/fhir/"+typ, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: HTTP %d, %v", typ, resp.StatusCode, err)
	}
	return out.ID
}

// letClerksReadCare sets org's role policy to the default with
// registration clerks also reading general records (encounters,
// procedures): what charge capture needs. Through the CLI, as its admin.
func letClerksReadCare(t *testing.T, home, addr, org string) {
	t.Helper()
	if out := mustRun(t, []string{PassphraseEnv + "=" + demo.Passphrase}, "role-policy", "set", "--as", demo.AdminID(org), "--org", org,
		"--file", clerksReadCarePolicy(t), "--home", home, "--node", addr); !strings.Contains(out, "committed role.policy") {
		t.Fatalf("role-policy set: %s", out)
	}
}

// clerksReadCarePolicy is a file of the default role policy with
// registration clerks also reading general and medication records.
func clerksReadCarePolicy(t *testing.T) string {
	t.Helper()
	p := consent.DefaultRolePolicy()
	for i := range p.Rules {
		if p.Rules[i].Role == carechain.RoleRegistrationClerk {
			p.Rules[i].Read = append(p.Rules[i].Read, "general", "medication")
		}
	}
	b, _ := json.Marshal(p)
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestPortalBillingInChromium: St Mary's registration clerk adds a price
// to the demo catalogue; a physician records a consultation with an appendectomy and a
// procedure the catalogue does not price. Once the role policy lets
// clerks read care records for billing, the clerk's Billing page lists
// the encounter; capture charges two services and lists the third as not
// charged; a second capture charges nothing; capture and invoice writes an
// invoice of 880.00 EUR, as the catalogue says; a capture without its CSRF
// token is refused and charges nothing. A physician has no billing page.
// No health data reaches the node's disk or output.
func TestPortalBillingInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	clerk, dr := demoToken(t, base, "st-mary/clerk-singh"), demoToken(t, base, "st-mary/dr-chen")
	// The demo catalogue prices a consultation (80 EUR); the clerk adds an appendectomy.
	fhirPost(t, base, clerk, "ChargeItemDefinition", `{"resourceType":"ChargeItemDefinition","status":"active",
	  "url":"https://st-mary.example/fees/appendectomy","code":{"coding":[{"system":"http://snomed.info/sct","code":"80146002"}]},"propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":800,"currency":"EUR"}}]}]}`)
	const subject = `"subject":{"reference":"Patient/demo-12"}`
	encounter := func(start string) string {
		return fhirPost(t, base, dr, "Encounter", `{"resourceType":"Encounter","status":"finished",`+subject+`,"period":{"start":"`+start+`"},
		  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"type":[{"coding":[{"system":"http://snomed.info/sct","code":"11429006","display":"Consultation"}]}]}`)
	}
	procedure := func(enc, code, display string) {
		fhirPost(t, base, dr, "Procedure", `{"resourceType":"Procedure","status":"completed",`+subject+`,"encounter":{"reference":"Encounter/`+enc+`"},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"`+code+`","display":"`+display+`"}]}}`)
	}
	enc := encounter("2026-12-01T09:00:00Z")
	procedure(enc, "80146002", "Laparoscopic appendectomy")
	procedure(enc, "387713003", "Wound revision")
	later := encounter("2026-12-02T09:00:00Z")
	letClerksReadCare(t, home, addr, "st-mary")

	b := newBrowser(t, base)
	b.signIn("st-mary/clerk-singh")
	b.open("/portal/billing")
	b.want("Billing", "Encounters", "Consultation", enc, later, "not charged")
	b.screenshot("billing")
	b.submit("#enc-" + enc + " button.capture")
	b.want("2 charged now · 0 already charged · 1 not charged", "Laparoscopic appendectomy", "Not charged: Wound revision", "2 charged, 0 invoiced")
	b.screenshot("billing-captured")
	b.submit("#enc-" + enc + " button.capture")
	b.want("0 charged now · 2 already charged · 1 not charged")
	b.submit("#enc-" + enc + " button.invoice")
	b.want("written: total 880.00 EUR", "2 charged, 2 invoiced")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("table.invoices td.total")].map(td => td.textContent).join("|")`)); err != nil || !strings.Contains(n, "880.00 EUR") {
		t.Fatalf("the invoices list shows totals %q (%v)", n, err)
	}
	b.screenshot("billing-invoiced")

	b.do("capture without the form's token",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#enc-`+later+` button.capture").form.querySelector("input[name=csrf]").remove()`))
	b.submit("#enc-" + later + " button.capture")
	b.want("security token is missing")
	if n := fhirTotal(t, base, clerk, "/fhir/ChargeItem?patient=Patient/demo-12&context=Encounter/"+later); n != 0 {
		t.Fatalf("a refused capture wrote %v ChargeItems", n)
	}
	if n := fhirTotal(t, base, clerk, "/fhir/ChargeItem?patient=Patient/demo-12"); n != 2 {
		t.Fatalf("the patient has %v ChargeItems, want 2", n)
	}
	b.signOut()

	b.signIn("st-mary/dr-chen")
	if bytes.Contains([]byte(b.text()), []byte("Billing")) {
		t.Error("a physician's navigation has Billing")
	}
	if resp := b.open("/portal/billing"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's billing page: %+v", resp)
	}
	b.want("This page is for billing staff")
	noPlaintext(t, home, p.output(), "Laparoscopic appendectomy", "Wound revision")
}
