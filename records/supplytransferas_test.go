package records_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestNodeSignedActsOfPrivateProducts runs private units through the acts
// a member whose key the node holds makes (the portal's, EPCIS capture's):
// commissioning by capture, ship and receive by SupplyMove and by capture,
// a flag, and a dispense the node co-signs with the pharmacist's key. Each
// takes the private path by itself: the units stay held by custody keys,
// and each organization's export shows its own events once.
func TestNodeSignedActsOfPrivateProducts(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "pharm", Name: "Pharm", Type: carechain.OrgPharmacy},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newSupplyService(t, n, kr)
	const gtin = "00312345678906"
	signer := func(org string) records.Signer { return w.signers[org+"/admin"] }
	if err := svc.SupplyRegister(ctx, signer("acme"), supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"PRIV-0001", "PRIV-0002", "PRIV-0003"}
	capture := func(org string, e supply.Event) {
		t.Helper()
		e.GTIN = gtin
		if _, err := svc.SupplyCapture(ctx, signer(org), []supply.Event{e}); err != nil {
			t.Fatalf("%s captures %s: %v", org, e.Action, err)
		}
	}
	capture("acme", supply.Event{Action: supply.ActCommission, Serials: serials, Lot: "L1", Expiry: "2030-12-31"})
	if err := svc.SupplyMove(ctx, signer("acme"), tx.MoveShip, gtin, "dist", serials); err != nil {
		t.Fatal(err)
	}
	if err := svc.SupplyMove(ctx, signer("dist"), tx.MoveReceive, gtin, "", serials); err != nil {
		t.Fatal(err)
	}
	capture("dist", supply.Event{Action: supply.ActShip, Serials: serials[:2], To: "pharm"})
	if err := svc.SupplyFlag(ctx, signer("dist"), gtin, serials[2], false, "damaged seal"); err != nil {
		t.Fatal(err)
	}
	capture("pharm", supply.Event{Action: supply.ActReceive, Serials: serials[:2]})
	if err := svc.SupplyMove(ctx, signer("pharm"), tx.MoveDispense, gtin, "", serials[:1]); err != nil {
		t.Fatal(err)
	}

	v := n.App().Latest()
	pharm, err := v.Principal("pharm/admin")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []supply.Status{supply.StatusDispensed, supply.StatusActive} {
		got, err := svc.VerifyUnit(pharm, supply.Scan{GTIN: gtin, Serial: serials[i]})
		if err != nil || got.Status != want {
			t.Fatalf("unit %d: %v %+v, want %s", i, err, got, want)
		}
	}
	if err := svc.SupplyMove(ctx, signer("pharm"), tx.MoveShip, gtin, "acme", serials[:1]); err == nil || !strings.Contains(err.Error(), "dispensed") {
		t.Fatalf("a ship of a dispensed unit: %v", err)
	}
	dist, err := v.Principal("dist/admin")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.VerifyUnit(dist, supply.Scan{GTIN: gtin, Serial: serials[2]}); err != nil || got.Genuine || !strings.Contains(strings.Join(got.Reasons, ";"), "suspect") {
		t.Fatalf("the flagged unit: %v %+v", err, got)
	}
	for org, want := range map[string]string{"acme": "commission ship", "dist": "receive ship flag", "pharm": "receive dispense"} {
		p, err := v.Principal(org + "/admin")
		if err != nil {
			t.Fatal(err)
		}
		evs, err := svc.SupplyEvents(p, supply.EventQuery{})
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
		}
		if err != nil || strings.Join(acts, " ") != want {
			t.Errorf("%s's events: %v %q, want %q", org, err, acts, want)
		}
	}
}
