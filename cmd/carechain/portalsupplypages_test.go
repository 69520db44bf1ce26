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
// reason), ships two to MedSupply and packs the third into a case, which
// it ships to MedSupply (the packed unit's ship on its own is refused:
// "unpack it first"). MedSupply's officer sees them incoming, receives
// them and flags one as suspect, then receives the case (its SSCC not in
// MedSupply's journal until then) and unpacks it; Acme's officer
// confirms the flag and recalls the lot, which its table then shows.
// A custodian's Warehouse says, as an alert, which of its units may be
// neither sold nor dispensed and why (the suspect unit; at the pharmacy,
// the unit of the recalled lot).
// Then a private product's stock (privateStockInChromium): registered
// private, commissioned, shipped to MedSupply, which receives the shipment
// with the button its Warehouse shows.
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
	acmeCase(t, b)
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
	medSupplyCase(b)
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
	privateStockInChromium(t, b)
	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Warehouse") {
		t.Error("a physician's navigation has Warehouse")
	}
	if resp := b.open("/portal/supply/stock"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's warehouse page: %+v", resp)
	}
	noPlaintext(t, home, p.output(), "PT-0001", "PT-0002", "PT-0003", "PV-0001", "PV-0002", "PV-0003")
}

// privateGTIN is the private product acme-pharma registers in the browser.
const privateGTIN = "00312345678906"

// privateStockInChromium: Acme's officer registers a product with
// "Private custody" ticked, as it is on a fresh form (its card says
// "private custody"), commissions
// three units, which the Warehouse lists under Private custody, and ships
// two to MedSupply (one held, two shipped to medsupply). MedSupply's
// officer sees the shipment under "Shipped to you", from acme-pharma, and
// receives it whole with its button: the Warehouse counts the two units.
func privateStockInChromium(t *testing.T, b *browser) {
	t.Helper()
	b.signIn(demo.Manufacturer + "/officer-dubois")
	b.open("/portal/supply/products")
	b.fill(map[string]string{"register-gtin": privateGTIN, "register-name": "Amoxicillin 500 mg"})
	if ticked, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById("register-private").checked`)); err != nil || !ticked {
		t.Fatalf("Private custody is not ticked on a fresh form: %v", err)
	}
	b.submit("#supply-register")
	b.want("Registered Amoxicillin 500 mg (GTIN "+privateGTIN+").", "private custody")
	b.fill(map[string]string{"commission-gtin": privateGTIN, "commission-lot": "P1", "commission-expiry": "2029-06-30", "commission-serials": "PV-0001\nPV-0002\nPV-0003"})
	b.submit("#supply-commission")
	b.want("Commissioned 3 units of GTIN " + privateGTIN + " in lot P1.")
	b.open("/portal/supply/stock")
	b.want("Private custody", "Amoxicillin 500 mg")
	if got := privateHeldText(b); !strings.Contains(got, "P1\t2029-06-30\tactive\t3") {
		t.Fatalf("acme's private units:\n%s", got)
	}
	b.fill(map[string]string{"ship-gtin": privateGTIN, "ship-to": demo.Wholesaler, "ship-serials": "PV-0001\nPV-0002"})
	b.submit("#supply-ship")
	b.want("Shipped to "+demo.Wholesaler+": 2 units of GTIN "+privateGTIN+".", "Shipped by you, not yet received")
	if got := privateHeldText(b); !strings.Contains(got, "P1\t2029-06-30\tactive\t1") {
		t.Fatalf("acme's private units after the ship:\n%s", got)
	}
	b.screenshot("supply-private-shipped")
	b.signOut()

	b.signIn(demo.Wholesaler + "/officer-nowak")
	b.open("/portal/supply/stock")
	b.want("Shipped to you", "Receive 2 from "+demo.Manufacturer)
	b.screenshot("supply-private-incoming")
	b.submit("#supply-receive-shipment-0")
	b.want("Received the shipment from " + demo.Manufacturer + ": 2 units of GTIN " + privateGTIN + ".")
	if got := privateHeldText(b); !strings.Contains(got, "P1\t2029-06-30\tactive\t2") {
		t.Fatalf("medsupply's private units after the receive:\n%s", got)
	}
	b.signOut()
}

// caseSSCCDemo is the SSCC of the case acme-pharma packs in the browser.
const caseSSCCDemo = "106141412345678908"

// acmeCase: Acme's officer packs PT-0003 into a case, which the Warehouse
// lists as held and no longer counts as loose stock; a ship of PT-0003 on
// its own is refused with the ledger's reason; the case ships to MedSupply.
func acmeCase(t *testing.T, b *browser) {
	t.Helper()
	b.fill(map[string]string{"pack-gtin": demo.GTIN, "pack-sscc": caseSSCCDemo, "pack-serials": "PT-0003\n"})
	b.submit("#supply-pack")
	b.want("Packed 1 unit of GTIN "+demo.GTIN+" into case SSCC "+caseSSCCDemo+".", "Cases and pallets", caseSSCCDemo, "held")
	held := `[...document.querySelectorAll("#supply-holdings tbody tr")].filter(r => r.cells[1].textContent === "B2701" && r.cells[3].textContent === "active").length`
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](held)); err != nil || n != 0 {
		t.Errorf("the packed unit is counted as loose stock (%d rows, %v):\n%s", n, err, b.textOf("supply-holdings"))
	}
	b.fill(map[string]string{"ship-gtin": demo.GTIN, "ship-to": demo.Wholesaler, "ship-serials": "PT-0003"})
	b.submit("#supply-ship")
	b.want("Not done:", "the unit is packed in a case; unpack it first")
	b.fill(map[string]string{"ship-case-gtin": demo.GTIN, "ship-case-sscc": caseSSCCDemo, "ship-case-to": demo.Wholesaler})
	b.submit("#supply-ship-case")
	b.want("Shipped case SSCC "+caseSSCCDemo+" with its units to "+demo.Wholesaler+".", "in transit to "+demo.Wholesaler)
	b.screenshot("supply-warehouse-case-shipped")
}

// medSupplyCase: MedSupply's officer sees the case incoming, its SSCC
// unknown to its journal, receives it by the SSCC on its label and
// unpacks it: its unit is loose stock.
func medSupplyCase(b *browser) {
	b.t.Helper()
	b.want("incoming from "+demo.Manufacturer, "not in your journal")
	b.fill(map[string]string{"receive-case-gtin": demo.GTIN, "receive-case-sscc": caseSSCCDemo})
	b.submit("#supply-receive-case")
	b.want("Received case SSCC "+caseSSCCDemo+" with its units.", caseSSCCDemo, "held")
	b.screenshot("supply-warehouse-case-received")
	b.fill(map[string]string{"unpack-gtin": demo.GTIN, "unpack-sscc": caseSSCCDemo})
	b.submit("#supply-unpack")
	b.want("Unpacked every unit of case SSCC " + caseSSCCDemo + ": the case is gone.")
}

// privateHeldText is the Warehouse's table of private units as shown, a
// row a line, cells tab-separated.
func privateHeldText(b *browser) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("supply-private-held").innerText`))
	if err != nil {
		b.t.Fatalf("the private units' table: %v\n%s", err, b.text())
	}
	return s
}
