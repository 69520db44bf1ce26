package node

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/ledger"
)

// TestTestnetGenesisNamesValidatorNodes: a testnet's genesis records its
// validators, each named by the node principal of the home that holds its
// key.
func TestTestnetGenesisNamesValidatorNodes(t *testing.T) {
	homes, err := Testnet(t.TempDir(), TestnetOptions{Validators: 2, ChainID: testChain, Genesis: *testGenesis(), BasePort: 0, Node: testNodePrincipal})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := types.GenesisDocFromFile(homes[0].GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	var g ledger.Genesis
	if err := json.Unmarshal(doc.AppState, &g); err != nil {
		t.Fatal(err)
	}
	if !g.ValidatorSet || len(g.Nodes) != 2 {
		t.Fatalf("genesis: validator_set %v, nodes %+v", g.ValidatorSet, g.Nodes)
	}
	for i, n := range g.Nodes {
		if !bytes.Equal(n.ValidatorKey, doc.Validators[i].PubKey.Bytes()) {
			t.Fatalf("node %s: validator key %X, validator %d is %X", n.ID, n.ValidatorKey, i, doc.Validators[i].PubKey.Bytes())
		}
	}
}

// TestInitGenesisNamesItsValidatorNode: a founding node's genesis records
// its validator, named by the node principal registered with its node ID.
func TestInitGenesisNamesItsValidatorNode(t *testing.T) {
	h := Home(t.TempDir())
	g := testGenesis()
	n, err := testNodePrincipal(0, h)
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes = []ledger.GenesisNode{n}
	if err := Init(h, InitOptions{Config: DefaultConfig(testChain, "solo"), Genesis: g}); err != nil {
		t.Fatal(err)
	}
	if g.Nodes[0].ValidatorKey != nil || g.ValidatorSet {
		t.Fatal("Init changed its caller's genesis")
	}
	doc, err := types.GenesisDocFromFile(h.GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	var got ledger.Genesis
	if err := json.Unmarshal(doc.AppState, &got); err != nil {
		t.Fatal(err)
	}
	if !got.ValidatorSet || !bytes.Equal(got.Nodes[0].ValidatorKey, doc.Validators[0].PubKey.Bytes()) {
		t.Fatalf("genesis: validator_set %v, nodes %+v", got.ValidatorSet, got.Nodes)
	}
}
