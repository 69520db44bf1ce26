package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/tx"
)

// TestPBTSUpgradeEnablesPBTSFromTheNextHeight: on a chain founded with BFT
// time, the approved upgrade "pbts" returns, in the block at its height
// and no other, the consensus parameter update CometBFT accepts there that
// enables PBTS from the next height, and nothing else; the upgrade cannot
// be scheduled again.
func TestPBTSUpgradeEnablesPBTSFromTheNextHeight(t *testing.T) {
	h, _ := upgradeWorld(t, nil)
	if strings.Contains(dumpState(t, h.app), pbtsHeightKey) {
		t.Fatal("a genesis without PBTS recorded a PBTS height: older chains' genesis state would change")
	}
	target := h.height + 4
	h.schedule(tx.UpgradePlan{Name: PBTSUpgrade, Height: target})
	for h.height < target-1 {
		if resp := h.finalize(); resp.ConsensusParamUpdates != nil {
			t.Fatalf("block %d updates consensus parameters before the upgrade: %v", h.height, resp.ConsensusParamUpdates)
		}
	}
	update := h.finalize().ConsensusParamUpdates
	if update == nil || update.Feature == nil || update.Feature.PbtsEnableHeight.GetValue() != target+1 {
		t.Fatalf("update at the upgrade height %d: %v, want PBTS from %d", target, update, target+1)
	}
	if update.Feature.VoteExtensionsEnableHeight != nil || update.Block != nil || update.Evidence != nil || update.Validator != nil || update.Version != nil || update.Abci != nil {
		t.Fatalf("the update changes more than PBTS: %v", update)
	}
	before := types.DefaultConsensusParams() // a genesis from before PBTS
	if err := before.ValidateUpdate(update, target); err != nil {
		t.Fatalf("CometBFT refuses the update at %d: %v", target, err)
	}
	after := before.Update(update)
	if err := after.ValidateBasic(); err != nil || !after.Feature.PbtsEnabled(target+1) || after.Feature.PbtsEnabled(target) ||
		after.Synchrony.Precision != PBTSPrecision || after.Synchrony.MessageDelay != PBTSMessageDelay {
		t.Fatalf("params after the update: %+v, %v", after, err)
	}
	if resp := h.finalize(); resp.ConsensusParamUpdates != nil {
		t.Fatalf("block after the upgrade updates consensus parameters again: %v", resp.ConsensusParamUpdates)
	}
	if from, err := h.at(0).PBTSHeight(); err != nil || from != target+1 {
		t.Fatalf("PBTSHeight: %d, %v; want %d", from, err, target+1)
	}
	raw, _ := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: PBTSUpgrade, Height: h.height + 10}, Expires: expiry()})
	h.judge(raw, StageCheck, CodeConflict, "already")
}

// TestPBTSUpgradeRefusedWhenGenesisHasPBTS: a chain founded with PBTS (as
// node.Init founds them) refuses the upgrade: CometBFT would refuse to
// move the enable height of a feature in force.
func TestPBTSUpgradeRefusedWhenGenesisHasPBTS(t *testing.T) {
	params := types.DefaultConsensusParams()
	params.Feature.PbtsEnableHeight = 1
	proto := params.ToProto()
	h := newHarnessParams(t, nil, nil, Options{ChainID: chainID}, &proto)
	h.shift = time.Since(blockTime(0)) // blocks at the wall clock, which proposals expire by
	if from, err := h.at(0).PBTSHeight(); err != nil || from != 1 {
		t.Fatalf("PBTSHeight: %d, %v; want 1", from, err)
	}
	raw, _ := h.propose("hosp-a/admin", &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: PBTSUpgrade, Height: h.height + 10}, Expires: expiry()})
	h.judge(raw, StageCheck, CodeConflict, "proposer-based timestamps from height 1 already")
}
