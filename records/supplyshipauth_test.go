package records_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestSupplyShipmentSenderAuthenticated: a ship signed in two rounds by
// acme's staff member (the groups and claim keys, then the statements with
// the node's nonce; another key or no nonce is refused) seals a statement
// the receiver's node checks, so dist
// verifies the unit as genuine from acme; a shipment whose statement says
// acme but was signed by rival's admin, or by a key that is not acme's
// admin's, or not signed at all, is of unknown origin: not from acme.
// dist's bundle of the signed unit carries the statement, of the others none.
func TestSupplyShipmentSenderAuthenticated(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "rival", Name: "Rival", Type: carechain.OrgWholesaler},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := newSupplyService(t, n, kr)
	const gtin = "00312345678906"
	acme := w.signers["acme/admin"]
	if err := svc.SupplyRegister(ctx, acme, supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4"}
	if err := svc.SupplyCommission(ctx, acme, gtin, "L1", "2030-12-31", serials); err != nil {
		t.Fatal(err)
	}
	ship := records.SupplyTransferRequest{Action: tx.MoveShip, GTIN: gtin, Serials: serials[:1], To: "dist"}
	// Two rounds: the groups and claim keys, then the signed statements with
	// the node's nonce; a statement by another key, or without the nonce,
	// is refused before anything is submitted.
	me, err := n.App().Latest().Principal("acme/admin")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := svc.SupplyTransfer(ctx, me, ship)
	if err != nil || len(plan.Cosign) != 1 || len(plan.Cosign[0].Claim) != ed25519.PublicKeySize || len(plan.Nonce) == 0 || len(plan.Heights) != 0 {
		t.Fatalf("the ship's groups: %v %+v", err, plan)
	}
	signed := ship
	signed.Sigs = [][]byte{ed25519.Sign(newKey(t), records.CosignDigest(chainID, "acme/admin", "acme", ship, plan.Cosign[0]))}
	signed.Nonce = plan.Nonce
	if _, err := svc.SupplyTransfer(ctx, me, signed); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a ship signed by another key: %v", err)
	}
	signed.Sigs, signed.Nonce = [][]byte{ed25519.Sign(acme.Key, records.CosignDigest(chainID, "acme/admin", "acme", ship, plan.Cosign[0]))}, nil
	if _, err := svc.SupplyTransfer(ctx, me, signed); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("a ship without the nonce: %v", err)
	}
	signed.Nonce = plan.Nonce
	if res, err := svc.SupplyTransfer(ctx, me, signed); err != nil || len(res.Heights) != 1 {
		t.Fatalf("the signed ship: %v %+v", err, res)
	}
	forged := map[string]records.Signer{
		serials[1]: w.signers["rival/admin"],           // another organization's staff
		serials[2]: {ID: "acme/admin", Key: newKey(t)}, // not acme/admin's key
		serials[3]: {},                                 // unsigned
	}
	for sn, signer := range forged {
		req := ship
		req.Serials = []string{sn}
		if err := svc.ForgeShip(ctx, acme, "acme", signer, req); err != nil {
			t.Fatalf("%s: %v", sn, err)
		}
	}
	dist, err := n.App().Latest().Principal("dist/admin")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(sn string) supply.Verification {
		v, err := svc.VerifyUnit(dist, supply.Scan{GTIN: gtin, Serial: sn, Seller: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(serials[0]); !v.Genuine || v.Custodian != "acme" {
		t.Fatalf("a unit acme's staff shipped and signed for: %+v", v)
	}
	for sn, signer := range forged {
		v := verify(sn)
		if why := strings.Join(v.Reasons, "; "); v.Genuine || v.Custodian == "acme" || !strings.Contains(why, "sender is not authenticated") {
			t.Errorf("a shipment signed by %q: %+v", signer.ID, v)
		}
	}
	// The bundle of the signed shipment's unit carries its statement; no
	// forged shipment's bundle does.
	prove := func(sn string) *proof.SupplyBundle {
		_, b, err := svc.ProveUnit(n.App().Latest(), dist, supply.Scan{GTIN: gtin, Serial: sn, Seller: "acme"}, proof.Checkpoint{})
		if err != nil || b.Version != 2 {
			t.Fatalf("the bundle of %s: %v %+v", sn, err, b)
		}
		return b
	}
	if st := prove(serials[0]).Shipment; st == nil || st.From != "acme" || st.To != "dist" || st.Signer != "acme/admin" || len(st.Units) != 1 {
		t.Fatalf("the signed shipment's statement in the bundle: %+v", st)
	}
	for sn := range forged {
		if st := prove(sn).Shipment; st != nil {
			t.Errorf("a forged shipment's statement in the bundle: %+v", st)
		}
	}
}
