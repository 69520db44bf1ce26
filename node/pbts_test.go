package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// TestNewGenesisHasPBTS: the genesis of a new chain, single node or
// testnet, has proposer-based timestamps from block 1 with carechain's
// synchrony parameters, and vote extensions still off.
func TestNewGenesisHasPBTS(t *testing.T) {
	homes, err := Testnet(t.TempDir(), TestnetOptions{Validators: 2, ChainID: testChain, Genesis: *testGenesis(), Node: testNodePrincipal})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range append(homes, initSingle(t)) {
		doc, err := types.GenesisDocFromFile(h.GenesisFile())
		if err != nil {
			t.Fatal(err)
		}
		p := doc.ConsensusParams
		if p.Feature.PbtsEnableHeight != 1 || p.Feature.VoteExtensionsEnableHeight != 0 ||
			p.Synchrony != (types.SynchronyParams{Precision: ledger.PBTSPrecision, MessageDelay: ledger.PBTSMessageDelay}) {
			t.Fatalf("%s: feature %+v, synchrony %+v", h, p.Feature, p.Synchrony)
		}
	}
}

// TestPBTSUpgradeFreshensBlockTimeAfterIdle: on a chain founded with BFT
// time, a block made after the chain idled is stamped about the idle time
// in the past; once the approved upgrade "pbts" reaches its height H,
// CometBFT has PBTS from H+1 and such a block carries the time it was
// proposed.
func TestPBTSUpgradeFreshensBlockTimeAfterIdle(t *testing.T) {
	const idle = 5 * time.Second // well under the empty block interval (30s)
	n := startBFTTime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	submit := func(typ tx.Type, body any) int64 {
		t.Helper()
		nonce, err := n.Latest().NextNonce("hosp-a/admin")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tx.Sign(seedKey(1), testChain, "hosp-a/admin", nonce, typ, body)
		if err != nil {
			t.Fatal(err)
		}
		out, err := n.Submit(ctx, raw)
		if err != nil || !out.Accepted() {
			t.Fatalf("%s: %+v, %v", typ, out, err)
		}
		return out.Height
	}
	patients := 0
	register := func() int64 {
		patients++
		return submit(tx.TypeRegister, &tx.Register{ID: fmt.Sprintf("patient/p%d", patients), Kind: carechain.KindPatient,
			PublicKey: seedKey(byte(10 + patients)).Public().(ed25519.PublicKey)})
	}
	// staleAfterIdle is how far in the past the block of a transaction
	// sent after the chain idled is stamped.
	staleAfterIdle := func() time.Duration {
		time.Sleep(idle) // the scenario: the chain idles
		sent := time.Now()
		h := register()
		return sent.Sub(n.cmt.BlockStore().LoadBlockMeta(h).Header.Time)
	}
	if stale := staleAfterIdle(); stale < idle/2 {
		t.Fatalf("BFT time: a block after %v idle is stale by only %v; the test cannot tell PBTS from it", idle, stale)
	}

	target := n.BlockHeight() + 2*ledger.MinUpgradeDelay + 1
	submit(tx.TypeGovPropose, &tx.GovPropose{Upgrade: &tx.UpgradePlan{Name: ledger.PBTSUpgrade, Height: target}, Expires: time.Now().Add(time.Hour).Unix()})
	for n.BlockHeight() <= target {
		register()
	}
	rpc, err := n.cmt.ConfigureRPC()
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[int64]int64{target: 0, target + 1: target + 1} {
		res, err := rpc.ConsensusParams(nil, &h)
		if err != nil || res.ConsensusParams.Feature.PbtsEnableHeight != want {
			t.Fatalf("consensus params at %d: %+v, %v; want PBTS enable height %d", h, res, err, want)
		}
	}
	if from, err := n.Latest().PBTSHeight(); err != nil || from != target+1 {
		t.Fatalf("ledger PBTSHeight %d, %v; want %d", from, err, target+1)
	}
	if stale := staleAfterIdle(); stale > idle/2 || stale < -time.Second {
		t.Fatalf("PBTS: a block after %v idle is stamped %v before the transaction was sent", idle, stale)
	}
}

// startBFTTime starts a single node on a chain founded as before PBTS: its
// genesis has CometBFT's default consensus parameters (BFT time).
func startBFTTime(t *testing.T) *Node {
	t.Helper()
	h := initSingle(t)
	doc, err := types.GenesisDocFromFile(h.GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	doc.ConsensusParams.Feature.PbtsEnableHeight = 0
	doc.ConsensusParams.Synchrony = types.DefaultSynchronyParams()
	if err := doc.SaveAs(h.GenesisFile()); err != nil {
		t.Fatal(err)
	}
	return startHome(t, h)
}
