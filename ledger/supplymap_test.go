package ledger

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// checkSupplyMap checks, at height, that the committed app info carries the
// map root that the view's entries prove against: each of the products, lots
// and units named holds its stored value, and unit 200 (never commissioned)
// holds none.
func checkSupplyMap(t *testing.T, h *harness, height int64, lots []string, ns ...byte) []byte {
	t.Helper()
	info, err := h.app.CommitInfo(height)
	if err != nil {
		t.Fatal(err)
	}
	v := h.at(height)
	root, err := v.SupplyRoot()
	if err != nil || !bytes.Equal(root, info.SupplyRoot) || len(root) != smt.Size {
		t.Fatalf("height %d: view root %x, committed %x, %v", height, root, info.SupplyRoot, err)
	}
	keys := []string{supply.ProductKey(testGTIN)}
	for _, l := range lots {
		keys = append(keys, supply.LotKey(testGTIN, l))
	}
	for _, n := range ns {
		keys = append(keys, supply.UnitKey(testGTIN, unit(n)))
	}
	for _, k := range keys {
		e, err := v.SupplyEntry(k)
		if err != nil || e.Value == nil {
			t.Fatalf("height %d: %s: %+v %v", height, k, e, err)
		}
		vh := smt.Value(e.Value)
		if err := smt.VerifyProof(root, smt.Key(k), &vh, e.Proof); err != nil {
			t.Fatalf("height %d: %s: %v", height, k, err)
		}
	}
	absent := supply.UnitKey(testGTIN, unit(200))
	e, err := v.SupplyEntry(absent)
	if err != nil || e.Value != nil {
		t.Fatalf("absent unit: %+v %v", e, err)
	}
	if err := smt.VerifyProof(root, smt.Key(absent), nil, e.Proof); err != nil {
		t.Fatalf("absent unit: %v", err)
	}
	return root
}

// TestSupplyMapRootInAppHash: no root (and the v2 app hash) before the first
// supply write; after it, every block's app info carries the map's root, the
// app hash commits to it, a block without supply writes keeps it, each
// committed height's entries prove against its own root, and VerifyState
// recomputes every committed root from the stored map.
func TestSupplyMapRootInAppHash(t *testing.T) {
	h := supplyHarness(t)
	first := h.height // the block that registered the product
	before, err := h.app.CommitInfo(first - 1)
	if err != nil || before.SupplyRoot != nil {
		t.Fatalf("before any supply write: root %x %v", before.SupplyRoot, err)
	}
	checkSupplyMap(t, h, first, nil)
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)))
	r1 := checkSupplyMap(t, h, h.height, []string{"L1"}, 1, 2, 3)
	atCommission := h.height
	h.ok(h.register("mfr/admin", "mfr/other", carechain.KindPractitioner, 14, carechain.RoleSupplyOfficer))
	if r := checkSupplyMap(t, h, h.height, []string{"L1"}, 1, 2, 3); !bytes.Equal(r, r1) {
		t.Fatal("a block without supply writes changed the map root")
	}
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 1)),
		h.sign("mfr/admin", tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: testGTIN, Lot: "L1", Reason: "contamination"}))
	r2 := checkSupplyMap(t, h, h.height, []string{"L1"}, 1, 2, 3)
	if bytes.Equal(r1, r2) {
		t.Fatal("a ship and a recall left the map root as it was")
	}
	checkSupplyMap(t, h, atCommission, []string{"L1"}, 1, 2, 3) // an older height proves against its own root
	info, err := h.app.CommitInfo(h.height)
	if err != nil {
		t.Fatal(err)
	}
	last, err := h.app.store.LastCommit()
	if err != nil || !bytes.Equal(last.AppHash, info.AppHash()) {
		t.Fatalf("the committed app hash is not the v3 hash of the info: %v", err)
	}
	info.SupplyRoot = nil
	if bytes.Equal(last.AppHash, info.AppHash()) {
		t.Fatal("the app hash does not commit to the supply root")
	}
	if _, err := VerifyState(h.app.store, nil, nil); err != nil {
		t.Fatalf("verify of the state store: %v", err)
	}
	b, err := h.app.View(h.height)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := b.SupplyBundle(testGTIN, unit(1))
	if err != nil || bundle.Unit == nil || bundle.Lot == nil || bundle.Lot.Value == nil {
		t.Fatalf("bundle: %+v %v", bundle, err)
	}
}

// TestSupplyMapStartsByUpgrade: a chain founded before the supply map
// (its genesis without supply_map) keeps none, even with supply state:
// its app hashes are the v2 ones it always had, and a bundle is refused.
// The governance-approved upgrade supply-map puts every product, lot and
// unit already in state into the map at the plan's height, whose root is
// the one a map built from the same state from scratch has; from then on
// the map follows every block, and the upgrade cannot run twice.
func TestSupplyMapStartsByUpgrade(t *testing.T) {
	h := supplyHarnessOf(t, false)
	h.shift = time.Since(blockTime(0)) // proposals expire after now
	h.ok(h.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)))
	info, err := h.app.CommitInfo(h.height)
	if err != nil || info.SupplyRoot != nil {
		t.Fatalf("a chain without the map has root %x (%v)", info.SupplyRoot, err)
	}
	if _, err := h.at(0).SupplyBundle(testGTIN, unit(1)); !errors.Is(err, ErrNoSupplyMap) {
		t.Fatalf("bundle on a chain without the map: %v", err)
	}
	if strings.Contains(dumpState(t, h.app), supplyMapPrefix) || strings.Contains(dumpState(t, h.app), supplyMapFromKey) {
		t.Fatal("a chain without the map wrote map state")
	}

	target := h.height + 5
	h.schedule(tx.UpgradePlan{Name: SupplyMapUpgrade, Height: target})
	for h.height < target {
		h.finalize()
	}
	checkSupplyMap(t, h, target, []string{"L1"}, 1, 2, 3)
	// The migrated root is the root of a map built from the same state.
	fresh := supplyHarness(t)
	fresh.ok(fresh.sign("mfr/officer", tx.TypeSupplyCommission, commission("L1", "2027-06-30", 1, 2, 3)))
	want, _ := fresh.at(0).SupplyRoot()
	if got, _ := h.at(target).SupplyRoot(); !bytes.Equal(got, want) {
		t.Fatalf("migrated root %x, a map built from the same state %x", got, want)
	}
	h.ok(h.sign("mfr/officer", tx.TypeSupplyMove, move(tx.MoveShip, "whole", 1)))
	checkSupplyMap(t, h, h.height, []string{"L1"}, 1, 2, 3)
	if _, err := h.at(0).SupplyBundle(testGTIN, unit(1)); err != nil {
		t.Fatalf("bundle after the upgrade: %v", err)
	}
	if _, err := VerifyState(h.app.store, nil, nil); err != nil {
		t.Fatalf("verify of the state store: %v", err)
	}
	raw, _ := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: SupplyMapUpgrade, Height: h.height + 10}, Expires: expiry()})
	h.judge(raw, StageCheck, CodeConflict, "already")
}
