package records_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestPrivateShipSaleSealedToParties ships private units with a sale (a
// purchase order, an invoice, a price): the shipper's and the receiver's
// journals hold it — the receiver's from the shipment its node opened,
// with the seller — and their EPCIS exports carry it in a
// TransactionEvent; a competitor's export holds none of it, a receive
// naming a sale of its own is refused, and no file of the node (the
// blocks and state every node holds; the journal is in memory here) holds
// the order's or the invoice's number or the price.
func TestPrivateShipSaleSealedToParties(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "rival", Name: "Rival", Type: carechain.OrgWholesaler},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newSupplyService(t, n, kr)
	admin := supplyAdmins(t, n)
	const gtin = "00312345678906"
	if err := svc.SupplyRegister(ctx, w.signers["acme/admin"], supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"SALE-0001", "SALE-0002"}
	if err := svc.SupplyCommission(ctx, w.signers["acme/admin"], gtin, "L1", "2030-12-31", serials); err != nil {
		t.Fatal(err)
	}
	biz := []supply.BizTransaction{{Type: "po", ID: "PO-7731946"}, {Type: "inv", ID: "INV-5518203"}}
	price := &supply.Price{Amount: "48613.27", Currency: "EUR", Per: "total"}
	if _, err := svc.TransferAs(ctx, w.signers["acme/admin"], records.SupplyTransferRequest{Action: tx.MoveShip, GTIN: gtin, Serials: serials, To: "dist",
		BizTransactions: biz, Price: price}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.SupplyTransfer(ctx, admin("dist"), records.SupplyTransferRequest{Action: tx.MoveReceive, GTIN: gtin, Serials: serials, BizTransactions: biz})
	if err == nil || !strings.Contains(err.Error(), "a receive takes them from the shipment") {
		t.Fatalf("a receive naming its own sale: %v", err)
	}
	if _, err := svc.SupplyTransfer(ctx, admin("dist"), records.SupplyTransferRequest{Action: tx.MoveReceive, GTIN: gtin, Serials: serials}); err != nil {
		t.Fatal(err)
	}
	for org, want := range map[string]string{"acme": "ship", "dist": "receive"} {
		evs, err := svc.SupplyEvents(admin(org), supply.EventQuery{BizSteps: []string{map[string]string{"ship": "shipping", "receive": "receiving"}[want]}})
		if err != nil || len(evs) != 1 || !reflect.DeepEqual(evs[0].BizTransactions, biz) || *evs[0].Price != *price {
			t.Fatalf("%s's %s: %v %+v", org, want, err, evs)
		}
		if want == "receive" && evs[0].From != "acme" {
			t.Fatalf("dist's receive names the seller %q, want acme", evs[0].From)
		}
		doc := supply.NewEPCISDocument(evs, time.Now())
		if l := doc.EPCISBody.EventList; len(l) != 2 || l[1].Type != "TransactionEvent" || l[1].SourceList[0].Source != "urn:carechain:org:acme" ||
			l[1].DestinationList[0].Destination != "urn:carechain:org:dist" || len(l[1].BizTransactionList) != 2 {
			t.Fatalf("%s's export: %+v", org, l)
		}
	}
	evs, err := svc.SupplyEvents(admin("rival"), supply.EventQuery{})
	if err != nil || len(evs) != 0 {
		t.Fatalf("rival's export: %v %+v", err, evs)
	}
	w.homes, w.nodes = []node.Home{n.Home()}, []*node.Node{n}
	noMarkersOnDisk(t, w, []string{"PO-7731946", "INV-5518203", "48613.27"})
}
