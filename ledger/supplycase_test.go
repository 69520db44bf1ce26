package ledger

import (
	"bytes"
	"errors"
	"testing"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// caseOf is the commitment of case n (the ledger sees only commitments).
func caseOf(n byte) []byte { return bytes.Repeat([]byte{0xc0 | n}, supply.CommitmentSize) }

func packTx(action string, c byte, ns ...byte) *tx.SupplyAggregate {
	return &tx.SupplyAggregate{Action: action, GTIN: testGTIN, Case: caseOf(c), Units: units(ns...)}
}

func caseMove(action, to string, cs ...byte) *tx.SupplyCaseMove {
	m := &tx.SupplyCaseMove{Action: action, GTIN: testGTIN, To: to}
	for _, c := range cs {
		m.Cases = append(m.Cases, caseOf(c))
	}
	if to != "" {
		m.KeyWrap = []byte("wrapped for " + to)
	}
	return m
}

// custody is the custodian, status and case of unit n.
func (h *harness) custody(n byte) (string, supply.Status, []byte) {
	h.t.Helper()
	u, _, err := h.at(0).SupplyUnit(testGTIN, unit(n))
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Custodian, u.Status, u.Case
}

// TestSupplyPackRefusals: a unit is packed only by the organization that
// holds it, not while in transit, dispensed or decommissioned, recalled,
// nor when already in a case; a case in transit takes no more units.
func TestSupplyPackRefusals(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3, 4, 5, 6)),
		h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 7)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 2)),
		h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveDecommission, "", 3)),
		h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 1)),
		h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L2", Reason: "contamination"}))
	for _, tc := range []struct {
		name, signer string
		body         tx.Body
		code         Code
		reason       string
	}{
		{"a unit not held", "whole/admin", packTx(tx.AggregatePack, 2, 4), CodeUnauthorized, "held by mfr"},
		{"a unit in transit", "mfr/officer", packTx(tx.AggregatePack, 2, 4, 2), CodeInvalid, "in transit to whole"},
		{"a unit not held by its receiver yet", "whole/admin", packTx(tx.AggregatePack, 2, 2), CodeUnauthorized, "held by mfr"},
		{"a decommissioned unit", "mfr/officer", packTx(tx.AggregatePack, 2, 3), CodeInvalid, "was decommissioned"},
		{"a recalled unit", "mfr/officer", packTx(tx.AggregatePack, 2, 7), CodeInvalid, "lot L2 is recalled"},
		{"a unit already packed", "mfr/officer", packTx(tx.AggregatePack, 2, 4, 1), CodeConflict, "already packed"},
		{"a unit never commissioned", "mfr/officer", packTx(tx.AggregatePack, 2, 77), CodeInvalid, "no unit with this serial"},
		{"into another's case", "whole/admin", packTx(tx.AggregatePack, 1, 2), CodeUnauthorized, "held by mfr"},
		{"an unpack of no case", "mfr/officer", packTx(tx.AggregateUnpack, 9), CodeInvalid, "no case of"},
		{"an unpack of a unit not in it", "mfr/officer", packTx(tx.AggregateUnpack, 1, 4), CodeInvalid, "not in this case"},
		{"a ship of a packed unit", "mfr/officer", move(tx.MoveShip, "whole", 4, 1), CodeInvalid, "unit is packed in a case; unpack it first"},
		{"a decommission of a packed unit", "mfr/officer", move(tx.MoveDecommission, "", 1), CodeInvalid, "unpack it first"},
		{"a ship of no case", "mfr/officer", caseMove(tx.MoveShip, "whole", 9), CodeInvalid, "no case with this SSCC"},
		{"a receive of a case not shipped", "whole/admin", caseMove(tx.MoveReceive, "", 1), CodeUnauthorized, "no shipment of it is pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.judge(h.sign(tc.signer, typeOf(tc.body), tc.body), StageCheck, tc.code, tc.reason)
		})
	}
	h.t = t
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCaseMove, caseMove(tx.MoveShip, "pharm", 1)))
	h.judge(h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 4)), StageCheck, CodeInvalid, "in transit to pharm")
	h.judge(h.sign("whole/admin", tx.TypeSupplyCaseMove, caseMove(tx.MoveReceive, "", 1)), StageCheck, CodeUnauthorized, "shipped to pharm")
}

func typeOf(b tx.Body) tx.Type {
	switch b.(type) {
	case *tx.SupplyAggregate:
		return tx.TypeSupplyAggregate
	case *tx.SupplyCaseMove:
		return tx.TypeSupplyCaseMove
	}
	return tx.TypeSupplyMove
}

// TestSupplyCaseMovesItsUnits: a ship and receive of a case move every
// unit in it, in state and in the supply map; a packed unit is dispensed
// only once unpacked; an emptied case is gone.
func TestSupplyCaseMovesItsUnits(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3, 4)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 1, 2)),
		h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 3))) // adds to the case
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCaseMove, caseMove(tx.MoveShip, "pharm", 1)))
	for _, n := range []byte{1, 2, 3} {
		if org, st, c := h.custody(n); org != "mfr" || st != supply.StatusInTransit || !bytes.Equal(c, caseOf(1)) {
			t.Fatalf("unit %d after the case's ship: %s %s %x", n, org, st, c)
		}
	}
	if org, st, _ := h.custody(4); org != "mfr" || st != supply.StatusActive {
		t.Fatalf("unit 4, not in the case: %s %s", org, st)
	}
	if w, err := h.at(0).SupplyKeyWrap(testGTIN, "pharm"); err != nil || string(w) != "wrapped for pharm" {
		t.Fatalf("pharm's key wrap: %q %v", w, err)
	}
	h.ok(h.sign("pharm/admin", tx.TypeSupplyCaseMove, caseMove(tx.MoveReceive, "", 1)))
	for _, n := range []byte{1, 2, 3} {
		if org, st, _ := h.custody(n); org != "pharm" || st != supply.StatusActive {
			t.Fatalf("unit %d after the case's receive: %s %s", n, org, st)
		}
	}
	if k, err := h.at(0).SupplyCase(testGTIN, caseOf(1)); err != nil || k.Custodian != "pharm" || len(k.Units) != 3 {
		t.Fatalf("case: %+v %v", k, err)
	}
	// The supply map proves the unit's new custodian.
	e, err := h.at(0).SupplyEntry(supply.UnitKey(testGTIN, unit(2)))
	var u supply.Unit
	if err != nil || unmarshalState(e.Value, &u) != nil || u.Custodian != "pharm" || !bytes.Equal(u.Case, caseOf(1)) {
		t.Fatalf("map entry of unit 2: %+v %v", u, err)
	}
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)), StageCheck, CodeInvalid, "unit is packed in a case; unpack it first")
	h.ok(h.sign("pharm/admin", tx.TypeSupplyAggregate, packTx(tx.AggregateUnpack, 1, 1)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)))
	if _, st, c := h.custody(1); st != supply.StatusDispensed || c != nil {
		t.Fatalf("unit 1 unpacked and dispensed: %s %x", st, c)
	}
	h.ok(h.sign("pharm/admin", tx.TypeSupplyAggregate, packTx(tx.AggregateUnpack, 1))) // the rest
	if _, err := h.at(0).SupplyCase(testGTIN, caseOf(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the emptied case: %v", err)
	}
	if _, _, c := h.custody(3); c != nil {
		t.Fatalf("unit 3 is still in a case: %x", c)
	}
	h.ok(h.sign("pharm/admin", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 2, 3))) // its SSCC names a new case
}

// TestSupplyCaseShipRefusesARecalledUnit: a case moves whole or not at
// all, so a recalled unit in it stops its ship.
func TestSupplyCaseShipRefusesARecalledUnit(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1)),
		h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 2)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 1, 2)))
	h.ok(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L2", Reason: "contamination"}))
	h.judge(h.sign("mfr/officer", tx.TypeSupplyCaseMove, caseMove(tx.MoveShip, "pharm", 1)), StageCheck, CodeInvalid, "case #0: unit #1 of "+testGTIN+" may not be shipped: lot L2 is recalled")
}

// TestSupplyCaseBounds: a case holds at most supply.MaxUnits units, and a
// move names at most supply.MaxCasesPerMove cases.
func TestSupplyCaseBounds(t *testing.T) {
	h := supplyHarness(t)
	all := make([][]byte, supply.MaxUnits+1)
	for i := range all {
		all[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xaa, 0x55}, supply.CommitmentSize/4)
	}
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: testGTIN, Lot: "L1", Expiry: "2027-06-30", Units: all[:supply.MaxUnits]}),
		h.sign("mfr/officer", tx.TypeSupplyCommission, &tx.SupplyCommission{GTIN: testGTIN, Lot: "L1", Expiry: "2027-06-30", Units: all[supply.MaxUnits:]}))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyAggregate, &tx.SupplyAggregate{Action: tx.AggregatePack, GTIN: testGTIN, Case: caseOf(1), Units: all[:supply.MaxUnits]}))
	h.judge(h.sign("mfr/officer", tx.TypeSupplyAggregate, &tx.SupplyAggregate{Action: tx.AggregatePack, GTIN: testGTIN, Case: caseOf(1), Units: all[supply.MaxUnits:]}),
		StageCheck, CodeInvalid, "a case holds at most 1000 units")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyCaseMove, caseMove(tx.MoveShip, "whole", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)), StageCheck, CodeInvalid, "name 1 to 10 cases")
}
