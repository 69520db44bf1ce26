package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalSupplyPagesInChromium: the manufacturer's and the warehouse's
// pages on the demo's supply chain. Acme's supply officer finds "Products
// and lots" and "Warehouse" in the navigation, sees Ibuprofen's lots (the
// recalled one with its reason), commissions a new lot of three units
// (a serial commissioned twice is refused on the page with the ledger's
// reason), and ships two to MedSupply. MedSupply's officer sees them
// incoming, receives them and flags one as suspect; Acme's officer
// confirms the flag and recalls the lot, which its table then shows.
// A custodian's Warehouse says, as an alert, which of its units may be
// neither sold nor dispensed and why (the suspect unit; at the pharmacy,
// the unit of the recalled lot).
// Pharmacy staff have the warehouse page but not the manufacturer's; a
// physician has neither. Each page passes the axe checks; no serial is
// written in plain to the node's files.
func TestPortalSupplyPagesInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	b := newBrowser(t, "http://"+addr)
	const lot = "B2701"
	b.signIn(demo.Manufacturer + "/officer-dubois")
	b.want("Products and lots", "Warehouse")
	b.open("/portal/supply/products")
	b.want(demo.ProductName, "GTIN "+demo.GTIN, demo.LotGood, demo.ExpiryGood, "in circulation", demo.LotRecalled, "recalled: sterility failure")
	b.screenshot("supply-products")
	b.fill(map[string]string{"commission-gtin": demo.GTIN, "commission-lot": lot, "commission-expiry": "2029-01-31", "commission-serials": "PT-0001\nPT-0002\n\nPT-0003\n"})
	b.submit("#supply-commission")
	b.want("Commissioned 3 units of GTIN "+demo.GTIN+" in lot "+lot+".", lot, "2029-01-31")
	b.fill(map[string]string{"commission-gtin": demo.GTIN, "commission-lot": "B2702", "commission-expiry": "2029-01-31", "commission-serials": "PT-0003"})
	b.submit("#supply-commission")
	b.want("Not done:", "commissioned")
	b.screenshot("supply-commission-refused")

	b.open("/portal/supply/stock")
	b.want("Held and incoming", lot, "active")
	b.fill(map[string]string{"ship-gtin": demo.GTIN, "ship-to": demo.Wholesaler, "ship-serials": "PT-0001\nPT-0002"})
	b.submit("#supply-ship")
	b.want("Shipped to "+demo.Wholesaler+": 2 units of GTIN "+demo.GTIN+".", "in-transit to "+demo.Wholesaler)
	b.screenshot("supply-warehouse-shipped")
	b.signOut()

	b.signIn(demo.Wholesaler + "/officer-nowak")
	if strings.Contains(b.text(), "Products and lots") {
		t.Error("a wholesaler's navigation has Products and lots")
	}
	b.open("/portal/supply/stock")
	b.want("incoming from " + demo.Manufacturer)
	b.fill(map[string]string{"receive-gtin": demo.GTIN, "receive-serials": "PT-0001\nPT-0002"})
	b.submit("#supply-receive")
	b.want("Received: 2 units of GTIN " + demo.GTIN + ".")
	b.fill(map[string]string{"flag-gtin": demo.GTIN, "flag-serial": "PT-0002", "flag-reason": "seal broken"})
	b.submit("#supply-flag")
	b.want("Flagged as suspect: 1 unit of GTIN "+demo.GTIN+".", "suspect", "Do not sell or dispense",
		"1 unit of "+demo.ProductName+", lot "+lot+": the unit is suspect")
	b.screenshot("supply-warehouse-flagged")
	if resp := b.open("/portal/supply/products"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a wholesaler's products page: %+v", resp)
	}
	b.want("This page is for a manufacturer's supply staff")
	b.signOut()

	b.signIn(demo.Manufacturer + "/officer-dubois")
	b.open("/portal/supply/products")
	b.fill(map[string]string{"resolve-gtin": demo.GTIN, "resolve-serial": "PT-0002"})
	b.do("choose confirm", chromedp.Click(chromedp.ID("resolve-confirm")))
	b.submit("#supply-resolve")
	b.want("Flag confirmed: illegitimate.")
	b.fill(map[string]string{"recall-gtin": demo.GTIN, "recall-lot": lot, "recall-reason": "label misprint"})
	b.submit("#supply-recall")
	b.want("Recalled lot "+lot+" of GTIN "+demo.GTIN, "recalled: label misprint")
	b.screenshot("supply-recalled")
	b.signOut()

	b.signIn("greenleaf/ph-rossi")
	b.want("Warehouse")
	if strings.Contains(b.text(), "Products and lots") {
		t.Error("a pharmacist's navigation has Products and lots")
	}
	b.open("/portal/supply/stock")
	b.want(demo.LotGood, "incoming from "+demo.Wholesaler, "Do not sell or dispense",
		"1 unit of "+demo.ProductName+", lot "+demo.LotRecalled+": lot "+demo.LotRecalled+" is recalled (sterility failure)")
	b.screenshot("supply-warehouse-recall-alert")
	b.signOut()
	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Warehouse") {
		t.Error("a physician's navigation has Warehouse")
	}
	if resp := b.open("/portal/supply/stock"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's warehouse page: %+v", resp)
	}
	noPlaintext(t, home, p.output(), "PT-0001", "PT-0002", "PT-0003")
}
