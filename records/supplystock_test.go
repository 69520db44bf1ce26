package records_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestPrivateStockFollowsTheUnits: an organization's stock of a private
// product, which the ledger's holdings by organization do not count, as
// its node tells it from its journal and the shipments sealed to it. acme
// commissions three units (held: 3); ships two to dist (held: 1;
// outgoing: 2 to dist, which dist sees incoming from acme, and pharm and
// rival do not see at all); dist receives the shipment whole by its claim
// (held: 2; nothing pending any more), which pharm may not; dist flags one
// (held: 1 active, 1 suspect) and decommissions the other (held: the
// suspect one).
func TestPrivateStockFollowsTheUnits(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "rival", Name: "Rival", Type: carechain.OrgWholesaler},
		{ID: "pharm", Name: "Pharm", Type: carechain.OrgPharmacy},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newSupplyService(t, n, kr)
	const gtin = "00312345678906"
	signer := func(org string) records.Signer { return w.signers[org+"/admin"] }
	stock := privateStockOf(t, n, svc)
	wantHeld := func(org string, want string) {
		t.Helper()
		if got := heldText(stock(org).Held); got != want {
			t.Fatalf("%s holds %q, want %q", org, got, want)
		}
	}
	if err := svc.SupplyRegister(ctx, signer("acme"), supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"STK-0001", "STK-0002", "STK-0003"}
	if err := svc.SupplyCommission(ctx, signer("acme"), gtin, "L1", "2030-12-31", serials); err != nil {
		t.Fatal(err)
	}
	wantHeld("acme", "Amoxicillin L1 active 3")
	if err := svc.SupplyMove(ctx, signer("acme"), tx.MoveShip, gtin, "dist", serials[:2]); err != nil {
		t.Fatal(err)
	}
	wantHeld("acme", "Amoxicillin L1 active 1")
	acme, dist := stock("acme"), stock("dist")
	if len(acme.Incoming) != 0 || len(acme.Outgoing) != 1 || acme.Outgoing[0].To != "dist" || acme.Outgoing[0].Units != 2 {
		t.Fatalf("acme's shipments: %+v", acme)
	}
	if len(dist.Held) != 0 || len(dist.Outgoing) != 0 || len(dist.Incoming) != 1 {
		t.Fatalf("dist's stock before the receive: %+v", dist)
	}
	in := dist.Incoming[0]
	if in.From != "acme" || in.To != "dist" || in.Units != 2 || fmt.Sprint(in.Lots) != "[L1]" || in.Product != "Amoxicillin" || in.Claim == "" {
		t.Fatalf("dist's incoming shipment: %+v", in)
	}
	for _, org := range []string{"pharm", "rival"} {
		if st := stock(org); len(st.Held)+len(st.Incoming)+len(st.Outgoing) != 0 {
			t.Fatalf("%s sees %+v", org, st)
		}
	}
	if _, err := svc.ReceiveShipment(ctx, signer("pharm"), gtin, in.Claim); carechain.KindOf(err) != carechain.KindInvalid {
		t.Fatalf("pharm receives dist's shipment: %v", err)
	}
	got, err := svc.ReceiveShipment(ctx, signer("dist"), gtin, in.Claim)
	if err != nil || got.From != "acme" || got.Units != 2 {
		t.Fatalf("dist receives: %+v %v", got, err)
	}
	wantHeld("dist", "Amoxicillin L1 active 2")
	if st := stock("acme"); len(st.Outgoing) != 0 || heldText(st.Held) != "Amoxicillin L1 active 1" {
		t.Fatalf("acme after the receive: %+v", st)
	}
	if st := stock("dist"); len(st.Incoming) != 0 {
		t.Fatalf("dist after the receive: %+v", st)
	}
	if err := svc.SupplyFlag(ctx, signer("dist"), gtin, serials[0], false, "torn seal"); err != nil {
		t.Fatal(err)
	}
	wantHeld("dist", "Amoxicillin L1 active 1; Amoxicillin L1 suspect 1")
	if err := svc.SupplyMove(ctx, signer("dist"), tx.MoveDecommission, gtin, "", serials[1:2]); err != nil {
		t.Fatal(err)
	}
	wantHeld("dist", "Amoxicillin L1 suspect 1")
}

// privateStockOf is the private stock svc, on n, gives each organization's
// admin.
func privateStockOf(t *testing.T, n *node.Node, svc *records.Service) func(org string) records.PrivateStock {
	return func(org string) records.PrivateStock {
		t.Helper()
		p, err := n.App().Latest().Principal(org + "/admin")
		if err != nil {
			t.Fatal(err)
		}
		st, err := svc.PrivateStock(p)
		if err != nil {
			t.Fatalf("%s's private stock: %v", org, err)
		}
		return st
	}
}

// heldText is holdings as "product lot status units", joined by "; ".
func heldText(hs []ledger.SupplyHolding) string {
	var out string
	for i, h := range hs {
		if i > 0 {
			out += "; "
		}
		out += fmt.Sprintf("%s %s %s %d", h.Product, h.Lot, h.Status, h.Units)
	}
	return out
}
