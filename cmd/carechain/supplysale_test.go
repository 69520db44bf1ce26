package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/supply"
)

// openSaleGTIN is a product acme registers with open custody here.
const openSaleGTIN = "09506000134352"

// TestSupplySaleThroughCLI ships units with their sale on a real
// init-made node: acme ships a private product's units to dist with
// "supply ship --biz-tx po:… --biz-tx inv:… --price … --currency EUR" and
// dist receives them; both exports hold a TransactionEvent (ADD, the
// bizTransactionList, carechain:price, the owning parties) beside the
// shipping and receiving ObjectEvents, valid for epcis2.js, and rival's
// none. "supply import" of a ship ObjectEvent with its TransactionEvent
// ships with the sale, and so does dist's HTTP capture of one; a
// TransactionEvent alone, and malformed flags, are refused. An open product's sale is in acme's export only. Once the node
// is stopped, no file under its home holds an order number or a price.
func TestSupplySaleThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "sale-test")
	started := time.Now()
	dir := t.TempDir()
	sn := func(n string) string { return "SLX4Q" + n }
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug")...) // private
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", openSaleGTIN, "--name", "Gauze", "--kind", "drug", "--private=false")...)
	for _, g := range []string{supplyGTIN, openSaleGTIN} {
		mustRun(t, env, sup("acme/admin", "commission", "--gtin", g, "--lot", "L1", "--expiry", "2030-12-31", "--serial", sn("1"), "--serial", sn("2"))...)
	}
	ship := func(gtin, serial string, sale ...string) []string {
		return append(sup("acme/admin", "ship", "--gtin", gtin, "--serial", serial, "--to", "dist"), sale...)
	}
	for _, tc := range []struct {
		sale []string
		want string
	}{
		{[]string{"--biz-tx", "po:PO-1", "--price", "1", "--currency", "euro"}, "ISO 4217"},
		{[]string{"--biz-tx", "po:PO-1", "--price", "1.234567", "--currency", "EUR"}, "4 after"},
		{[]string{"--price", "1", "--currency", "EUR"}, "--price needs the sale's business transactions"},
		{[]string{"--biz-tx", "quote:Q-1"}, `business transaction type "quote"`},
	} {
		if out, err := run(t, env, ship(supplyGTIN, sn("1"), tc.sale...)...); err == nil || !strings.Contains(out, tc.want) {
			t.Fatalf("ship with %v: %v\n%s", tc.sale, err, out)
		}
	}
	mustRun(t, env, ship(supplyGTIN, sn("1"), "--biz-tx", "po:PO-QX817731", "--biz-tx", "inv:INV-QX825518", "--price", "48613.27", "--currency", "EUR")...)
	mustRun(t, env, sup("dist/admin", "receive", "--gtin", supplyGTIN, "--serial", sn("1"))...)
	mustRun(t, env, ship(openSaleGTIN, sn("1"), "--biz-tx", "po:PO-QX856604", "--price", "3172.64", "--currency", "USD", "--price-per", "total")...)

	// supply import: a ship ObjectEvent with its TransactionEvent; a
	// TransactionEvent alone is refused.
	now := time.Now()
	sale := supply.Event{Action: supply.ActShip, Time: now, GTIN: supplyGTIN, Serials: []string{sn("2")}, To: "dist",
		BizTransactions: []supply.BizTransaction{{Type: "po", ID: "PO-QX833390"}}, Price: &supply.Price{Amount: "99731.08", Currency: "EUR", Per: "total"}}
	doc := supply.NewEPCISDocument([]supply.Event{sale}, now)
	alone := doc
	alone.EPCISBody.EventList = doc.EPCISBody.EventList[1:]
	writeJSONFile(t, filepath.Join(dir, "alone.json"), alone)
	if out, err := run(t, env, sup("acme/admin", "import", filepath.Join(dir, "alone.json"))...); err == nil ||
		!strings.Contains(out, "an ownership transfer without shipping is not supported: ship the units") {
		t.Fatalf("import of a TransactionEvent alone: %v\n%s", err, out)
	}
	writeJSONFile(t, filepath.Join(dir, "sale.json"), doc)
	if out := mustRun(t, env, sup("acme/admin", "import", filepath.Join(dir, "sale.json"))...); !strings.Contains(out, "imported 1 EPCIS events") {
		t.Fatalf("import of a ship with its sale: %s", out)
	}

	// An HTTP capture by dist: it sells sn1 on to pharm, ship and sale.
	onward := supply.Event{Action: supply.ActShip, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1")}, To: "pharm",
		BizTransactions: []supply.BizTransaction{{Type: "desadv", ID: "DA-QX844217"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if res, err := epcisClients(t, home, addr)("dist/admin").SupplyCapture(ctx, []byte(mustJSON(t, supply.NewEPCISDocument([]supply.Event{onward}, now)))); err != nil || res.EventCount != 1 {
		t.Fatalf("dist's capture of a ship with its sale: %+v %v", res, err)
	}

	for _, tc := range []struct {
		as, gtin string
		want     []string // the business transactions, in the order of the events
	}{
		{"acme/admin", supplyGTIN, []string{"PO-QX817731", "INV-QX825518", "PO-QX833390"}},
		{"dist/admin", supplyGTIN, []string{"PO-QX817731", "INV-QX825518", "DA-QX844217"}},
		{"acme/admin", openSaleGTIN, []string{"PO-QX856604"}},
		{"dist/admin", openSaleGTIN, nil},
		{"rival/admin", "", nil},
	} {
		name := strings.ReplaceAll(tc.as, "/", "-") + tc.gtin + ".json"
		extra := []string{}
		if tc.gtin != "" {
			extra = []string{"--gtin", tc.gtin}
		}
		file, evs := exportEPCIS(t, env, sup, filepath.Join(dir, name), tc.as, extra...)
		var got []string
		sales := 0
		for _, e := range evs {
			for _, bt := range e.BizTransactions {
				got = append(got, bt.ID)
			}
			sales += min(len(e.BizTransactions), 1)
		}
		text := strings.ReplaceAll(string(mustReadFile(t, file)), " ", "") // indented: "key":"value"
		if !slices.Equal(got, tc.want) || strings.Count(text, `"type":"TransactionEvent"`) != sales {
			t.Fatalf("%s's export of %s: business transactions %v, want %v:\n%s", tc.as, tc.gtin, got, tc.want, text)
		}
		if tc.want != nil {
			if !strings.Contains(text, `"type":"TransactionEvent"`) || !strings.Contains(text, `"carechain:price"`) ||
				!strings.Contains(text, `"source":"urn:carechain:org:acme"`) {
				t.Fatalf("%s's export of %s has no TransactionEvent with its price and seller:\n%s", tc.as, tc.gtin, text)
			}
			validateEPCIS(t, file, true, `"valid":true`)
		}
	}
	t.Logf("ships with their sale, imports and exports took %v", time.Since(started).Round(time.Millisecond))
	p.interrupt(t)
	noPlaintext(t, home, "", inPlainOrBase64([]string{"PO-QX817731", "INV-QX825518", "PO-QX833390", "DA-QX844217", "PO-QX856604", "48613.27", "99731.08", "3172.64"})...)
}
