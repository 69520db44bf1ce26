package records_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
)

// TestPrivateStockCountsCases: an organization's private stock with cases,
// each act captured as the portal's case forms capture it. acme
// commissions three units and then one; a pack of units of both
// commissionings is refused ("pack one case for each"); it packs the
// three into a case (held: the case, SSCC from its journal, three units
// of lot L1, counted as packed and not as loose; one loose unit) and ships
// the case to dist (acme: one loose unit, the case outgoing; dist: the
// case incoming from acme with its SSCC; rival: nothing). dist receives
// the shipment by its claim, by case (held: the case, no loose unit), then
// unpacks it (three loose units, no case).
func TestPrivateStockCountsCases(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "rival", Name: "Rival", Type: carechain.OrgWholesaler},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newSupplyService(t, n, kr)
	const gtin, sscc = "00312345678906", "106141412345678908"
	signer := func(org string) records.Signer { return w.signers[org+"/admin"] }
	stock := privateStockOf(t, n, svc)
	want := func(org, loose, cases, packed string) {
		t.Helper()
		st := stock(org)
		if got := heldText(st.Held); got != loose {
			t.Errorf("%s holds loose %q, want %q", org, got, loose)
		}
		if got := casesText(st.Cases); got != cases {
			t.Errorf("%s holds the cases %q, want %q", org, got, cases)
		}
		if got := heldText(st.Packed); got != packed {
			t.Errorf("%s holds packed %q, want %q", org, got, packed)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	capture := func(org string, e supply.Event) error {
		e.GTIN = gtin
		_, err := svc.SupplyCapture(ctx, signer(org), []supply.Event{e})
		return err
	}
	if err := svc.SupplyRegister(ctx, signer("acme"), supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials, other := []string{"SCASE-0001", "SCASE-0002", "SCASE-0003"}, []string{"SCASE-0009"}
	for _, sns := range [][]string{serials, other} {
		if err := svc.SupplyCommission(ctx, signer("acme"), gtin, "L1", "2030-12-31", sns); err != nil {
			t.Fatal(err)
		}
	}
	err := capture("acme", supply.Event{Action: supply.ActPack, Serials: append(serials[:1:1], other...), SSCCs: []string{sscc}})
	if carechain.KindOf(err) != carechain.KindInvalid || !strings.Contains(err.Error(), "pack one case for each") {
		t.Fatalf("a pack of units of two custody keys: %v", err)
	}
	want("acme", "Amoxicillin L1 active 4", "", "")
	if err := capture("acme", supply.Event{Action: supply.ActPack, Serials: serials, SSCCs: []string{sscc}}); err != nil {
		t.Fatal(err)
	}
	want("acme", "Amoxicillin L1 active 1", sscc+" Amoxicillin [L1] 3", "Amoxicillin L1 active 3")
	if err := capture("acme", supply.Event{Action: supply.ActShip, SSCCs: []string{sscc}, To: "dist"}); err != nil {
		t.Fatal(err)
	}
	want("acme", "Amoxicillin L1 active 1", "", "")
	acme, dist := stock("acme"), stock("dist")
	if len(acme.Outgoing) != 1 || acme.Outgoing[0].To != "dist" || acme.Outgoing[0].Units != 3 || fmt.Sprint(acme.Outgoing[0].SSCCs) != "["+sscc+"]" {
		t.Fatalf("acme's outgoing shipments: %+v", acme.Outgoing)
	}
	if len(dist.Held)+len(dist.Cases)+len(dist.Outgoing) != 0 || len(dist.Incoming) != 1 {
		t.Fatalf("dist's stock before the receive: %+v", dist)
	}
	in := dist.Incoming[0]
	if in.From != "acme" || in.Units != 3 || fmt.Sprint(in.SSCCs) != "["+sscc+"]" || fmt.Sprint(in.Lots) != "[L1]" {
		t.Fatalf("dist's incoming shipment: %+v", in)
	}
	if st := stock("rival"); len(st.Held)+len(st.Cases)+len(st.Incoming)+len(st.Outgoing) != 0 {
		t.Fatalf("rival sees %+v", st)
	}
	if got, err := svc.ReceiveShipment(ctx, signer("dist"), gtin, in.Claim); err != nil || got.Units != 3 || fmt.Sprint(got.SSCCs) != "["+sscc+"]" {
		t.Fatalf("dist receives the case: %+v %v", got, err)
	}
	want("dist", "", sscc+" Amoxicillin [L1] 3", "Amoxicillin L1 active 3")
	if st := stock("acme"); len(st.Outgoing) != 0 {
		t.Fatalf("acme's outgoing after the receive: %+v", st.Outgoing)
	}
	if err := capture("dist", supply.Event{Action: supply.ActUnpack, SSCCs: []string{sscc}}); err != nil {
		t.Fatal(err)
	}
	want("dist", "Amoxicillin L1 active 3", "", "")
}

// casesText is cases as "sscc product lots units", joined by "; ".
func casesText(cs []records.PrivateCase) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s %v %d", c.SSCC, c.Product, c.Lots, c.Units))
	}
	return strings.Join(out, "; ")
}
