package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalClaimsInChromium: on a demo node (Carewell's plan over St
// Mary's catalogue, patient demo-12 covered, claims adjudicated by
// Carewell's claims officer), a physician records a check-up with an HbA1c
// test and a chest X-ray; St Mary's clerk captures and invoices them
// (165.00 EUR). A claim of the invoice is refused — the X-ray needs a
// prior authorization — and nothing is written; a prior authorization
// asked of a patient without coverage is refused too. The clerk requests
// the X-ray's prior authorization, the demo approves it; the claim then
// refers to it, and is approved: insurance pays 120.00 EUR, the patient
// owes 45.00 EUR (10.00 co-pay, 20% co-insurance, 5.00 over the HbA1c
// cap), and the clerk's check agrees. The same claim again is refused as a duplicate; one without its
// CSRF token is refused. Carewell's claims officer finds both in the work
// queue and checks the claim (agrees); the patient sees what insurance
// paid and owes and checks it too. A physician has no claims pages. The
// claim's services are nowhere in plain in the node's files or output.
func TestPortalClaimsInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	clerk, dr := demoToken(t, base, "st-mary/clerk-singh"), demoToken(t, base, "st-mary/dr-chen")
	const subject = `"subject":{"reference":"Patient/demo-12"}`
	enc := fhirPost(t, base, dr, "Encounter", `{"resourceType":"Encounter","status":"finished",`+subject+`,"period":{"start":"2026-12-01T09:00:00Z"},
	  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
	  "type":[{"coding":[{"system":"`+demo.SNOMED+`","code":"`+demo.ConsultationCode+`","display":"Check-up Quorvel"}]}]}`)
	for code, display := range map[string]string{demo.HbA1cCode: "HbA1c Quorvel", demo.ChestXRayCode: "Chest radiograph Quorvel"} {
		fhirPost(t, base, dr, "Procedure", `{"resourceType":"Procedure","status":"completed",`+subject+`,"encounter":{"reference":"Encounter/`+enc+`"},
		  "code":{"coding":[{"system":"`+demo.LOINC+`","code":"`+code+`","display":"`+display+`"}]}}`)
	}
	letClerksReadCare(t, home, addr, "st-mary")

	b := newBrowserWithin(t, base, 3*time.Minute)
	b.signIn("st-mary/clerk-singh")
	b.open("/portal/billing")
	b.submit("#enc-" + enc + " button.invoice")
	b.want("3 charged now", "written: total 165.00 EUR", "Claims", "No claim you may read", "Request a prior authorization")
	invoice := b.firstInvoice()

	// Without the X-ray's prior authorization, the claim is refused.
	b.submit("#inv-" + invoice + " button.claim")
	b.want("The claim was not submitted", "needs a prior authorization", "Nothing was written")
	b.screenshot("claims-refused-preauth")
	if n := fhirTotal(t, base, clerk, "/fhir/Claim?patient=Patient/demo-12"); n != 0 {
		t.Fatalf("a refused claim wrote %d claims", n)
	}
	b.open("/portal/billing")
	b.do("ask demo-10 (no coverage) for an X-ray", chromedp.SetValue(chromedp.ID("preauth-patient"), "demo-10"),
		chromedp.SetValue(chromedp.ID("preauth-service"), demo.ChestXRayFee))
	b.submit("#preauth button")
	b.want("The prior authorization request was not submitted", "no coverage")

	// The prior authorization, then the claim that refers to it.
	b.open("/portal/billing")
	b.do("ask demo-12's X-ray", chromedp.SetValue(chromedp.ID("preauth-patient"), "demo-12"),
		chromedp.SetValue(chromedp.ID("preauth-service"), demo.ChestXRayFee))
	b.submit("#preauth button")
	b.want("is submitted", "Submitted to Carewell Health Insurance under Coverage/demo-12-coverage")
	preauth := b.between("The prior authorization request ", " is submitted")
	b.waitDecided(p, "/portal/billing", preauth)
	b.want("prior authorization to Carewell Health Insurance", "Chest X-ray, 2 views × 1 at 60.00 EUR: approved")
	b.screenshot("claims-preauth-approved")
	b.submit("#inv-" + invoice + " button.claim")
	b.want("The claim", "referring to prior authorization "+preauth)
	claim := b.between("The claim ", " is submitted")
	b.waitDecided(p, "/portal/billing", claim)
	row := b.textOf("claim-" + claim)
	for _, want := range []string{"approved", "165.00 EUR", "120.00 EUR", "45.00 EUR", "HbA1c Quorvel × 1 at 25.00 EUR: approved", "rules version 1"} {
		if !strings.Contains(row, want) {
			t.Fatalf("the claim's row does not show %q: %s", want, row)
		}
	}
	b.screenshot("claims-billing")
	b.submit("#claim-" + claim + " button.check")
	b.want("The decision agrees with the rules", "rules version 1")
	b.submit(`main a[href="/portal/billing"]`)

	// The same claim again, and a claim without its CSRF token.
	b.submit("#inv-" + invoice + " button.claim")
	b.want("The claim was not submitted", "a duplicate claim", "claim "+claim+" already claims the same services")
	b.open("/portal/billing")
	b.do("drop the claim form's token", chromedp.Evaluate[chromedp.Void](`document.querySelector("#inv-`+invoice+` button.claim").form.querySelector("input[name=csrf]").remove()`))
	b.submit("#inv-" + invoice + " button.claim")
	b.want("security token is missing")
	if n := fhirTotal(t, base, clerk, "/fhir/Claim?patient=Patient/demo-12"); n != 2 {
		t.Fatalf("demo-12 has %d claims, want the prior authorization and the claim", n)
	}
	b.signOut()

	// Carewell's claims officer: the work queue, and a check.
	b.signIn(demo.ClaimsOfficer)
	b.open("/portal/claims")
	b.want("Claims work queue", "Carewell Health Insurance", "(0 now)", claim, preauth, "120.00 EUR")
	b.screenshot("claims-queue")
	b.submit("#claim-" + claim + " button.check")
	b.want("The decision agrees with the rules", "rules version 1", "120.00 EUR", "Tom Ward")
	b.screenshot("claims-check")
	b.signOut()

	// The patient.
	b.signIn("patient/demo-12")
	b.open("/portal/claims")
	b.want("My claims", claim, "165.00 EUR", "120.00 EUR", "45.00 EUR")
	b.screenshot("claims-patient")
	b.submit("#claim-" + claim + " button.check")
	b.want("The decision agrees with the rules")
	b.signOut()

	// A physician has no claims pages.
	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Claims") {
		t.Error("a physician's navigation has Claims")
	}
	if resp := b.open("/portal/claims"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's claims page: %+v", resp)
	}
	b.want("This page is for patients and insurers' claims officers")
	noPlaintext(t, home, p.output(), "Quorvel")
}

// firstInvoice is the id of the first invoice on the billing page.
func (b *browser) firstInvoice() string {
	b.t.Helper()
	id, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("table.invoices tbody tr") || {id: ""}).id.replace("inv-", "")`))
	if err != nil || id == "" {
		b.t.Fatalf("no invoice on the page (%v):\n%s", err, b.text())
	}
	return id
}

// between is the page's text between before and after.
func (b *browser) between(before, after string) string {
	b.t.Helper()
	_, rest, ok := strings.Cut(b.text(), before)
	got, _, ok2 := strings.Cut(rest, after)
	if !ok || !ok2 || got == "" || strings.ContainsAny(got, " \n") {
		b.t.Fatalf("the page shows nothing between %q and %q:\n%s", before, after, b.text())
	}
	return got
}

// waitDecided reloads path until claim id's row shows a decision.
func (b *browser) waitDecided(p *process, path, id string) {
	b.t.Helper()
	p.waitFor(b.t, time.Minute, "claim "+id+" decided", func() error {
		b.open(path)
		if row := b.textOf("claim-" + id); strings.Contains(row, "awaits the insurer") || row == "" {
			return fmt.Errorf("claim %s: %q", id, row)
		}
		return nil
	})
}
