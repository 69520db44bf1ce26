package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPortalPrivateCasesOnInitConsortium runs cases of a private product
// through the Warehouse page on an init-made consortium over plain HTTP.
// acme's supply officer registers the product private and commissions
// three units, then a fourth; a pack of units of both commissionings is
// refused with the node's reason ("pack one case for each") and changes
// nothing; it packs the three into a case from the case form: the page
// lists the case under Private custody by its SSCC with its three units
// and counts only the fourth as loose. It ships the case to dist: acme's
// page lists it outgoing, by SSCC, and no case held. dist's page shows the
// shipment incoming from acme with the case's SSCC and units, and its
// button receives it: the case is dist's, and none of its units is loose.
// dist unpacks it (three loose units, no case), packs two of them into a
// second case and ships it to pharm, which receives it from the "Receive
// a case" form by its SSCC. No serial and no SSCC is in the node's log or
// files.
func TestPortalPrivateCasesOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, _ := startSupplyNode(t, "portal-private-cases")
	sn := func(n string) string { return "PPC7Z3K0" + n }
	acme := supplyOfficer(t, env, home, addr, "acme")
	dist := supplyOfficer(t, env, home, addr, "dist")
	pharm := supplyOfficer(t, env, home, addr, "pharm")
	started := time.Now()

	acme.form("/portal/supply/products/register", url.Values{"gtin": {supplyGTIN}, "name": {"Amoxicillin 500 mg"}, "kind": {"drug"}, "private": {"yes"}},
		http.StatusOK, "Registered Amoxicillin 500 mg (GTIN "+supplyGTIN+").")
	acme.form("/portal/supply/products/commission", url.Values{"gtin": {supplyGTIN}, "lot": {"L1"}, "expiry": {"2030-12-31"},
		"serials": {sn("1") + "\n" + sn("2") + "\n" + sn("3")}}, http.StatusOK, "Commissioned 3 units of GTIN "+supplyGTIN+" in lot L1.")
	acme.form("/portal/supply/products/commission", url.Values{"gtin": {supplyGTIN}, "lot": {"L1"}, "expiry": {"2030-12-31"},
		"serials": {sn("4")}}, http.StatusOK, "Commissioned 1 unit of GTIN "+supplyGTIN+" in lot L1.")
	resp, page := acme.post("/portal/supply/stock/case/pack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "serials": {sn("1") + "\n" + sn("4")}}, acme.csrf)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Not done:") || !strings.Contains(page, "pack one case for each") {
		t.Fatalf("a pack of units of two commissionings: HTTP %d\n%s", resp.StatusCode, page)
	}
	wantPrivateHeld(t, page, "L1", "active", 4)
	noPrivateCase(t, page)

	page = acme.act("pack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "serials": {sn("1") + "\n" + sn("2") + "\n" + sn("3")}}, http.StatusOK,
		"Packed 3 units of GTIN "+supplyGTIN+" into case SSCC "+caseSSCC+".")
	wantPrivateCase(t, page, caseSSCC, 3)
	wantPrivateHeld(t, page, "L1", "active", 1)
	page = acme.act("ship", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "to": {"dist"}}, http.StatusOK, "Shipped case SSCC "+caseSSCC+" with its units to dist.")
	noPrivateCase(t, page)
	wantPrivateHeld(t, page, "L1", "active", 1)
	if out := between(page, `id="supply-private-outgoing"`, "</table>"); !strings.Contains(out, `<td class="shipment-to">dist</td><td>L1</td><td>3</td><td class="shipment-cases">`+caseSSCC+`</td>`) {
		t.Fatalf("acme's warehouse does not list the case shipped to dist:\n%s", out)
	}

	_, page = dist.get("/portal/supply/stock")
	claim := wantIncoming(t, page, "acme", 3)
	if in := between(page, `id="supply-private-incoming"`, "</table>"); !strings.Contains(in, `<td class="shipment-cases">`+caseSSCC+`</td>`) || !strings.Contains(in, "Receive 1 case from acme") {
		t.Fatalf("dist's warehouse does not name the incoming case:\n%s", in)
	}
	page = dist.form("/portal/supply/stock/receive-shipment", url.Values{"gtin": {supplyGTIN}, "claim": {claim}}, http.StatusOK,
		"Received the shipment from acme (case SSCC "+caseSSCC+"): 3 units of GTIN "+supplyGTIN+".")
	wantPrivateCase(t, page, caseSSCC, 3)
	if strings.Contains(page, `id="supply-private-held"`) || strings.Contains(page, `id="supply-private-incoming"`) || !strings.Contains(page, "holds no loose units of private products") {
		t.Fatalf("dist's warehouse after the receive counts the case's units loose or lists it incoming:\n%s", page)
	}
	page = dist.act("unpack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}}, http.StatusOK, "Unpacked every unit of case SSCC "+caseSSCC+": the case is gone.")
	noPrivateCase(t, page)
	wantPrivateHeld(t, page, "L1", "active", 3)

	dist.act("pack", url.Values{"gtin": {supplyGTIN}, "sscc": {case2SSCC}, "serials": {sn("1") + "\n" + sn("2")}}, http.StatusOK,
		"Packed 2 units of GTIN "+supplyGTIN+" into case SSCC "+case2SSCC+".")
	page = dist.act("ship", url.Values{"gtin": {supplyGTIN}, "sscc": {case2SSCC}, "to": {"pharm"}}, http.StatusOK, "Shipped case SSCC "+case2SSCC+" with its units to pharm.")
	wantPrivateHeld(t, page, "L1", "active", 1)
	page = pharm.act("receive", url.Values{"gtin": {supplyGTIN}, "sscc": {case2SSCC}}, http.StatusOK, "Received case SSCC "+case2SSCC+" with its units.")
	wantPrivateCase(t, page, case2SSCC, 2)
	if strings.Contains(page, `id="supply-private-held"`) {
		t.Fatalf("pharm's warehouse counts the case's units loose:\n%s", page)
	}
	t.Logf("a refused pack, two packs, two case ships, two receives and an unpack in the portal took %v", time.Since(started).Round(time.Millisecond))
	p.interrupt(t)
	secrets := []string{sn("1"), sn("2"), sn("3"), sn("4"), caseSSCC, case2SSCC}
	noPlaintext(t, home, p.output(), inPlainOrBase64(secrets)...)
}

// wantPrivateCase wants the warehouse page's private cases to be one row:
// sscc of supplyGTIN with units of lot L1.
func wantPrivateCase(t *testing.T, page, sscc string, units int) {
	t.Helper()
	table := between(page, `id="supply-private-cases"`, "</table>")
	row := between(table, `<span class="case-sscc">`+sscc+`</span>`, "</tr>")
	for _, want := range []string{"Amoxicillin 500 mg", supplyGTIN, "<td>L1</td>", "<td>" + strconv.Itoa(units) + "</td>"} {
		if !strings.Contains(row, want) || strings.Count(table, "<tr>") != 2 {
			t.Fatalf("the warehouse's private cases are not %s with %d units:\n%s", sscc, units, table)
		}
	}
}

// noPrivateCase wants the warehouse page to list no private case.
func noPrivateCase(t *testing.T, page string) {
	t.Helper()
	if strings.Contains(page, `id="supply-private-cases"`) {
		t.Fatalf("the warehouse lists a private case:\n%s", between(page, `id="supply-private-cases"`, "</table>"))
	}
}
