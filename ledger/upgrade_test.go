package ledger

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// upgradeWorld is a consortium of hosp-a and hosp-b (both must approve a
// proposal) whose app implements ups; halts collects what it halts with.
func upgradeWorld(t *testing.T, ups []Upgrade) (h *harness, halts *[]error) {
	t.Helper()
	halts = new([]error)
	h = newHarnessOpts(t, nil, nil, Options{ChainID: chainID, Upgrades: ups, Halt: func(err error) { *halts = append(*halts, err) }})
	h.shift = time.Since(blockTime(0))
	return h, halts
}

// schedule has hosp-a propose plan and hosp-b approve it, in two blocks;
// the approval carries it out.
func (h *harness) schedule(plan tx.UpgradePlan) string {
	h.t.Helper()
	return h.scheduleUntil(plan, expiry())
}

// scheduleUntil is schedule with a proposal that expires at expires (Unix
// seconds), for harnesses that must build the same blocks.
func (h *harness) scheduleUntil(plan tx.UpgradePlan, expires int64) string {
	h.t.Helper()
	raw, id := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &plan, Expires: expires})
	h.finalize(raw)
	h.finalize(h.approve("hosp-b/admin", id))
	return id
}

// finalizeAt runs FinalizeBlock for the next height without committing.
func (h *harness) finalizeAt(txs ...[]byte) (*abci.FinalizeBlockResponse, error) {
	return h.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h.height + 1, Txs: txs, Time: blockTime(h.height + 1).Add(h.shift)})
}

func (h *harness) lastCommit() store.Commit {
	h.t.Helper()
	last, err := h.app.store.LastCommit()
	if err != nil {
		h.t.Fatal(err)
	}
	return last
}

// TestUpgradeHaltsBuildWithoutIt: at the plan's height an app that does
// not implement the upgrade refuses the block, says why and halts, its
// state at the height before; an app that implements it, on the same
// state, then applies that block, migrating first.
func TestUpgradeHaltsBuildWithoutIt(t *testing.T) {
	h, halts := upgradeWorld(t, []Upgrade{})
	target := h.height + 4
	id := h.schedule(tx.UpgradePlan{Name: "v2", Height: target, Info: "release 2.0"})
	if p := h.at(0); p.Height() != target-2 {
		t.Fatalf("scheduled at %d, want %d", p.Height(), target-2)
	}
	pending, err := h.at(0).PendingUpgrade()
	if err != nil || pending == nil || pending.Plan.Name != "v2" || pending.Proposal != id || pending.Status != UpgradeScheduled {
		t.Fatalf("pending upgrade: %+v, %v", pending, err)
	}
	h.finalize()
	for range 2 { // as the old build does again when restarted
		_, err := h.finalizeAt()
		var needed *UpgradeNeededError
		if !errors.As(err, &needed) || needed.Plan.Name != "v2" {
			t.Fatalf("FinalizeBlock at the upgrade height: %v", err)
		}
		want := "upgrade v2 approved for height " + strconv.FormatInt(target, 10) + ": this build (version " + Version + "; upgrades: none) does not implement it; install a carechain build that does"
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "release 2.0") {
			t.Fatalf("error %q does not say %q and the plan's info", err, want)
		}
		if last := h.lastCommit(); last.Height != target-1 {
			t.Fatalf("state at %d after the refused block, want %d", last.Height, target-1)
		}
	}
	if len(*halts) != 2 {
		t.Fatalf("halted %d times, want 2", len(*halts))
	}

	// The upgraded build on the same state.
	migrated := func(b *store.Block) error { return b.Set("param/v2-migrated", []byte{1}) }
	app, err := New(h.app.store, Options{ChainID: chainID, Upgrades: []Upgrade{{Name: "v2", Migrate: migrated}}})
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	h.finalize()
	h.finalize()
	for height, want := range map[int64]bool{target - 1: false, target: true} {
		if _, err := h.at(height).Get("param/v2-migrated"); (err == nil) != want {
			t.Errorf("migrated key at %d: %v, want present %v", height, err, want)
		}
	}
	ups, err := h.at(0).Upgrades()
	if err != nil || len(ups) != 1 || ups[0].Status != UpgradeApplied || ups[0].Closed != target {
		t.Fatalf("upgrades: %+v, %v", ups, err)
	}
	if p, err := h.at(0).PendingUpgrade(); p != nil || err != nil {
		t.Fatalf("pending after applying: %+v, %v", p, err)
	}
	// Its name cannot be scheduled again.
	raw, _ := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: "v2", Height: h.height + 10}, Expires: expiry()})
	h.judge(raw, StageCheck, CodeConflict, "was applied at height")
}

// shortTTL is the rule of the test upgrade "v2": proposals stay open an hour at most.
var shortTTL = []Upgrade{{Name: "v2", Rules: func(r *Rules) { r.MaxGovTTL = time.Hour }}}

// TestUpgradeRulesTakeEffectAtItsHeight: a build that implements an
// upgrade judges by the old rules until the plan's height, and by the new
// ones from that block on; and until then it computes the
// same app hashes as a build that does not implement it.
func TestUpgradeRulesTakeEffectAtItsHeight(t *testing.T) {
	newer, _ := upgradeWorld(t, shortTTL)
	older, _ := upgradeWorld(t, []Upgrade{})
	older.shift = newer.shift
	both := func(do func(h *harness)) {
		do(older)
		do(newer)
		if a, b := older.lastCommit(), newer.lastCommit(); a.Height != b.Height || !bytes.Equal(a.AppHash, b.AppHash) {
			t.Fatalf("app hashes part at %d/%d: %X and %X", a.Height, b.Height, a.AppHash, b.AppHash)
		}
	}
	twoHours := time.Now().Add(2 * time.Hour).Unix()
	policy := func(expires int64) *tx.GovPropose {
		return &tx.GovPropose{Policy: &tx.GovernancePolicy{Voters: []string{"hosp-a"}}, Expires: expires}
	}
	both(func(h *harness) { h.finalize(h.sign("hosp-a/admin", tx.TypeGovPropose, policy(twoHours))) }) // no plan yet
	target := newer.height + 6
	expires := expiry() // once: both harnesses must sign the same proposal
	both(func(h *harness) { h.scheduleUntil(tx.UpgradePlan{Name: "v2", Height: target}, expires) })
	both(func(h *harness) { h.finalize(h.sign("hosp-a/admin", tx.TypeGovPropose, policy(twoHours))) }) // plan approved, height not reached
	for newer.height < target-1 {
		both(func(h *harness) { h.finalize() })
	}
	// The next block is the upgrade's, which judges by its rules (CheckTx
	// admits what the rules of a type refuse: the block judges them).
	raw := newer.sign("hosp-a/admin", tx.TypeGovPropose, policy(twoHours))
	if c := newer.check(raw); c != CodeOK {
		t.Fatalf("CheckTx = %v, want ok", c)
	}
	if code, log := newer.blockResp(raw); code != CodeInvalid || !strings.Contains(log, "within 1h0m0s") {
		t.Fatalf("in the upgrade block: %v %s", code, log)
	}
	newer.finalize(newer.sign("hosp-a/admin", tx.TypeGovPropose, policy(time.Now().Add(30*time.Minute).Unix())))
}

// TestUpgradePlanRules: a plan's height must be far enough ahead, and a
// new plan replaces the pending one, which then never halts anything.
func TestUpgradePlanRules(t *testing.T) {
	h, halts := upgradeWorld(t, []Upgrade{})
	raw, _ := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: "v2", Height: h.height + 2}, Expires: expiry()})
	h.judge(raw, StageCheck, CodeInvalid, "too soon")
	if code, log := h.blockResp(raw); code != CodeInvalid || !strings.Contains(log, "too soon") {
		t.Fatalf("plan too soon: %v %s", code, log)
	}
	first := h.height + 5
	h.schedule(tx.UpgradePlan{Name: "v2", Height: first})
	h.schedule(tx.UpgradePlan{Name: "v3", Height: first + 10})
	for h.height < first+2 {
		h.finalize()
	}
	if len(*halts) != 0 {
		t.Fatalf("halted at a replaced plan's height: %v", *halts)
	}
	ups, err := h.at(0).Upgrades()
	if err != nil || len(ups) != 2 || ups[0].Status != UpgradeReplaced || ups[1].Status != UpgradeScheduled {
		t.Fatalf("upgrades: %+v, %v", ups, err)
	}
}
