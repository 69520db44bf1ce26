package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalSupplyVerifyInChromium: on the demo's supply chain, Greenleaf's
// pharmacist finds "Verify a medicine" in the navigation and scans units.
// A genuine unit the pharmacy holds (the bracketed element string) is
// GENUINE with a dispense button, which dispenses it; scanned again it is
// DO NOT ACCEPT (already dispensed). A unit in transit from MedSupply,
// offered by MedSupply (a scanner's FNC1 string), is GENUINE; a serial of
// a unit Greenleaf holds offered by MedSupply is DO NOT ACCEPT (a copied
// serial); a unit of the recalled lot and a serial never commissioned are
// DO NOT ACCEPT with their reasons. Each page passes the axe checks. A
// verify without the form's CSRF token is refused. Dispensing against a
// prescription with the packs scanned is refused for a recalled unit and
// done for two genuine ones, which the patient then sees verified genuine
// (pharmacyDispensesUnits). A physician has neither the link nor the page.
func TestPortalSupplyVerifyInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	b := newBrowser(t, "http://"+addr)
	b.signIn("greenleaf/ph-rossi")
	b.want("Verify a medicine")
	b.open("/portal/supply/verify")
	b.want("Scan", "DataMatrix content")
	b.screenshot("supply-verify")
	scan := func(code, gtin, serial, seller string) {
		t.Helper()
		b.open("/portal/supply/verify")
		fields, _ := json.Marshal(map[string]string{"supply-code": code, "supply-gtin": gtin, "supply-serial": serial, "supply-seller": seller})
		b.do("fill the scan", chromedp.Evaluate[chromedp.Void](`for (const [id, v] of Object.entries(`+string(fields)+`)) document.getElementById(id).value = v`))
		b.submit("#supply-verify")
	}
	scan("(01)"+demo.GTIN+"(21)"+demo.Serial(1)+"(10)"+demo.LotGood+"(17)280630", "", "", "")
	b.want("GENUINE", "Ibuprofen 400 mg", "acme-pharma", "Held by\ngreenleaf", "Dispense this unit")
	if strings.Contains(b.text(), "DO NOT ACCEPT") {
		t.Fatal("a genuine unit shows DO NOT ACCEPT")
	}
	b.screenshot("supply-genuine")
	b.submit("#supply-dispense")
	b.want("Dispensed: the unit of GTIN " + demo.GTIN + " has left the supply chain.")
	scan("", demo.GTIN, demo.Serial(1), "")
	b.want("DO NOT ACCEPT", "the unit was already dispensed")

	scan("]d201"+demo.GTIN+"21"+demo.Serial(4)+"\x1d10"+demo.LotGood, "", "", demo.Wholesaler)
	b.want("GENUINE", "in-transit", "Held by\n"+demo.Wholesaler)
	if strings.Contains(b.text(), "Dispense this unit") {
		t.Error("a unit in transit offers a dispense")
	}
	scan("", demo.GTIN, demo.Serial(2), demo.Wholesaler)
	b.want("DO NOT ACCEPT", "the unit is held by greenleaf, not by the seller medsupply: its serial may be copied")
	b.screenshot("supply-copied")
	scan("", demo.GTIN, demo.Serial(101), "")
	b.want("DO NOT ACCEPT", "lot "+demo.LotRecalled+" is recalled (sterility failure)")
	scan("", demo.GTIN, "FAKE-77", "")
	b.want("DO NOT ACCEPT", "never commissioned by acme-pharma")
	scan("(01)"+demo.GTIN+"(99)x", "", "", "")
	b.want("This scan cannot be verified", "AI (99)")
	b.screenshot("supply-bad-scan")

	b.open("/portal/supply/verify")
	b.do("verify without the form's token", chromedp.Evaluate[chromedp.Void](`document.querySelector("#supply-verify").form.querySelector("input[name=csrf]").remove();
		document.getElementById("supply-gtin").value = "`+demo.GTIN+`"; document.getElementById("supply-serial").value = "`+demo.Serial(3)+`"`))
	b.submit("#supply-verify")
	b.want("security token is missing")
	pharmacyDispensesUnits(t, b, home, addr)

	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Verify a medicine") {
		t.Error("a physician's navigation has Verify a medicine")
	}
	if resp := b.open("/portal/supply/verify"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's verify page: %+v", resp)
	}
	b.want("This page is for pharmacists and supply officers")
	noPlaintext(t, home, p.output(), "DEMO-0001", "DEMO-0002", "DEMO-0101")
}

// pharmacyDispensesUnits: St Mary's prescribes Ibuprofen to
// patient/demo-12, who lets Greenleaf read and write their medication
// records; Greenleaf's pharmacist (signed in) dispenses against it from
// the pharmacy queue with the packs scanned: a pack of the recalled lot is
// refused and nothing is dispensed, two genuine packs are dispensed, and
// the patient's records show the dispense verified genuine.
func pharmacyDispensesUnits(t *testing.T, b *browser, home, addr string) {
	t.Helper()
	base := "http://" + addr
	rx := fhirPost(t, base, demoToken(t, base, "st-mary/dr-chen"), "MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
	  "subject":{"reference":"Patient/demo-12"},"medicationCodeableConcept":{"text":"Ibuprofen 400 mg tablet"},
	  "dispenseRequest":{"quantity":{"value":2,"unit":"box"}}}`)
	mustRun(t, []string{PassphraseEnv + "=" + demo.Passphrase}, "consent", "grant", "--as", "patient/demo-12", "--to", demo.Pharmacy, "--category", "medication",
		"--action", "read", "--action", "write", "--purpose", "treatment", "--until", "30d", "--home", home, "--node", addr)
	pack := func(n int) string { return "(01)" + demo.GTIN + "(21)" + demo.Serial(n) }
	dispense := func(units string) {
		t.Helper()
		b.open("/portal/pharmacy")
		fields, _ := json.Marshal(map[string]string{"qty-" + rx: "1", "units-" + rx: units})
		b.do("fill the dispense", chromedp.Evaluate[chromedp.Void](`for (const [id, v] of Object.entries(`+string(fields)+`)) document.getElementById(id).value = v`))
		b.submit("#dispense-" + rx)
	}
	dispense(pack(3) + "\n" + pack(101))
	b.want("Not written", "DO NOT DISPENSE", "unit #2: lot "+demo.LotRecalled+" is recalled (sterility failure)")
	b.open("/portal/pharmacy")
	b.want("2 in all · 0 dispensed · 2 left", "Packs handed over")
	b.screenshot("supply-pharmacy-queue")
	dispense(pack(2) + "\n" + pack(3))
	b.want("Dispensed", "2 in all · 1 dispensed · 1 left")
	b.signOut()
	b.signIn("patient/demo-12")
	b.open("/portal/records")
	b.want("Verified genuine: the 2 serialized unit(s) of " + demo.ProductName + " (GTIN " + demo.GTIN + ", registered by acme-pharma) were commissioned by their manufacturer and dispensed by greenleaf")
	b.screenshot("supply-patient-verified")
	b.signOut()
}
