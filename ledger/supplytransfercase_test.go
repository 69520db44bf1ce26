package ledger

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// privCase is the commitment of the case with SSCC sscc of privGTIN.
func privCase(sscc string) []byte { return supply.CaseCommitment(privProductKey, privGTIN, sscc) }

const (
	privSSCC  = "003123450000000017"
	privSSCC2 = "003123450000000024"
)

func packCase(c []byte, units [][]byte, next ed25519.PrivateKey) *tx.SupplyTransfer {
	t := &tx.SupplyTransfer{Action: tx.TransferPack, GTIN: privGTIN, Units: units, Case: c}
	if next != nil {
		t.Next = pubOf(next)
	}
	return t
}

func shipCase(c []byte, claim ed25519.PrivateKey) *tx.SupplyTransfer {
	return &tx.SupplyTransfer{Action: tx.MoveShip, GTIN: privGTIN, Case: c, Claim: pubOf(claim), Details: []byte("sealed case")}
}

func receiveCase(c []byte, next ed25519.PrivateKey) *tx.SupplyTransfer {
	return &tx.SupplyTransfer{Action: tx.MoveReceive, GTIN: privGTIN, Case: c, Next: pubOf(next)}
}

// checkMapped checks that the supply map proves unit serial's status and
// holder: its entry proves against the root in the app info.
func checkMapped(t *testing.T, h *harness, serial string, st supply.Status, holder, claim []byte, inCase []byte) {
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
	if err := tx.UnmarshalState(e.Value, &u); err != nil || u.Status != st || !bytes.Equal(u.Custody, holder) || !bytes.Equal(u.Claim, claim) || !bytes.Equal(u.Case, inCase) {
		t.Fatalf("the map proves %+v %v, want %s held by %x claimed by %x in case %x", u, err, st, holder, claim, inCase)
	}
}

// TestSupplyTransferPrivateCaseChain: the manufacturer's key packs private
// units into a case held by a fresh key, ships the case under a claim key,
// the wholesaler's claim key receives it and hands it to its next key,
// which unpacks it; each unit moves with the case, in state and in the
// supply map. The refusals on the way are checked.
func TestSupplyTransferPrivateCaseChain(t *testing.T) {
	h := privateHarness(t)
	all := privUnits(privSerials...)
	c := privCase(privSSCC)
	k0, kOther := custodyKey(t, "mfr", "commission L9"), custodyKey(t, "mfr", "commission L8")
	h.okTx(h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: privGTIN, Lot: "L9", Expiry: "2027-06-30", Units: all, Custody: pubOf(k0)}))
	h.okTx(h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: privGTIN, Lot: "L8", Expiry: "2027-06-30", Units: privUnits("PRIV-SN-0009"), Custody: pubOf(kOther)}))
	kCase := custodyKey(t, "mfr", "case 1")

	h.judge(h.transfer(custodyKey(t, "whole", "stranger"), packCase(c, all, kCase)), StageCheck, CodeUnauthorized, "this key may not pack it: another key holds it")
	h.judge(h.transfer(k0, packCase(c, all, nil)), StageCheck, CodeInvalid, "names the custody key that holds it")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyAggregate, &tx.SupplyAggregate{Action: tx.AggregatePack, GTIN: privGTIN, Case: c, Units: all}),
		StageCheck, CodeInvalid, "move by their custody keys")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyTransfer, packCase(c, all, kCase)), StageCheck, CodeUnauthorized, "signed by the custody key")
	h.okTx(h.transfer(k0, packCase(c, all[:2], kCase)))
	checkMapped(t, h, privSerials[0], supply.StatusActive, pubOf(kCase), nil, c)
	if k, err := h.at(0).SupplyCase(privGTIN, c); err != nil || !bytes.Equal(k.Custody, pubOf(kCase)) || k.Custodian != "" || len(k.Units) != 2 {
		t.Fatalf("the packed case: %+v %v", k, err)
	}
	h.judge(h.transfer(k0, packCase(c, all[2:], kCase)), StageCheck, CodeUnauthorized, "another key holds it")
	h.judge(h.transfer(kCase, packCase(privCase(privSSCC2), all[:1], custodyKey(t, "mfr", "case 2"))), StageCheck, CodeConflict, "already packed in a case")
	h.judge(h.transfer(kCase, ship(all[:1], custodyKey(t, "whole", "claim 0"))), StageCheck, CodeInvalid, "the unit is packed in a case; unpack it first")
	h.judge(h.dispense(kCase, "pharm/pharmacist", key(20), all[:1]), StageCheck, CodeInvalid, "the unit is packed in a case; unpack it first")
	h.judge(h.transfer(kCase, packCase(c, all[2:], custodyKey(t, "mfr", "case 9"))), StageCheck, CodeConflict, "naming no next key")

	claimW, holdW := custodyKey(t, "whole", "claim 1"), custodyKey(t, "whole", "hold 1")
	h.judge(h.transfer(k0, shipCase(c, claimW)), StageCheck, CodeUnauthorized, "another key holds it")
	h.okTx(h.transfer(kCase, shipCase(c, claimW)))
	checkMapped(t, h, privSerials[1], supply.StatusInTransit, pubOf(kCase), pubOf(claimW), c)
	h.judge(h.transfer(kCase, &tx.SupplyTransfer{Action: tx.TransferUnpack, GTIN: privGTIN, Case: c}), StageCheck, CodeInvalid, "in transit")
	h.judge(h.transfer(k0, packCase(privCase(privSSCC2), all[:1], custodyKey(t, "mfr", "case 2"))), StageCheck, CodeConflict, "already packed")
	h.judge(h.transfer(custodyKey(t, "pharm", "claim 1"), receiveCase(c, holdW)), StageCheck, CodeUnauthorized, "shipped to another claim key")
	h.judge(h.transfer(claimW, receiveCase(c, claimW)), StageCheck, CodeInvalid, "takes a fresh one")
	h.okTx(h.transfer(claimW, receiveCase(c, holdW)))
	checkMapped(t, h, privSerials[0], supply.StatusActive, pubOf(holdW), nil, c)
	if got, err := h.at(0).SupplyShipments(privGTIN); err != nil || len(got) != 0 {
		t.Fatalf("a received case's shipment stays in state: %v %+v", err, got)
	}
	// The case's key unpacks one unit, packs it back (naming no next key),
	// then unpacks them all.
	h.okTx(h.transfer(holdW, &tx.SupplyTransfer{Action: tx.TransferUnpack, GTIN: privGTIN, Case: c, Units: all[:1]}))
	checkMapped(t, h, privSerials[0], supply.StatusActive, pubOf(holdW), nil, nil)
	h.judge(h.transfer(holdW, &tx.SupplyTransfer{Action: tx.TransferUnpack, GTIN: privGTIN, Case: c, Units: all[:1]}), StageCheck, CodeInvalid, "is not in this case")
	h.okTx(h.transfer(holdW, packCase(c, all[:1], nil)))
	checkMapped(t, h, privSerials[0], supply.StatusActive, pubOf(holdW), nil, c)
	h.okTx(h.transfer(holdW, &tx.SupplyTransfer{Action: tx.TransferUnpack, GTIN: privGTIN, Case: c}))
	checkMapped(t, h, privSerials[1], supply.StatusActive, pubOf(holdW), nil, nil)
	if _, err := h.at(0).SupplyCase(privGTIN, c); err == nil {
		t.Fatal("an emptied case stays in state")
	}
	// Unpacked, the units move loose by the key that held the case.
	claimP := custodyKey(t, "pharm", "claim 2")
	h.okTx(h.transfer(holdW, ship(all[:2], claimP)))
	checkMapped(t, h, privSerials[0], supply.StatusInTransit, pubOf(holdW), pubOf(claimP), nil)
	h.judge(h.transfer(holdW, packCase(privCase(privSSCC2), all[:1], custodyKey(t, "whole", "case 2"))), StageCheck, CodeInvalid, "the unit is in transit")

	// A recalled unit is not packed; a recall stops a packed case's ship.
	h.okTx(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: privGTIN, Lot: "L8", Reason: "contamination"}))
	h.judge(h.transfer(kOther, packCase(privCase(privSSCC2), privUnits("PRIV-SN-0009"), custodyKey(t, "mfr", "case 3"))), StageCheck, CodeInvalid, "lot L8 is recalled")
	h.okTx(h.transfer(k0, packCase(privCase(privSSCC2), all[2:], custodyKey(t, "mfr", "case 4"))))
	h.okTx(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: privGTIN, Lot: "L9", Reason: "mislabelled"}))
	h.judge(h.transfer(custodyKey(t, "mfr", "case 4"), shipCase(privCase(privSSCC2), custodyKey(t, "whole", "claim 5"))), StageCheck, CodeInvalid, "lot L9 is recalled")
	h.judge(h.transfer(custodyKey(t, "mfr", "case 4"), &tx.SupplyTransfer{Action: tx.MoveDispense, GTIN: privGTIN, Case: privCase(privSSCC2), Dispenser: "pharm/pharmacist", DispenserSig: make([]byte, 64)}),
		StageCheck, CodeInvalid, "want pack, unpack, ship or receive")
}
