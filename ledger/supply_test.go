package ledger

import (
	"bytes"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

const testGTIN = "00312345678906"

// supplyHarness has a manufacturer mfr (admin, supply officer mfr/officer),
// a wholesaler whole and a pharmacy pharm, beside the hospitals hosp-a and
// hosp-b; mfr registered product testGTIN. The chain keeps the supply map
// from its first block, as chains founded by init do.
func supplyHarness(t *testing.T) *harness { return supplyHarnessOf(t, true) }

// supplyHarnessOf is supplyHarness, on a chain founded before the supply
// map if !supplyMap; hosp-a and hosp-b both must approve a proposal.
func supplyHarnessOf(t *testing.T, supplyMap bool) *harness {
	org := func(id string, typ carechain.OrgType, seed byte) GenesisOrg {
		return GenesisOrg{Organization: carechain.Organization{ID: id, Name: id, Type: typ, EncryptionKey: encKey(t, seed).Public().Bytes()},
			Admins: []GenesisAdmin{{ID: id + "/admin", PublicKey: pub(seed)}}}
	}
	h := newHarnessWith(t, func(g *Genesis) {
		g.Organizations = append(g.Organizations, org("mfr", carechain.OrgManufacturer, 10), org("whole", carechain.OrgWholesaler, 11),
			org("pharm", carechain.OrgPharmacy, 12))
		g.Governance = &tx.GovernancePolicy{Voters: []string{"hosp-a", "hosp-b"}, Threshold: 2}
		g.SupplyMap = supplyMap
	})
	h.keys["mfr/admin"], h.keys["whole/admin"], h.keys["pharm/admin"] = key(10), key(11), key(12)
	h.keys["mfr/officer"] = key(13)
	h.ok(h.register("mfr/admin", "mfr/officer", carechain.KindPractitioner, 13, carechain.RoleSupplyOfficer),
		h.sign("mfr/officer", tx.TypeSupplyProduct, product(testGTIN)))
	return h
}

// ok commits txs in one block and fails unless all are accepted.
func (h *harness) ok(txs ...[]byte) {
	h.t.Helper()
	for i, c := range h.block(txs...) {
		if c != CodeOK {
			h.t.Fatalf("tx %d: %v", i, c)
		}
	}
}

func product(gtin string) *tx.SupplyProduct {
	return &tx.SupplyProduct{GTIN: gtin, Name: "Amoxicillin 500 mg", Form: "capsule", Strength: "500 mg", Kind: supply.KindDrug, KeyWrap: []byte("wrapped")}
}

// unit is the commitment of serial n (the ledger sees only commitments).
func unit(n byte) []byte { return bytes.Repeat([]byte{n}, supply.CommitmentSize) }

func units(ns ...byte) [][]byte {
	var out [][]byte
	for _, n := range ns {
		out = append(out, unit(n))
	}
	return out
}

func commission(lot, expiry string, ns ...byte) *tx.SupplyCommission {
	return &tx.SupplyCommission{GTIN: testGTIN, Lot: lot, Expiry: expiry, Units: units(ns...)}
}

func move(action, to string, ns ...byte) *tx.SupplyMove {
	m := &tx.SupplyMove{Action: action, GTIN: testGTIN, To: to, Units: units(ns...)}
	if to != "" {
		m.KeyWrap = []byte("wrapped for " + to)
	}
	return m
}

func (h *harness) status(n byte) supply.Status {
	h.t.Helper()
	return supply.Effective(mustUnit(h, n))
}

func TestSupplyProductRules(t *testing.T) {
	h := supplyHarness(t)
	h.judge(h.sign("mfr/admin", tx.TypeSupplyProduct, product(testGTIN)), StageFinalize, CodeConflict, "already registered by mfr")
	h.judge(h.sign("whole/admin", tx.TypeSupplyProduct, product("00012345600012")), StageFinalize, CodeUnauthorized, "not a manufacturer")
	h.judge(h.sign("mfr/admin", tx.TypeSupplyProduct, product("00312345678907")), StageCheck, CodeInvalid, "GS1 check digit")
	h.judge(h.sign("whole/admin", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1)), StageFinalize, CodeUnauthorized, "belongs to mfr")
	if p, err := h.at(0).SupplyProduct(testGTIN); err != nil || p.Owner != "mfr" || p.Name != "Amoxicillin 500 mg" {
		t.Fatalf("product: %+v %v", p, err)
	}
}

func TestSupplyCustodyChain(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)),
		h.sign("mfr/officer", tx.TypeSupplyCommission, commission("OLD", "2025-12-31", 9)))
	for _, tc := range []struct {
		name   string
		signer string
		typ    tx.Type
		body   any
		code   Code
		reason string
	}{
		{"a serial commissioned twice", "mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 4, 2), CodeConflict, "already commissioned"},
		{"a serial twice in one batch", "mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 4, 4), CodeInvalid, "named twice"},
		{"a lot with another expiry", "mfr/officer", tx.TypeSupplyCommission, commission("L1", "2028-01-31", 5), CodeInvalid, "expires on 2027-06-30"},
		{"receive without a ship", "whole/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1), CodeUnauthorized, "no shipment of it is pending"},
		{"ship by a non-owner", "whole/admin", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1), CodeUnauthorized, "held by mfr"},
		{"ship of an unknown serial", "mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 1, 77), CodeInvalid, "no unit with this serial"},
		{"ship of an expired unit", "mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 9), CodeInvalid, "expired on 2025-12-31"},
		{"ship to oneself", "mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "mfr", 1), CodeInvalid, "not another manufacturer"},
		{"ship to no supply organization", "mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "nowhere", 1), CodeInvalid, "not another manufacturer"},
		{"ship without a key to a new partner", "mfr/officer", tx.TypeSupplyMove, &tx.SupplyMove{Action: tx.MoveShip, GTIN: testGTIN, To: "whole", Units: units(1)}, CodeInvalid, "holds no key"},
		{"dispense by a manufacturer", "mfr/officer", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1), CodeUnauthorized, "not a pharmacy or hospital"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.judge(h.sign(tc.signer, tc.typ, tc.body), StageCheck, tc.code, tc.reason)
		})
	}
	h.t = t
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 1, 2, 3)))
	if st := h.status(1); st != supply.StatusInTransit {
		t.Fatalf("after ship: %s", st)
	}
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1)), StageCheck, CodeUnauthorized, "shipped to whole")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1)), StageCheck, CodeInvalid, "in transit to whole")
	h.ok(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2, 3)))
	h.ok(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1, 2)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)))
	if st := h.status(1); st != supply.StatusDispensed {
		t.Fatalf("after dispense: %s", st)
	}
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)), StageCheck, CodeInvalid, "already dispensed")
	h.judge(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveShip, "hosp-a", 3, 2)), StageCheck, CodeUnauthorized, "held by pharm")
	h.ok(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveDecommission, "", 3)))
	h.judge(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveShip, "hosp-a", 3)), StageCheck, CodeInvalid, "was decommissioned")
	if w, err := h.at(0).SupplyKeyWrap(testGTIN, "pharm"); err != nil || string(w) != "wrapped for pharm" {
		t.Fatalf("pharm's key wrap: %q %v", w, err)
	}
	if _, err := h.at(0).SupplyKeyWrap(testGTIN, "hosp-b"); err == nil {
		t.Fatal("hosp-b holds a key it was never shipped")
	}
}

func TestSupplyRecallStopsLaterMoves(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)),
		h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 4)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1, 2, 4)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1)))
	h.judge(h.sign("pharm/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L1", Reason: "contamination"}), StageFinalize, CodeUnauthorized, "belongs to mfr")
	h.judge(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "NOPE", Reason: "x"}), StageFinalize, CodeInvalid, "never commissioned")
	h.ok(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L1", Reason: "contamination"}))
	for _, tc := range []struct {
		signer string
		m      *tx.SupplyMove
	}{
		{"pharm/admin", move(tx.MoveDispense, "", 1)},
		{"pharm/admin", move(tx.MoveReceive, "", 2)},
		{"mfr/officer", move(tx.MoveShip, "whole", 3)},
	} {
		h.judge(h.sign(tc.signer, tx.TypeSupplyMove, tc.m), StageCheck, CodeInvalid, "lot L1 is recalled (contamination)")
	}
	h.judge(h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L1", Reason: "again"}), StageFinalize, CodeConflict, "already recalled")
	h.judge(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 8)), StageFinalize, CodeInvalid, "is recalled")
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 4)), // another lot moves on
		h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDecommission, "", 1))) // recalled stock is destroyed
	if st := h.status(4); st != supply.StatusActive {
		t.Fatalf("unit of lot L2: %s", st)
	}
}

func TestSupplyFlagConfirmClear(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1, 2, 3)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2, 3)))
	flag := func(n byte, lot bool) *tx.SupplyFlag {
		return &tx.SupplyFlag{GTIN: testGTIN, Unit: unit(n), WholeLot: lot, Reason: "seal broken"}
	}
	resolve := func(n byte, lot, outcome string) *tx.SupplyResolve {
		r := &tx.SupplyResolve{GTIN: testGTIN, Lot: lot, Outcome: outcome}
		if lot == "" {
			r.Unit = unit(n)
		}
		return r
	}
	h.judge(h.sign("whole/admin", tx.TypeSupplyFlag, flag(1, false)), StageFinalize, CodeUnauthorized, "only its custodian")
	h.judge(h.sign("mfr/admin", tx.TypeSupplyResolve, resolve(1, "", tx.ResolveConfirm)), StageFinalize, CodeInvalid, "not suspect")
	h.ok(h.sign("pharm/admin", tx.TypeSupplyFlag, flag(1, false)))
	h.judge(h.sign("pharm/admin", tx.TypeSupplyFlag, flag(1, false)), StageFinalize, CodeConflict, "already suspect")
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)), StageCheck, CodeInvalid, "quarantined")
	h.judge(h.sign("pharm/admin", tx.TypeSupplyResolve, resolve(1, "", tx.ResolveClear)), StageFinalize, CodeUnauthorized, "belongs to mfr")
	h.ok(h.sign("mfr/admin", tx.TypeSupplyResolve, resolve(1, "", tx.ResolveClear)))
	if st := h.status(1); st != supply.StatusActive {
		t.Fatalf("after clear: %s", st)
	}
	h.ok(h.sign("pharm/admin", tx.TypeSupplyFlag, flag(2, true))) // the whole lot
	if st := h.status(3); st != supply.StatusSuspect {
		t.Fatalf("unit of a suspect lot: %s", st)
	}
	h.ok(h.sign("mfr/admin", tx.TypeSupplyResolve, resolve(0, "L1", tx.ResolveConfirm)))
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)), StageCheck, CodeInvalid, "illegitimate")
	h.judge(h.sign("mfr/admin", tx.TypeSupplyResolve, resolve(0, "L1", tx.ResolveClear)), StageFinalize, CodeInvalid, "not suspect")
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDecommission, "", 1, 2, 3)))
}

func TestSupplyExpiredUnitIsNotDispensed(t *testing.T) {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("SHORT", "2026-01-31", 1, 2)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1, 2)))
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 77)), StageCheck, CodeInvalid, "no unit with this serial") // a batch is whole or nothing
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2)))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 2))) // on 2026-01-01
	h.shift = 31 * 24 * time.Hour                                                // 2026-02-01: past the expiry day
	h.judge(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)), StageFinalize, CodeInvalid, "the unit expired on 2026-01-31")
	if st := supply.Effective(mustUnit(h, 1)); st != supply.StatusExpired {
		t.Fatalf("status: %s", st)
	}
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDecommission, "", 1))) // expired stock is destroyed
}

func mustUnit(h *harness, n byte) (supply.Unit, supply.Lot, time.Time) {
	h.t.Helper()
	u, lot, err := h.at(0).SupplyUnit(testGTIN, unit(n))
	if err != nil {
		h.t.Fatal(err)
	}
	return *u, *lot, blockTime(h.height).Add(h.shift)
}
