package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPortalSupplyCasesOnInitConsortium runs the Warehouse page's cases
// on an init-made consortium over plain HTTP. acme's supply officer packs
// three of four scanned units into a case: the page lists the case by its
// SSCC, held, with its three units, and counts only the fourth as loose
// stock. A ship of a packed unit on its own, a pack of a packed unit and a
// pack under an SSCC with a wrong check digit are refused with the
// ledger's reason and a 4xx, and change nothing. acme ships the case to
// dist; dist's officer sees it incoming (its SSCC not in dist's journal
// yet) and receives it, then unpacks one unit and the rest: the case is
// gone and its units are dist's loose stock, as the CLI's verify says. No
// serial and no SSCC is in the node's log or files.
func TestPortalSupplyCasesOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "portal-cases")
	sn := func(n string) string { return "PCQ7Z3K0" + n }
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug", "--private=false")...)
	mustRun(t, env, sup("acme/admin", "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31",
		"--serial", sn("1"), "--serial", sn("2"), "--serial", sn("3"), "--serial", sn("4"))...)
	acme := supplyOfficer(t, env, home, addr, "acme")
	dist := supplyOfficer(t, env, home, addr, "dist")
	started := time.Now()

	page := acme.act("pack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "serials": {sn("1") + "\n" + sn("2") + "\n\n" + sn("3") + "\n"}}, http.StatusOK,
		"Packed 3 units of GTIN "+supplyGTIN+" into case SSCC "+caseSSCC+".")
	wantCase(t, page, caseSSCC, "L1", 3, "held")
	wantLoose(t, page, "active", 1)
	for _, c := range []struct {
		act  string
		form url.Values
		code int
		want string
	}{
		{"/portal/supply/stock/ship", url.Values{"gtin": {supplyGTIN}, "to": {"dist"}, "serials": {sn("2")}}, http.StatusUnprocessableEntity, "the unit is packed in a case; unpack it first"},
		{"/portal/supply/stock/case/pack", url.Values{"gtin": {supplyGTIN}, "sscc": {case2SSCC}, "serials": {sn("1")}}, http.StatusConflict, "already packed in a case"},
		{"/portal/supply/stock/case/pack", url.Values{"gtin": {supplyGTIN}, "sscc": {"106141412345678907"}, "serials": {sn("4")}}, http.StatusUnprocessableEntity, "GS1 check digit"},
	} {
		resp, page := acme.post(c.act, c.form, acme.csrf)
		if resp.StatusCode != c.code || !strings.Contains(page, "Not done:") || !strings.Contains(page, c.want) {
			t.Fatalf("POST %s %v: HTTP %d, want %d and %q:\n%s", c.act, c.form, resp.StatusCode, c.code, c.want, page)
		}
		wantCase(t, page, caseSSCC, "L1", 3, "held")
		wantLoose(t, page, "active", 1)
	}
	if out := mustRun(t, env, sup("acme/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("2"))...); !strings.Contains(out, "custodian: acme") || !strings.Contains(out, "packed in: case SSCC "+caseSSCC) {
		t.Fatalf("a unit after a refused ship: %s", out)
	}

	page = acme.act("ship", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "to": {"dist"}}, http.StatusOK, "Shipped case SSCC "+caseSSCC+" with its units to dist.")
	wantCase(t, page, caseSSCC, "L1", 3, "in transit to dist")
	wantLoose(t, page, "active", 1)

	_, page = dist.get("/portal/supply/stock")
	wantCase(t, page, "", "L1", 3, "incoming from acme")
	if !strings.Contains(page, "holds no loose units") {
		t.Fatalf("dist's warehouse counts packed units as loose:\n%s", page)
	}
	page = dist.act("receive", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}}, http.StatusOK, "Received case SSCC "+caseSSCC+" with its units.")
	wantCase(t, page, caseSSCC, "L1", 3, "held")
	page = dist.act("unpack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}, "serials": {sn("1")}}, http.StatusOK,
		"Unpacked 1 unit of GTIN "+supplyGTIN+" from case SSCC "+caseSSCC+".")
	wantCase(t, page, caseSSCC, "L1", 2, "held")
	wantLoose(t, page, "active", 1)
	page = dist.act("unpack", url.Values{"gtin": {supplyGTIN}, "sscc": {caseSSCC}}, http.StatusOK, "Unpacked every unit of case SSCC "+caseSSCC+": the case is gone.")
	if strings.Contains(page, `id="supply-cases"`) || !strings.Contains(page, "holds no cases or pallets") {
		t.Fatalf("dist's warehouse after the last unpack still lists a case:\n%s", page)
	}
	wantLoose(t, page, "active", 3)
	t.Logf("pack, refusals, ship, receive and two unpacks in the portal took %v", time.Since(started).Round(time.Millisecond))
	if out := mustRun(t, env, sup("dist/admin", "verify", "--gtin", supplyGTIN, "--serial", sn("2"), "--seller", "dist")...); !strings.Contains(out, "custodian: dist") || strings.Contains(out, "packed in") {
		t.Fatalf("an unpacked unit through the CLI: %s", out)
	}
	p.interrupt(t)
	secrets := []string{sn("1"), sn("2"), sn("3"), sn("4"), caseSSCC}
	noPlaintext(t, home, p.output(), inPlainOrBase64(secrets)...)
}

// supplyOfficerClient is an organization's supply officer signed in to the
// portal.
type supplyOfficerClient struct {
	*portalClient
	t    *testing.T
	csrf string
}

// supplyOfficer registers org's supply officer, its key in home's
// keystore, and signs it in to the portal at addr.
func supplyOfficer(t *testing.T, env []string, home, addr, org string) *supplyOfficerClient {
	t.Helper()
	mustRun(t, env, "keys", "new", org+".officer", "--home", home)
	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", org+".officer", "--home", home))
	mustRun(t, env, "tx", "register", "--as", org+"/admin", "--id", org+"/officer", "--role", "supply-officer", "--pubkey", pub, "--home", home, "--node", addr)
	c := newPortalClient(t, "http://"+addr)
	_, page := c.get("/portal/signin")
	if _, page = c.post("/portal/signin", url.Values{"principal": {org + "/officer"}, "passphrase": {testPassphrase}}, csrfOf(page)); !strings.Contains(page, "Warehouse") {
		t.Fatalf("%s/officer's sign-in:\n%s", org, page)
	}
	_, page = c.get("/portal/supply/stock")
	return &supplyOfficerClient{portalClient: c, t: t, csrf: csrfOf(page)}
}

// act posts a case form's act and wants status and done on the page.
func (c *supplyOfficerClient) act(act string, form url.Values, status int, done string) string {
	c.t.Helper()
	resp, page := c.post("/portal/supply/stock/case/"+act, form, c.csrf)
	if resp.StatusCode != status || !strings.Contains(page, done) {
		c.t.Fatalf("POST case/%s %v: HTTP %d, want %d and %q:\n%s", act, form, resp.StatusCode, status, done, page)
	}
	return page
}

// wantCase wants the warehouse page to list a case of supplyGTIN with
// sscc (none: not in the journal), lot, units and status.
func wantCase(t *testing.T, page, sscc, lot string, units int, status string) {
	t.Helper()
	table := between(page, `id="supply-cases"`, "</table>")
	name := `<span class="meta">not in your journal`
	if sscc != "" {
		name = `<span class="case-sscc">` + sscc + `</span>`
	}
	row := between(table, name, "</tr>")
	for _, want := range []string{"Amoxicillin 500 mg", supplyGTIN, "<td>" + lot + "</td>", "<td>" + strconv.Itoa(units) + "</td>", `<td class="case-status">` + status + "</td>"} {
		if !strings.Contains(row, want) {
			t.Fatalf("the warehouse's case %q lacks %q:\n%s", sscc, want, table)
		}
	}
}

// wantLoose wants the warehouse page's loose stock to be units of
// supplyGTIN in one row with status.
func wantLoose(t *testing.T, page, status string, units int) {
	t.Helper()
	table := between(page, `id="supply-holdings"`, "</table>")
	if want := `<td class="unit-status">` + status + "</td><td>" + strconv.Itoa(units) + "</td>"; !strings.Contains(table, want) || strings.Count(table, "<tr>") != 2 {
		t.Fatalf("the warehouse's loose stock is not %d %s units:\n%s", units, status, table)
	}
}
