package ledger

import (
	"encoding/hex"
	"testing"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// oldSupplyChainAppHash runs a chain of the supply transactions that
// existed before private custody (commission, ship, receive, flag, resolve,
// recall, pack, case moves, dispense) and returns its last app hash.
func oldSupplyChainAppHash(t *testing.T) string {
	h := supplyHarness(t)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3, 4)),
		h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L2", "2027-06-30", 5, 6)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyAggregate, packTx(tx.AggregatePack, 1, 5, 6)))
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 1, 2, 3, 4)),
		h.sign("mfr/officer", tx.TypeSupplyCaseMove, caseMove(tx.MoveShip, "pharm", 1)))
	h.ok(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2, 3, 4)),
		h.sign("pharm/admin", tx.TypeSupplyCaseMove, caseMove(tx.MoveReceive, "", 1)))
	h.ok(h.sign("whole/admin", tx.TypeSupplyMove, move(tx.MoveShip, "pharm", 1, 2)),
		h.sign("whole/admin", tx.TypeSupplyFlag, &tx.SupplyFlag{GTIN: testGTIN, Unit: unit(3), Reason: "seal broken"}))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveReceive, "", 1, 2)),
		h.sign("mfr/admin", tx.TypeSupplyResolve, &tx.SupplyResolve{GTIN: testGTIN, Unit: unit(3), Outcome: tx.ResolveConfirm}))
	h.ok(h.sign("pharm/admin", tx.TypeSupplyMove, move(tx.MoveDispense, "", 1)),
		h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L1", Reason: "contamination"}))
	info, err := h.app.CommitInfo(h.height)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(info.AppHash())
}

// oldSupplyAppHash is the app hash oldSupplyChainAppHash reached before
// private custody existed: the new fields are omitted when empty, so old
// blocks replay to it.
const oldSupplyAppHash = "7f24293f844f00737497cd5c87d731c59186d5b080f87e23aa042b01d04a1d7c"

func TestSupplyOldChainReplaysToTheSameAppHash(t *testing.T) {
	if got := oldSupplyChainAppHash(t); got != oldSupplyAppHash {
		t.Fatalf("a chain of old supply transactions reached app hash %s, before private custody %s", got, oldSupplyAppHash)
	}
}

// TestSupplyReplayLeafOfAnOrganizationsUnit pins the stored encoding (and so
// the supply map's leaf, SHA-256 of it) of a unit held by an organization.
func TestSupplyReplayLeafOfAnOrganizationsUnit(t *testing.T) {
	u := supply.Unit{Lot: "L1", Custodian: "whole", To: "pharm", Status: supply.StatusInTransit, Height: 7}
	raw, err := tx.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	const want = "a501624c31026577686f6c650365706861726d046a696e2d7472616e7369740607"
	if got := hex.EncodeToString(raw); got != want {
		t.Fatalf("unit encodes as %s, before private custody %s", got, want)
	}
}
