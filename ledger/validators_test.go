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
	"github.com/carechain/carechain/tx"
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

// validatorChange proposes setting the power of the validator with key
// pub(seed), run by node if new (its proof signed by key(seed)).
func validatorChange(seed byte, power int64, node string) *tx.GovPropose {
	c := &tx.ValidatorChange{PublicKey: pub(seed), Power: power, Node: node}
	if node != "" {
		tx.SignValidatorChange(chainID, c, key(seed))
	}
	return &tx.GovPropose{Validator: c, Expires: expiry()}
}

// TestValidatorChangesByVote: a new validator with its key's proof, a
// change of power and a removal, each when a majority approves, each
// returned from the approving block's FinalizeBlock.
func TestValidatorChangesByVote(t *testing.T) {
	h := validatorWorld(t, nil)
	h.finalize(h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "hosp-a/node2", Kind: carechain.KindNode, PublicKey: pub(131), NodeID: fmt.Sprintf("%040x", 231)}))
	steps := []struct {
		proposer, approver string
		body               *tx.GovPropose
		key                byte
		power              int64
	}{
		{"hosp-a/admin", "hosp-b/admin", validatorChange(130, 5, "hosp-a/node2"), 130, 5},
		{"hosp-b/admin", "hosp-c/admin", validatorChange(121, 20, ""), 121, 20},
		{"hosp-c/admin", "hosp-a/admin", validatorChange(122, 0, ""), 122, 0},
	}
	first := h.height + 1
	for _, s := range steps {
		raw, id := h.propose(s.proposer, s.body)
		if resp := h.finalize(raw); len(resp.ValidatorUpdates) != 0 {
			t.Fatalf("updates on proposing: %v", resp.ValidatorUpdates)
		}
		resp := h.finalize(h.approve(s.approver, id))
		if power, ok := powerOf(resp.ValidatorUpdates, pub(s.key)); !ok || power != s.power || len(resp.ValidatorUpdates) != 1 {
			t.Fatalf("updates of the approval of %s: %v", id, resp.ValidatorUpdates)
		}
	}
	vs, err := h.at(0).Validators()
	if err != nil || len(vs) != 3 {
		t.Fatalf("validators: %+v %v", vs, err)
	}
	got := map[string]int64{}
	for _, v := range vs {
		got[v.Node] = v.Power
	}
	if got["hosp-a/node"] != 20 || got["hosp-a/node2"] != 5 || got["hosp-c/node"] != 10 {
		t.Fatalf("validators: %v", got)
	}
	if hist, err := h.at(0).ValidatorHistory(first, h.height); err != nil || len(hist) != 3 || hist[2].Power != 0 {
		t.Fatalf("history: %+v %v", hist, err)
	}
}

func TestValidatorChangeRejections(t *testing.T) {
	badProof := func() *tx.GovPropose {
		p := validatorChange(130, 5, "hosp-a/node")
		p.Validator.Power = 6 // after signing
		return p
	}
	cases := []struct {
		name   string
		make   func(t *testing.T, h *harness) *tx.GovPropose
		want   Code
		reason string
	}{
		{"power 0 for an unknown key", func(*testing.T, *harness) *tx.GovPropose { return validatorChange(99, 0, "") }, CodeInvalid, "not in the recorded validator set"},
		{"a new key without proof", func(*testing.T, *harness) *tx.GovPropose {
			return &tx.GovPropose{Validator: &tx.ValidatorChange{PublicKey: pub(130), Power: 5}, Expires: expiry()}
		}, CodeInvalid, "needs its node principal"},
		{"a proof of another power", func(*testing.T, *harness) *tx.GovPropose { return badProof() }, CodeBadSignature, "proof of possession"},
		{"a node that is not a node", func(*testing.T, *harness) *tx.GovPropose { return validatorChange(130, 5, "hosp-a/admin") }, CodeInvalid, "not an active node principal"},
		{"the same power", func(*testing.T, *harness) *tx.GovPropose { return validatorChange(121, 10, "") }, CodeInvalid, "already has power"},
		{"another node for a validator", func(*testing.T, *harness) *tx.GovPropose { return validatorChange(121, 5, "hosp-b/node") }, CodeInvalid, "is run by"},
		{"the key of a validator that left", func(t *testing.T, h *harness) *tx.GovPropose {
			h.finalize(h.sign("hosp-c/admin", tx.TypeGovPropose, &tx.GovPropose{Remove: "hosp-c", Expires: expiry()}))
			return validatorChange(123, 5, "hosp-a/node")
		}, CodeConflict, "never reused"},
		{"the last validators", func(t *testing.T, h *harness) *tx.GovPropose {
			for _, seed := range []byte{122, 123} {
				raw, id := h.propose("hosp-a/admin", validatorChange(seed, 0, ""))
				h.finalize(raw, h.approve("hosp-b/admin", id))
			}
			return validatorChange(121, 0, "")
		}, CodeInvalid, "without validators"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := validatorWorld(t, nil)
				h.judge(h.sign("hosp-a/admin", tx.TypeGovPropose, c.make(t, h)), stage, c.want, c.reason)
			})
		}
	}
}

// TestJoinAndLeaveInOneBlock: a validator added and removed in one block
// is never reported to CometBFT, which refuses to remove a validator it
// does not know.
func TestJoinAndLeaveInOneBlock(t *testing.T) {
	h := validatorWorld(t, nil)
	raw, id := h.propose("hosp-a/admin", &tx.GovPropose{Join: application(t, "pharm", 60, 10), Expires: expiry()})
	h.finalize(raw)
	h.keys["pharm/admin"] = key(60)
	resp := h.finalize(h.approve("hosp-b/admin", id), h.sign("pharm/admin", tx.TypeGovPropose, &tx.GovPropose{Remove: "pharm", Expires: expiry()}))
	if len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("validator updates: %v", resp.ValidatorUpdates)
	}
	if vs, _ := h.at(0).Validators(); len(vs) != 3 {
		t.Fatalf("validators: %+v", vs)
	}
	if ch, _ := h.at(0).ValidatorChanges(h.height); len(ch) != 0 {
		t.Fatalf("validator changes: %+v", ch)
	}
}

// TestRevokingAValidatorsNode: revoking a node principal takes the
// validators it runs out of the set (its node no longer peers, so they
// could not vote), but not the last ones; the node peers until its
// validator is out.
func TestRevokingAValidatorsNode(t *testing.T) {
	h := validatorWorld(t, nil)
	resp := h.finalize(h.sign("hosp-b/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-b/node"}))
	revoked := h.height
	if power, ok := powerOf(resp.ValidatorUpdates, pub(122)); !ok || power != 0 || len(resp.ValidatorUpdates) != 1 {
		t.Fatalf("validator updates of the revocation: %v", resp.ValidatorUpdates)
	}
	if ch, err := h.at(0).ValidatorChanges(revoked); err != nil || len(ch) != 1 || ch[0].Proposal != string(tx.TypeRevoke) {
		t.Fatalf("validator changes: %+v %v", ch, err)
	}
	if err := h.app.AdmitPeer(fmt.Sprintf("%040x", 202)); err != nil {
		t.Fatalf("the node votes on the next block, yet is refused: %v", err)
	}
	h.finalize()
	h.finalize()
	if err := h.app.AdmitPeer(fmt.Sprintf("%040x", 202)); err == nil {
		t.Fatal("a revoked node peers after its validator left")
	}
	// The last validators' nodes cannot be revoked.
	h.finalize(h.sign("hosp-c/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-c/node"}))
	h.judge(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/node"}), StageFinalize, CodeInvalid, "only validators")
	if vs, err := h.at(0).Validators(); err != nil || len(vs) != 1 || vs[0].Node != "hosp-a/node" {
		t.Fatalf("validators: %+v %v", vs, err)
	}
}
