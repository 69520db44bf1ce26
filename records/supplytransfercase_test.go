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
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestSupplyTransferPrivateCase runs a case of private units through the
// node's custody keys on one node serving a manufacturer, a wholesaler, a
// pharmacy and a competitor: the manufacturer packs its units into a case
// and ships it, and the wholesaler verifies a unit in it as genuine
// from the manufacturer; a unit in it is not shipped alone; the competitor cannot
// receive it; the wholesaler receives the case whole, unpacks it and ships
// a unit on to the pharmacy, which verifies it as genuine from the
// wholesaler.
func TestSupplyTransferPrivateCase(t *testing.T) {
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
	const gtin, sscc = "00312345678906", "106141412345678908"
	if err := svc.SupplyRegister(ctx, w.signers["acme/admin"], supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials, other := []string{"PCASE-0001", "PCASE-0002", "PCASE-0003"}, []string{"PCASE-0009"}
	for _, sns := range [][]string{serials, other} {
		if err := svc.SupplyCommission(ctx, w.signers["acme/admin"], gtin, "L1", "2030-12-31", sns); err != nil {
			t.Fatal(err)
		}
	}
	transfer := func(org string, req records.SupplyTransferRequest) (records.SupplyTransferResult, error) { // a ship in its two rounds
		req.GTIN = gtin
		out, err := svc.SupplyTransfer(ctx, admin(org), req)
		if err != nil || req.Action != tx.MoveShip {
			return out, err
		}
		for _, g := range out.Cosign {
			req.Sigs = append(req.Sigs, ed25519.Sign(w.signers[org+"/admin"].Key, records.CosignDigest(chainID, org+"/admin", org, req, g)))
		}
		req.Nonce = out.Nonce
		return svc.SupplyTransfer(ctx, admin(org), req)
	}
	cases := []string{sscc}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.TransferPack, Serials: append(serials[:1:1], other...), SSCCs: cases}); err == nil || !strings.Contains(err.Error(), "held by 2 custody keys") {
		t.Fatalf("a pack of units of two keys: %v", err)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.TransferPack, Serials: serials, SSCCs: cases}); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.MoveShip, Serials: serials[:1], To: "dist"}); err == nil || !strings.Contains(err.Error(), "the unit is packed in a case; unpack it first") {
		t.Fatalf("a ship of a packed unit alone: %v", err)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.MoveShip, SSCCs: cases, To: "dist"}); err != nil {
		t.Fatal(err)
	}
	if v, err := svc.VerifyUnit(admin("dist"), supply.Scan{GTIN: gtin, Serial: serials[2], Seller: "acme"}); err != nil || !v.Genuine || v.Status != supply.StatusInTransit {
		t.Fatalf("dist's verify of a unit in the case shipped to it by acme: %v %+v", err, v)
	}
	if _, err := transfer("rival", records.SupplyTransferRequest{Action: tx.MoveReceive, SSCCs: cases}); !errors.Is(err, records.ErrSupplyNoKey) {
		t.Fatalf("rival's claim of the case: %v", err)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveReceive, SSCCs: cases}); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer("acme", records.SupplyTransferRequest{Action: tx.TransferUnpack, SSCCs: cases}); !errors.Is(err, records.ErrNotHeld) {
		t.Fatalf("acme unpacks the case it shipped away: %v", err)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.TransferUnpack, SSCCs: cases}); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer("dist", records.SupplyTransferRequest{Action: tx.MoveShip, Serials: serials[:2], To: "pharm"}); err != nil {
		t.Fatal(err)
	}
	v, err := svc.VerifyUnit(admin("pharm"), supply.Scan{GTIN: gtin, Serial: serials[0], Seller: "dist"})
	if err != nil || !v.Genuine || v.Custodian != "dist" || v.Status != supply.StatusInTransit {
		t.Fatalf("the pharmacy's verify of a unit of the case shipped to it by dist: %v %+v", err, v)
	}
	for org, want := range map[string]string{"acme": "commission commission pack ship", "dist": "receive unpack ship"} {
		evs, err := svc.SupplyEvents(admin(org), supply.EventQuery{})
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
		}
		if err != nil || strings.Join(acts, " ") != want {
			t.Errorf("%s's events: %v %q, want %q", org, err, acts, want)
		}
	}
}
