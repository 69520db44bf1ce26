package records_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestSupplyTransferPrivateCustody runs private units through the node's
// custody keys on one node serving a manufacturer, a wholesaler, a
// pharmacy and a competitor: the wholesaler receives a shipment whole
// (a part of it is refused, and so is the competitor's claim of it); a
// rotation of the wholesaler's key leaves its custody keys findable; the
// pharmacy verifies a unit in transit to it as genuine from the
// wholesaler and not from the competitor, receives it, and dispenses it
// only with the pharmacist's co-signature over the groups the node names.
func TestSupplyTransferPrivateCustody(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "pharm", Name: "Pharm", Type: carechain.OrgPharmacy},
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
	serials := []string{"PRIV-0001", "PRIV-0002"}
	if err := svc.SupplyCommission(ctx, w.signers["acme/admin"], gtin, "L1", "2030-12-31", serials); err != nil {
		t.Fatal(err)
	}
	transfer := func(org string, req records.SupplyTransferRequest) (records.SupplyTransferResult, error) {
		req.GTIN = gtin
		if req.Action == tx.MoveShip { // signed by the shipper's staff member
			return svc.TransferAs(ctx, w.signers[org+"/admin"], req)
		}
		return svc.SupplyTransfer(ctx, admin(org), req)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.MoveShip, Serials: serials, To: "acme"}); err == nil || !strings.Contains(err.Error(), "not another manufacturer") {
		t.Fatalf("a ship to the shipper: %v", err)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.MoveShip, Serials: serials, To: "dist"}); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer("rival", records.SupplyTransferRequest{Action: tx.MoveReceive, Serials: serials}); !errors.Is(err, records.ErrSupplyNoKey) {
		t.Fatalf("rival's claim of the shipment: %v", err)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveReceive, Serials: serials[:1]}); err == nil || !strings.Contains(err.Error(), "received whole") {
		t.Fatalf("a part of the shipment received: %v", err)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveReceive, Serials: serials}); err != nil {
		t.Fatal(err)
	}
	rotated, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr.Add("dist", rotated) // a newer key of dist: the keys derived from the earlier one are still found
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveShip, Serials: serials[:1], To: "pharm"}); err != nil {
		t.Fatal(err)
	}
	verify := func(serial, seller string) supply.Verification {
		v, err := svc.VerifyUnit(admin("pharm"), supply.Scan{GTIN: gtin, Serial: serial, Seller: seller})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(serials[0], "dist"); !v.Genuine || v.Custodian != "dist" || v.Status != supply.StatusInTransit {
		t.Fatalf("the pharmacy's verify of a unit shipped to it by dist: %+v", v)
	}
	if v := verify(serials[0], "rival"); v.Genuine || !strings.Contains(strings.Join(v.Reasons, ";"), "not shipped to you by rival") {
		t.Fatalf("a unit offered by rival: %+v", v)
	}
	if v := verify(serials[1], "dist"); v.Genuine || !strings.Contains(strings.Join(v.Reasons, ";"), "not shipped to you by dist") {
		t.Fatalf("a unit dist holds but did not ship: %+v", v)
	}
	if _, err := transfer("pharm", records.SupplyTransferRequest{Action: tx.MoveReceive, Serials: serials[:1]}); err != nil {
		t.Fatal(err)
	}
	plan, err := transfer("pharm", records.SupplyTransferRequest{Action: tx.MoveDispense, Serials: serials[:1]})
	if err != nil || len(plan.Cosign) != 1 || len(plan.Heights) != 0 {
		t.Fatalf("the dispense's groups: %v %+v", err, plan)
	}
	digest := supply.DispenseDigest(chainID, gtin, plan.Cosign[0].Units, "pharm/admin")
	bad := ed25519.Sign(newKey(t), digest)
	if _, err := transfer("pharm", records.SupplyTransferRequest{Action: tx.MoveDispense, Serials: serials[:1], Sigs: [][]byte{bad}}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a dispense with a co-signature by another key: %v", err)
	}
	good := ed25519.Sign(w.signers["pharm/admin"].Key, digest)
	if _, err := transfer("pharm", records.SupplyTransferRequest{Action: tx.MoveDispense, Serials: serials[:1], Sigs: [][]byte{good}}); err != nil {
		t.Fatal(err)
	}
	if v := verify(serials[0], "pharm"); v.Genuine || v.Status != supply.StatusDispensed {
		t.Fatalf("a dispensed unit: %+v", v)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveDecommission, Serials: serials[:1]}); !errors.Is(err, records.ErrNotHeld) {
		t.Fatalf("dist moves a unit it shipped away: %v", err)
	}
	// The custody notes stay on the node: no export shows them, and no
	// client records one.
	for org, want := range map[string]string{"acme": "commission ship", "dist": "receive ship", "pharm": "receive dispense"} {
		evs, err := svc.SupplyEvents(admin(org), supply.EventQuery{})
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
			if e.Custody != nil {
				t.Errorf("%s's export shows a custody note", org)
			}
		}
		if err != nil || strings.Join(acts, " ") != want {
			t.Errorf("%s's events: %v %q, want %q", org, err, acts, want)
		}
	}
	note := supply.Event{Action: supply.ActDecommission, GTIN: gtin, Serials: serials[1:], Custody: &supply.CustodyNote{Label: "commission/00"}}
	if err := svc.RecordSupplyEvent(admin("dist"), note); err == nil || !strings.Contains(err.Error(), "no custody note") {
		t.Fatalf("a client's custody note: %v", err)
	}
}
