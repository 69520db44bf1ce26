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
// physician has neither the link nor the page; a verify without the
// form's CSRF token is refused.
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
	b.signOut()

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
