package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
)

// validatorUpdate is CometBFT's genesis validator with key pub(seed).
func validatorUpdate(seed byte, power int64) abci.ValidatorUpdate {
	return abci.ValidatorUpdate{Power: power, PubKeyType: "ed25519", PubKeyBytes: pub(seed)}
}

// validatorWorld is govWorld on a chain that records its validators: each
// of hosp-a, hosp-b and hosp-c has a node (hosp-x/node, key 110+i, node ID
// 200+i in hex) validating with key pub(120+i) and power 10, i = 1, 2, 3.
func validatorWorld(t *testing.T, edit func(*Genesis)) *harness {
	var vals []abci.ValidatorUpdate
	h := govWorldInit(t, func(g *Genesis) {
		g.ValidatorSet = true
		for i, org := range []string{"hosp-a", "hosp-b", "hosp-c"} {
			s := byte(i + 1)
			g.Nodes = append(g.Nodes, GenesisNode{ID: org + "/node", NodeID: fmt.Sprintf("%040x", 200+i+1), PublicKey: pub(110 + s), ValidatorKey: pub(120 + s)})
		}
		if edit != nil {
			edit(g)
		}
	}, append(vals, validatorUpdate(121, 10), validatorUpdate(122, 10), validatorUpdate(123, 10)))
	for i, org := range []string{"hosp-a", "hosp-b", "hosp-c"} {
		h.keys[org+"/node"] = key(byte(111 + i))
	}
	return h
}

func TestGenesisValidatorsRecorded(t *testing.T) {
	h := validatorWorld(t, nil)
	v := h.at(0)
	vs, err := v.Validators()
	if err != nil || len(vs) != 3 {
		t.Fatalf("validators: %+v %v", vs, err)
	}
	nodes := map[string]string{}
	for _, x := range vs {
		nodes[string(x.PublicKey)] = x.Node
		if x.Power != 10 || x.Height != 0 || x.Proposal != "" {
			t.Fatalf("genesis validator %+v", x)
		}
	}
	if nodes[string(pub(121))] != "hosp-a/node" || nodes[string(pub(123))] != "hosp-c/node" {
		t.Fatalf("validators' nodes: %v", nodes)
	}
	if ch, err := v.ValidatorChanges(0); err != nil || len(ch) != 3 {
		t.Fatalf("genesis validator changes: %+v %v", ch, err)
	}
	if hist, err := v.ValidatorHistory(0, 10); err != nil || len(hist) != 3 {
		t.Fatalf("validator history: %+v %v", hist, err)
	}
}

// TestGenesisWithoutValidatorSetWritesNoValidators: an older genesis gives
// the state it always gave, whatever CometBFT's validators.
func TestGenesisWithoutValidatorSetWritesNoValidators(t *testing.T) {
	h := newHarnessInit(t, nil, []abci.ValidatorUpdate{validatorUpdate(121, 10)})
	if s := dumpState(t, h.app); strings.Contains(s, "validator") {
		t.Fatalf("a genesis without validator_set wrote validators: %s", s)
	}
	if vs, err := h.at(0).Validators(); err != nil || len(vs) != 0 {
		t.Fatalf("validators: %+v %v", vs, err)
	}
}

func TestGenesisValidatorKeyRejections(t *testing.T) {
	node := func(id string, seed, valSeed byte) GenesisNode {
		return GenesisNode{ID: id, NodeID: fmt.Sprintf("%040x", seed), PublicKey: pub(seed), ValidatorKey: pub(valSeed)}
	}
	cases := []struct {
		name   string
		edit   func(*Genesis)
		vals   []abci.ValidatorUpdate
		reason string
	}{
		{"a validator key without validator_set", func(g *Genesis) { g.Nodes = []GenesisNode{node("hosp-a/node", 50, 121)} },
			[]abci.ValidatorUpdate{validatorUpdate(121, 10)}, "needs validator_set"},
		{"a validator key of the wrong size", func(g *Genesis) {
			g.ValidatorSet = true
			n := node("hosp-a/node", 50, 121)
			n.ValidatorKey = n.ValidatorKey[:31]
			g.Nodes = []GenesisNode{n}
		}, []abci.ValidatorUpdate{validatorUpdate(121, 10)}, "validator key must be 32 bytes"},
		{"a validator key named twice", func(g *Genesis) {
			g.ValidatorSet = true
			g.Nodes = []GenesisNode{node("hosp-a/node", 50, 121), node("hosp-b/node", 51, 121)}
		}, []abci.ValidatorUpdate{validatorUpdate(121, 10)}, "validator key declared twice"},
		{"a validator key that does not validate", func(g *Genesis) {
			g.ValidatorSet = true
			g.Nodes = []GenesisNode{node("hosp-a/node", 50, 122)}
		}, []abci.ValidatorUpdate{validatorUpdate(121, 10)}, "is not a genesis validator"},
		{"validator_set without validators", func(g *Genesis) { g.ValidatorSet = true }, nil, "has no validators"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := store.Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			app, err := New(st, Options{ChainID: chainID})
			if err != nil {
				t.Fatal(err)
			}
			g := Genesis{Organizations: []GenesisOrg{
				{Organization: carechain.Organization{ID: "hosp-a", Type: carechain.OrgHospital}, Admins: []GenesisAdmin{{ID: "hosp-a/admin", PublicKey: pub(1)}}},
				{Organization: carechain.Organization{ID: "hosp-b", Type: carechain.OrgHospital}, Admins: []GenesisAdmin{{ID: "hosp-b/admin", PublicKey: pub(2)}}},
			}}
			c.edit(&g)
			state, _ := json.Marshal(g)
			_, err = app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: chainID, AppStateBytes: state, InitialHeight: 1, Validators: c.vals})
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("InitChain: %v, want %q", err, c.reason)
			}
		})
	}
}
