package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPortalPrivateSupplyOnInitConsortium runs a private product through
// the portal's supply pages on an init-made consortium over plain HTTP.
// acme's supply officer registers the product with "Private custody"
// ticked (the product list says so), commissions four units (its
// Warehouse lists them under Private custody: the ledger's holdings do
// not count them) and ships three to dist (one held, three shipped to
// dist). dist's Warehouse shows the shipment incoming from acme, three
// units of lot L1; a receive without the form's token is refused and
// changes nothing; the receive button takes it whole. dist ships two to
// pharm, whose verify page answers GENUINE offered by dist and DO NOT
// ACCEPT offered by rival ("not shipped to you by rival"); pharm receives
// them with the serials scanned, verifies one as its own with a Dispense
// button, dispenses it from the page (the node co-signs with the
// officer's key), and a second scan says it was dispensed. dist flags its
// last unit as suspect: its Warehouse counts it so and alerts to it.
// acme's Warehouse then counts only its one unit, and nothing once acme
// decommissions it; dist's officer may not open the manufacturer's page. No serial is in the node's log or files.
func TestPortalPrivateSupplyOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, _ := startSupplyNode(t, "portal-private")
	sn := func(n string) string { return "PPV7Z3K0" + n }
	acme := supplyOfficer(t, env, home, addr, "acme")
	dist := supplyOfficer(t, env, home, addr, "dist")
	pharm := supplyOfficer(t, env, home, addr, "pharm")
	started := time.Now()

	page := acme.form("/portal/supply/products/register", url.Values{"gtin": {supplyGTIN}, "name": {"Amoxicillin 500 mg"}, "kind": {"drug"}, "private": {"yes"}},
		http.StatusOK, "Registered Amoxicillin 500 mg (GTIN "+supplyGTIN+").")
	if card := between(page, `id="product-`+supplyGTIN+`"`, "</p>"); !strings.Contains(card, "private custody") {
		t.Fatalf("the product list does not say the product is private:\n%s", card)
	}
	acme.form("/portal/supply/products/commission", url.Values{"gtin": {supplyGTIN}, "lot": {"L1"}, "expiry": {"2030-12-31"},
		"serials": {sn("1") + "\n" + sn("2") + "\n" + sn("3") + "\n\n" + sn("4") + "\n"}}, http.StatusOK, "Commissioned 4 units of GTIN "+supplyGTIN+" in lot L1.")
	_, page = acme.get("/portal/supply/stock")
	wantPrivateHeld(t, page, "L1", "active", 4)
	page = acme.form("/portal/supply/stock/ship", url.Values{"gtin": {supplyGTIN}, "to": {"dist"}, "serials": {sn("1") + "\n" + sn("2") + "\n" + sn("3")}},
		http.StatusOK, "Shipped to dist: 3 units of GTIN "+supplyGTIN+".")
	wantPrivateHeld(t, page, "L1", "active", 1)
	if out := between(page, `id="supply-private-outgoing"`, "</table>"); !strings.Contains(out, `<td class="shipment-to">dist</td><td>L1</td><td>3</td>`) {
		t.Fatalf("acme's warehouse does not list the shipment to dist:\n%s", out)
	}

	_, page = dist.get("/portal/supply/stock")
	claim := wantIncoming(t, page, "acme", 3)
	resp, refused := dist.post("/portal/supply/stock/receive-shipment", url.Values{"gtin": {supplyGTIN}, "claim": {claim}}, "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(refused, "security token is missing") {
		t.Fatalf("a receive without the form's token: HTTP %d\n%s", resp.StatusCode, refused)
	}
	_, page = dist.get("/portal/supply/stock")
	wantIncoming(t, page, "acme", 3)
	page = dist.form("/portal/supply/stock/receive-shipment", url.Values{"gtin": {supplyGTIN}, "claim": {claim}}, http.StatusOK,
		"Received the shipment from acme: 3 units of GTIN "+supplyGTIN+".")
	wantPrivateHeld(t, page, "L1", "active", 3)
	if strings.Contains(page, `id="supply-private-incoming"`) {
		t.Fatalf("dist's warehouse still lists the received shipment:\n%s", page)
	}
	dist.form("/portal/supply/stock/ship", url.Values{"gtin": {supplyGTIN}, "to": {"pharm"}, "serials": {sn("1") + "\n" + sn("2")}},
		http.StatusOK, "Shipped to pharm: 2 units of GTIN "+supplyGTIN+".")
	page = dist.form("/portal/supply/stock/flag", url.Values{"gtin": {supplyGTIN}, "serial": {sn("3")}, "scope": {"unit"}, "reason": {"torn seal"}},
		http.StatusOK, "Flagged as suspect: 1 unit of GTIN "+supplyGTIN+".")
	wantPrivateHeld(t, page, "L1", "suspect", 1)
	if alert := between(page, `id="supply-stops"`, "</section>"); !strings.Contains(alert, "1 unit of Amoxicillin 500 mg, lot L1: the unit is suspect") {
		t.Fatalf("dist's warehouse does not alert to its suspect private unit:\n%s", alert)
	}

	pharm.verify(sn("1"), "dist", "GENUINE", "<dt>Held by</dt><dd>dist</dd>")
	pharm.verify(sn("1"), "rival", "DO NOT ACCEPT", "the unit was not shipped to you by rival: its serial may be copied")
	page = pharm.form("/portal/supply/stock/receive", url.Values{"gtin": {supplyGTIN}, "serials": {sn("1") + "\n" + sn("2")}}, http.StatusOK,
		"Received: 2 units of GTIN "+supplyGTIN+".")
	wantPrivateHeld(t, page, "L1", "active", 2)
	page = pharm.verify(sn("1"), "", "GENUINE", "<dt>Held by</dt><dd>pharm</dd>")
	if !strings.Contains(page, `id="supply-dispense"`) {
		t.Fatalf("a private unit the pharmacy holds offers no dispense:\n%s", page)
	}
	pharm.form("/portal/supply/dispense", url.Values{"gtin": {supplyGTIN}, "serial": {sn("1")}}, http.StatusOK,
		"Dispensed: the unit of GTIN "+supplyGTIN+" has left the supply chain.")
	pharm.verify(sn("1"), "", "DO NOT ACCEPT", "dispensed")
	_, page = pharm.get("/portal/supply/stock")
	wantPrivateHeld(t, page, "L1", "active", 1)

	_, page = acme.get("/portal/supply/stock")
	wantPrivateHeld(t, page, "L1", "active", 1)
	if strings.Contains(page, `id="supply-private-outgoing"`) {
		t.Fatalf("acme's warehouse still lists the received shipment:\n%s", page)
	}
	page = acme.form("/portal/supply/stock/decommission", url.Values{"gtin": {supplyGTIN}, "serials": {sn("4")}}, http.StatusOK,
		"Decommissioned: 1 unit of GTIN "+supplyGTIN+".")
	if strings.Contains(page, `id="private-h"`) || !strings.Contains(page, "holds no units and none are shipped to it") {
		t.Fatalf("acme's warehouse after its last private unit is decommissioned:\n%s", page)
	}
	if resp, page := dist.get("/portal/supply/products"); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "This page is for a manufacturer") {
		t.Fatalf("dist's products page: HTTP %d", resp.StatusCode)
	}
	t.Logf("register, commission, two ships, two receives, verifies and a dispense in the portal took %v", time.Since(started).Round(time.Millisecond))
	p.interrupt(t)
	noPlaintext(t, home, p.output(), inPlainOrBase64([]string{sn("1"), sn("2"), sn("3"), sn("4")})...)
}

// form posts a supply form with the officer's token and wants status and
// done on the page.
func (c *supplyOfficerClient) form(path string, form url.Values, status int, done string) string {
	c.t.Helper()
	resp, page := c.post(path, form, c.csrf)
	if resp.StatusCode != status || !strings.Contains(page, done) {
		c.t.Fatalf("POST %s: HTTP %d, want %d and %q:\n%s", path, resp.StatusCode, status, done, page)
	}
	return page
}

// verify scans serial of supplyGTIN offered by seller on the verify page
// and wants the verdict and reason on it.
func (c *supplyOfficerClient) verify(serial, seller, verdict, reason string) string {
	c.t.Helper()
	page := c.form("/portal/supply/verify", url.Values{"gtin": {supplyGTIN}, "serial": {serial}, "seller": {seller}}, http.StatusOK, reason)
	if word := between(page, `class="verdict-word">`, "<"); word != verdict {
		c.t.Fatalf("a unit offered by %q: %q, want %q:\n%s", seller, word, verdict, page)
	}
	return page
}

// wantPrivateHeld wants the warehouse page's private units to be one row:
// units of supplyGTIN in lot with status.
func wantPrivateHeld(t *testing.T, page, lot, status string, units int) {
	t.Helper()
	table := between(page, `id="supply-private-held"`, "</table>")
	want := "<td>" + lot + "</td><td>2030-12-31</td><td class=\"unit-status\">" + status + "</td><td>" + strconv.Itoa(units) + "</td>"
	if !strings.Contains(table, want) || strings.Count(table, "<tr>") != 2 {
		t.Fatalf("the warehouse's private units are not %d %s of lot %s:\n%s", units, status, lot, table)
	}
}

var claimField = regexp.MustCompile(`name="claim" value="([0-9a-f]+)"`)

// wantIncoming wants the warehouse page to list one private shipment of
// supplyGTIN incoming from sender with units of lot L1, and returns its
// claim.
func wantIncoming(t *testing.T, page, from string, units int) string {
	t.Helper()
	table := between(page, `id="supply-private-incoming"`, "</table>")
	want := `<td class="shipment-from">` + from + "</td><td>L1</td><td>" + strconv.Itoa(units) + "</td>"
	m := claimField.FindStringSubmatch(table)
	if !strings.Contains(table, want) || strings.Count(table, "<tr>") != 2 || m == nil {
		t.Fatalf("the warehouse does not list %d units incoming from %s:\n%s", units, from, table)
	}
	return m[1]
}
