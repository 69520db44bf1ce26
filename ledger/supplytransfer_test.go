package ledger

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// privGTIN is a private product of mfr in privateHarness.
const privGTIN = "00012345600012"

// privProductKey is privGTIN's product key: only the trading partners
// hold it, so only they compute its serial commitments.
var privProductKey = bytes.Repeat([]byte{0x5e}, supply.KeySize)

// privSerials are the serials of the private units the tests commission.
var privSerials = []string{"PRIV-SN-0001", "PRIV-SN-0002", "PRIV-SN-0003"}

func privUnits(serials ...string) [][]byte {
	var out [][]byte
	for _, s := range serials {
		out = append(out, supply.Commitment(privProductKey, privGTIN, s))
	}
	return out
}

// custodyKey is the custody key of label derived from org's secret.
func custodyKey(t testing.TB, org, label string) ed25519.PrivateKey {
	t.Helper()
	k, err := supply.CustodyKey(bytes.Repeat([]byte(org[:1]), 32), label)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// privateHarness is supplyHarness with a pharmacist pharm/pharmacist, a
// wholesaler's supply officer whole/officer, and mfr's private product
// privGTIN.
func privateHarness(t *testing.T) *harness {
	h := supplyHarness(t)
	p := product(privGTIN)
	p.Private = true
	h.ok(h.register("pharm/admin", "pharm/pharmacist", carechain.KindPractitioner, 20, carechain.RolePharmacist),
		h.register("whole/admin", "whole/officer", carechain.KindPractitioner, 21, carechain.RoleSupplyOfficer),
		h.sign("mfr/officer", tx.TypeSupplyProduct, p))
	return h
}

// okTx commits raw alone and fails, with the reason, unless it is accepted.
func (h *harness) okTx(raw []byte) {
	h.t.Helper()
	if code, log := h.blockResp(raw); code != CodeOK {
		h.t.Fatalf("refused: %v %s", code, log)
	}
}

// transfer signs t with custody key k, under its custody signer ID.
func (h *harness) transfer(k ed25519.PrivateKey, t *tx.SupplyTransfer) []byte {
	h.t.Helper()
	id := supply.CustodySigner(pubOf(k))
	h.keys[id] = k
	return h.sign(id, tx.TypeSupplyTransfer, t)
}

// dispense signs a dispense of units by k, co-signed by dispenser with
// its key dk; sign builds the co-signature from the digest (nil: dk's).
func (h *harness) dispense(k ed25519.PrivateKey, dispenser string, dk ed25519.PrivateKey, units [][]byte) []byte {
	h.t.Helper()
	t := &tx.SupplyTransfer{Action: tx.MoveDispense, GTIN: privGTIN, Units: units, Dispenser: dispenser}
	t.DispenserSig = ed25519.Sign(dk, t.DispenseDigest(chainID))
	return h.transfer(k, t)
}

func ship(units [][]byte, claim ed25519.PrivateKey) *tx.SupplyTransfer {
	return &tx.SupplyTransfer{Action: tx.MoveShip, GTIN: privGTIN, Units: units, Claim: pubOf(claim), Details: []byte("sealed to the parties")}
}

func receive(units [][]byte, next ed25519.PrivateKey) *tx.SupplyTransfer {
	return &tx.SupplyTransfer{Action: tx.MoveReceive, GTIN: privGTIN, Units: units, Next: pubOf(next)}
}

func (h *harness) privUnit(serial string) supply.Unit {
	h.t.Helper()
	u, _, err := h.at(0).SupplyUnit(privGTIN, privUnits(serial)[0])
	if err != nil {
		h.t.Fatal(err)
	}
	return *u
}

// privateFlow runs manufacturer → wholesaler → pharmacy → dispense on
// private units, checking the refusals on the way, and returns every
// transaction it committed.
func privateFlow(t *testing.T, h *harness) [][]byte {
	var committed [][]byte
	commit := func(raw []byte) { h.t.Helper(); h.okTx(raw); committed = append(committed, raw) }
	all := privUnits(privSerials...)
	k0 := custodyKey(t, "mfr", "commission L9")
	commit(h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: privGTIN, Lot: "L9", Expiry: "2027-06-30", Units: all, Custody: pubOf(k0)}))
	if u := h.privUnit(privSerials[0]); u.Custodian != "" || !bytes.Equal(u.Custody, pubOf(k0)) || u.Status != supply.StatusActive {
		t.Fatalf("commissioned: %+v", u)
	}
	claimW, holdW := custodyKey(t, "whole", "claim 1"), custodyKey(t, "whole", "hold 1")
	h.judge(h.transfer(custodyKey(t, "whole", "stranger"), ship(all, claimW)), StageCheck, CodeUnauthorized, "another key holds it")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyMove, &tx.SupplyMove{Action: tx.MoveShip, GTIN: privGTIN, Units: all, To: "whole", KeyWrap: []byte("w")}),
		StageCheck, CodeInvalid, "move by their custody keys: supply.transfer")
	commit(h.transfer(k0, ship(all, claimW)))
	if u := h.privUnit(privSerials[0]); u.Status != supply.StatusInTransit || !bytes.Equal(u.Claim, pubOf(claimW)) {
		t.Fatalf("shipped: %+v", u)
	}
	if got, err := h.at(0).SupplyShipments(privGTIN); err != nil || len(got) != 1 || !bytes.Equal(got[0].Claim, pubOf(claimW)) || string(got[0].Details) != "sealed to the parties" {
		t.Fatalf("the pending shipment kept in state: %v %+v", err, got)
	}
	h.judge(h.transfer(custodyKey(t, "pharm", "claim 1"), receive(all, holdW)), StageCheck, CodeUnauthorized, "shipped to another claim key")
	h.judge(h.transfer(claimW, receive(all, claimW)), StageCheck, CodeInvalid, "takes a fresh one")
	commit(h.transfer(claimW, receive(all, holdW)))
	if got, err := h.at(0).SupplyShipments(privGTIN); err != nil || len(got) != 0 {
		t.Fatalf("a received shipment stays in state: %v %+v", err, got)
	}
	claimP, holdP := custodyKey(t, "pharm", "claim 2"), custodyKey(t, "pharm", "hold 2")
	commit(h.transfer(holdW, ship(all[:2], claimP)))
	h.judge(h.transfer(holdW, ship(all[2:], claimP)), StageCheck, CodeConflict, "a shipment under this claim key is pending")
	commit(h.transfer(claimP, receive(all[:2], holdP)))
	if u := h.privUnit(privSerials[1]); u.Status != supply.StatusActive || !bytes.Equal(u.Custody, pubOf(holdP)) || u.Claim != nil {
		t.Fatalf("received: %+v", u)
	}
	h.judge(h.dispense(holdP, "whole/officer", key(21), all[:1]), StageCheck, CodeUnauthorized, "whole is a wholesaler, not a pharmacy or hospital")
	h.judge(h.dispense(holdP, "pharm/pharmacist", key(22), all[:1]), StageCheck, CodeBadSignature, "co-signature of dispenser pharm/pharmacist does not verify")
	commit(h.dispense(holdP, "pharm/pharmacist", key(20), all[:1]))
	if u := h.privUnit(privSerials[0]); u.Status != supply.StatusDispensed {
		t.Fatalf("dispensed: %+v", u)
	}
	h.judge(h.dispense(holdP, "pharm/pharmacist", key(20), all[:1]), StageCheck, CodeInvalid, "already dispensed")
	return committed
}

func TestSupplyTransferPrivateCustodyChain(t *testing.T) {
	h := privateHarness(t)
	committed := privateFlow(t, h)
	checkPrivateLeaf(t, h, privSerials[1], pubOf(custodyKey(t, "pharm", "hold 2")))
	ship := committed[1]
	h.judge(ship, StageCheck, CodeBadNonce, "replayed or stale")
	h.judge(ship, StageFinalize, CodeBadNonce, "replayed or stale")
	k := custodyKey(t, "pharm", "hold 2")
	id := supply.CustodySigner(pubOf(k))
	h.keys["custody/XY"] = k
	for _, tc := range []struct {
		name   string
		raw    []byte
		code   Code
		reason string
	}{
		{"a custody key signs a supply.move", h.sign(id, tx.TypeSupplyMove, move(tx.MoveDecommission, "", 1)), CodeUnauthorized, "a custody key signs only supply.transfer"},
		{"a custody key registers a principal", h.sign(id, tx.TypeRegister, &tx.Register{ID: "pharm/x", Kind: carechain.KindPractitioner, PublicKey: pub(30)}), CodeUnauthorized, "signs only supply.transfer"},
		{"a registered signer sends a transfer", h.sign("pharm/admin", tx.TypeSupplyTransfer, receive(privUnits(privSerials[1]), k)), CodeUnauthorized, "signed by the custody key"},
		{"a malformed custody signer", h.sign("custody/XY", tx.TypeSupplyTransfer, receive(privUnits(privSerials[1]), k)), CodeUnknownSigner, "64 lower-case hex digits"},
		{"a registered signer flags a private unit", h.sign("pharm/admin", tx.TypeSupplyFlag, &tx.SupplyFlag{GTIN: privGTIN, Unit: privUnits(privSerials[1])[0], Reason: "torn"}), CodeInvalid, "move by their custody keys"},
		{"a transfer of a product that is not private", h.transfer(k, &tx.SupplyTransfer{Action: tx.MoveDecommission, GTIN: testGTIN, Units: units(1)}), CodeInvalid, "is not private"},
		{"a private product commissioned to no key", h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: privGTIN, Lot: "L9", Expiry: "2027-06-30", Units: units(50)}), CodeInvalid, "commissioned to a custody key"},
		{"a product that is not private commissioned to a key", h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: testGTIN, Lot: "L9", Expiry: "2027-06-30", Units: units(50), Custody: pubOf(k)}), CodeInvalid, "is not private"},
		{"a wholesaler commissions a private product", h.sign("whole/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: privGTIN, Lot: "L9", Expiry: "2027-06-30", Units: units(50), Custody: pubOf(k)}), CodeUnauthorized, "belongs to mfr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.judge(tc.raw, StageCheck, tc.code, tc.reason)
		})
	}
	h.t = t
	// The holder flags a unit; the manufacturer recalls the lot: no key dispenses it.
	h.okTx(h.transfer(k, &tx.SupplyTransfer{Action: tx.TransferFlag, GTIN: privGTIN, Units: privUnits(privSerials[1]), Reason: "seal broken"}))
	h.okTx(h.sign("mfr/admin", tx.TypeSupplyResolve, &tx.SupplyResolve{GTIN: privGTIN, Unit: privUnits(privSerials[1])[0], Outcome: tx.ResolveClear}))
	h.okTx(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: privGTIN, Lot: "L9", Reason: "contamination"}))
	h.judge(h.dispense(k, "pharm/pharmacist", key(20), privUnits(privSerials[1])), StageCheck, CodeInvalid, "lot L9 is recalled (contamination)")
	h.okTx(h.transfer(k, &tx.SupplyTransfer{Action: tx.MoveDecommission, GTIN: privGTIN, Units: privUnits(privSerials[1])}))
}

// TestSupplyTransferNamesNoPartnerNorSerial: after private units went from
// the manufacturer through the wholesaler to the pharmacy and were
// dispensed, no state the flow wrote and no transaction it committed
// holds the wholesaler's or the pharmacy's organization ID or a serial;
// the dispense alone names its dispenser (pharm/pharmacist), by design.
func TestSupplyTransferNamesNoPartnerNorSerial(t *testing.T) {
	h := privateHarness(t)
	before := stateMap(t, h.app)
	committed := privateFlow(t, h)
	secrets := append([]string{"whole", "pharm"}, privSerials...)
	scan := func(what string, v []byte, secrets []string) {
		for _, s := range secrets {
			if bytes.Contains(v, []byte(s)) {
				t.Errorf("%s holds %q", what, s)
			}
		}
	}
	changed := 0
	for k, v := range stateMap(t, h.app) {
		if before[k] != v {
			changed++
			scan("state "+k, []byte(k+"="+v), secrets)
		}
	}
	if changed < len(committed) {
		t.Fatalf("the flow changed %d state entries for %d transactions", changed, len(committed))
	}
	last := len(committed) - 1
	for i, raw := range committed[:last] {
		scan(fmt.Sprintf("transaction #%d", i), raw, secrets)
	}
	scan("the dispense", committed[last], append([]string{"whole"}, privSerials...))
	if !bytes.Contains(committed[last], []byte("pharm/pharmacist")) {
		t.Error("the dispense does not name its dispenser")
	}
}

// stateMap is every committed state entry of a.
func stateMap(t testing.TB, a *App) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := a.store.Scan("", 0, func(k string, v []byte) error {
		out[k] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPrivateLeaf checks that the supply map commits to the custody key
// holding the unit of serial: its entry proves against the root in the
// app info and names the key.
func checkPrivateLeaf(t *testing.T, h *harness, serial string, holder ed25519.PublicKey) {
	t.Helper()
	info, err := h.app.CommitInfo(h.height)
	if err != nil {
		t.Fatal(err)
	}
	k := supply.UnitKey(privGTIN, privUnits(serial)[0])
	e, err := h.at(0).SupplyEntry(k)
	if err != nil || e.Value == nil {
		t.Fatalf("map entry of %s: %+v %v", k, e, err)
	}
	vh := smt.Value(e.Value)
	if err := smt.VerifyProof(info.SupplyRoot, smt.Key(k), &vh, e.Proof); err != nil {
		t.Fatal(err)
	}
	var u supply.Unit
	if err := tx.UnmarshalState(e.Value, &u); err != nil || !bytes.Equal(u.Custody, holder) || u.Custodian != "" {
		t.Fatalf("the map holds %+v %v, want the unit held by key %x", u, err, holder)
	}
}
