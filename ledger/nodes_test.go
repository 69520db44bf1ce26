package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// nodeID is a well-formed CometBFT node ID, distinct per seed.
func nodeID(seed byte) string { return strings.Repeat(fmt.Sprintf("%02x", seed), 20) }

func (h *harness) registerNode(signer, id, nodeID string, seed byte) []byte {
	h.keys[id] = key(seed)
	return h.sign(signer, tx.TypeRegister, &tx.Register{ID: id, Kind: carechain.KindNode, NodeID: nodeID, PublicKey: pub(seed)})
}

func TestAdminRegistersAndRevokesItsNode(t *testing.T) {
	h := newHarness(t)
	if got := h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60)); got[0] != CodeOK {
		t.Fatalf("register: %v", got)
	}
	p, err := h.at(0).NodePrincipal(nodeID(1))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "hosp-a/node0" || p.Kind != carechain.KindNode || p.Org != "hosp-a" || p.NodeID != nodeID(1) || p.Status != carechain.StatusActive {
		t.Fatalf("node principal %+v", p)
	}
	if _, err := h.at(0).NodePrincipal(nodeID(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unregistered node id: %v", err)
	}
	if got := h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/node0", Reason: "decommissioned"})); got[0] != CodeOK {
		t.Fatalf("revoke: %v", got)
	}
	if p, err := h.at(0).NodePrincipal(nodeID(1)); err != nil || p.Status != carechain.StatusRevoked {
		t.Fatalf("after revoke: %+v %v", p, err)
	}
}

// TestNodeRejections: who registers nodes, node IDs used once, and what a
// node key may sign; through CheckTx and FinalizeBlock, state unchanged.
func TestNodeRejections(t *testing.T) {
	cases := []struct {
		name   string
		make   func(h *harness) []byte
		want   Code
		reason string
	}{
		{"another organization's admin registers a node", func(h *harness) []byte {
			return h.registerNode("hosp-b/admin", "hosp-a/node9", nodeID(9), 69)
		}, CodeUnauthorized, "needs an admin of"},
		{"a practitioner registers a node", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 61, carechain.RoleRegistrationClerk))
			return h.registerNode("hosp-a/clerk", "hosp-a/node9", nodeID(9), 69)
		}, CodeUnauthorized, "needs an admin of"},
		{"a node id registered twice", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			return h.registerNode("hosp-b/admin", "hosp-b/node0", nodeID(1), 61)
		}, CodeConflict, "never reused"},
		{"a revoked node's id registered again", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/node0"}))
			return h.registerNode("hosp-a/admin", "hosp-a/node1", nodeID(1), 61)
		}, CodeConflict, "never reused"},
		{"a node registers staff", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			return h.register("hosp-a/node0", "hosp-a/x", carechain.KindPractitioner, 62)
		}, CodeUnauthorized, "signs only"},
		{"a node revokes another principal", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			return h.sign("hosp-a/node0", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/admin"})
		}, CodeUnauthorized, "may not revoke"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := newHarness(t)
				h.judge(c.make(h), stage, c.want, c.reason)
			})
		}
	}
}

// judge submits raw at stage and checks it is refused with code, a reason
// containing reason, and no change of state.
func (h *harness) judge(raw []byte, stage Stage, want Code, reason string) {
	h.t.Helper()
	before := dumpState(h.t, h.app)
	var code Code
	var log string
	if stage == StageCheck {
		resp := h.checkResp(raw)
		code, log = Code(resp.Code), resp.Log
	} else {
		code, log = h.blockResp(raw)
	}
	if code != want || !strings.Contains(log, reason) {
		h.t.Fatalf("got %v %q, want %v containing %q", code, log, want, reason)
	}
	if after := dumpState(h.t, h.app); after != before {
		h.t.Fatal("a rejected transaction changed state")
	}
}

func TestGenesisNodes(t *testing.T) {
	h := newHarnessWith(t, func(g *Genesis) {
		g.Nodes = []GenesisNode{{ID: "hosp-a/node0", NodeID: nodeID(1), PublicKey: pub(60)}, {ID: "hosp-b/node0", NodeID: nodeID(2), PublicKey: pub(61)}}
	})
	for i, id := range []string{"hosp-a/node0", "hosp-b/node0"} {
		p, err := h.at(0).NodePrincipal(nodeID(byte(i + 1)))
		if err != nil || p.ID != id || p.Kind != carechain.KindNode || p.Org != carechain.OrgOf(id) || p.RegisteredBy != "genesis" || !p.PublicKey.Equal(pub(byte(60+i))) {
			t.Fatalf("genesis node %s: %+v %v", id, p, err)
		}
	}
	// The genesis claimed the node IDs and keys.
	h.judge(h.registerNode("hosp-a/admin", "hosp-a/node1", nodeID(1), 62), StageCheck, CodeConflict, "never reused")
	h.judge(h.registerNode("hosp-a/admin", "hosp-a/node1", nodeID(3), 60), StageCheck, CodeConflict, "keys are never reused")
}

func TestGenesisRejectsBadNodes(t *testing.T) {
	admin := GenesisAdmin{ID: "h/admin", PublicKey: pub(1)}
	cases := []struct {
		name  string
		nodes []GenesisNode
		want  string
	}{
		{"unknown organization", []GenesisNode{{ID: "x/node0", NodeID: nodeID(1), PublicKey: pub(2)}}, "founding organization"},
		{"patient id", []GenesisNode{{ID: "patient/node0", NodeID: nodeID(1), PublicKey: pub(2)}}, "founding organization"},
		{"bad node id", []GenesisNode{{ID: "h/node0", NodeID: "node0", PublicKey: pub(2)}}, "40 lower-case hex"},
		{"short key", []GenesisNode{{ID: "h/node0", NodeID: nodeID(1), PublicKey: pub(2)[:8]}}, "public key must be"},
		{"admin's key", []GenesisNode{{ID: "h/node0", NodeID: nodeID(1), PublicKey: pub(1)}}, "declared twice"},
		{"admin's id", []GenesisNode{{ID: "h/admin", NodeID: nodeID(1), PublicKey: pub(2)}}, "declared twice"},
		{"node id twice", []GenesisNode{{ID: "h/node0", NodeID: nodeID(1), PublicKey: pub(2)}, {ID: "h/node1", NodeID: nodeID(1), PublicKey: pub(3)}}, "declared twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := Genesis{Organizations: []GenesisOrg{{Organization: carechain.Organization{ID: "h", Type: carechain.OrgHospital}, Admins: []GenesisAdmin{admin}}}, Nodes: c.nodes}
			if err := g.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, c.want)
			}
		})
	}
}
