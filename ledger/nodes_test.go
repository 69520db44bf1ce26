package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

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
		{"an admin anchors audit events", func(h *harness) []byte {
			return h.anchor("hosp-a/admin", "hosp-a/admin")
		}, CodeUnauthorized, "only by nodes"},
		{"a practitioner anchors audit events", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "hosp-a/dr-a", carechain.KindPractitioner, 62, carechain.RolePhysician))
			return h.anchor("hosp-a/dr-a", "hosp-a/node0")
		}, CodeUnauthorized, "only by nodes"},
		{"a node anchors under another node's name", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60), h.registerNode("hosp-b/admin", "hosp-b/node0", nodeID(2), 61))
			return h.anchor("hosp-a/node0", "hosp-b/node0")
		}, CodeUnauthorized, "only its own"},
		{"a revoked node anchors", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/node0"}))
			return h.anchor("hosp-a/node0", "hosp-a/node0")
		}, CodeRevokedSigner, "revoked"},
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

// anchor is an audit.anchor of one event, signed by signer in node's name.
func (h *harness) anchor(signer, node string) []byte {
	h.t.Helper()
	body := &tx.AuditAnchor{Node: node, Events: []tx.SealedEvent{{ID: node + "-1", Patient: "patient/p", Time: 1, Sealed: []byte{1}}}}
	if err := body.SignAuditBatch(h.keys[signer], chainID); err != nil {
		h.t.Fatal(err)
	}
	return h.sign(signer, tx.TypeAuditAnchor, body)
}

func TestRegisteredNodeAnchors(t *testing.T) {
	for _, stage := range []Stage{StageCheck, StageFinalize} {
		t.Run(string(stage), func(t *testing.T) {
			h := newHarness(t)
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60))
			raw := h.anchor("hosp-a/node0", "hosp-a/node0")
			if stage == StageCheck {
				if c := h.check(raw); c != CodeOK {
					t.Fatalf("CheckTx = %v", c)
				}
				return
			}
			if code, log := h.blockResp(raw); code != CodeOK {
				t.Fatalf("FinalizeBlock = %v %s", code, log)
			}
			es, err := h.at(0).AuditEntries("patient/p")
			if err != nil || len(es) != 1 || es[0].Node != "hosp-a/node0" {
				t.Fatalf("anchored entries %+v %v", es, err)
			}
		})
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

// TestPeerFilterQuery answers CometBFT's filter_peers queries from the node
// registry: any address, only registered and active node IDs, and the IDs
// the node trusts while it catches up unless the ledger revoked them.
func TestPeerFilterQuery(t *testing.T) {
	h := newHarness(t)
	h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 60), h.registerNode("hosp-b/admin", "hosp-b/node0", nodeID(2), 61))
	h.block(h.sign("hosp-b/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-b/node0"}))
	trusted := map[string]bool{nodeID(2): true, nodeID(3): true}
	h.app.trustPeer = func(id string) bool { return trusted[id] }
	cases := []struct {
		path string
		ok   bool
		log  string
	}{
		{"/p2p/filter/addr/127.0.0.1:26656", true, ""},
		{"/p2p/filter/id/" + nodeID(1), true, ""},
		{"/p2p/filter/id/" + nodeID(2), false, "revoked at height 2"},
		{"/p2p/filter/id/" + nodeID(3), true, ""},
		{"/p2p/filter/id/" + nodeID(4), false, "not a registered node principal"},
		{"/p2p/filter/id/", false, "not a registered node principal"},
		{"/store/key", false, "no query"},
	}
	for _, c := range cases {
		resp, err := h.app.Query(context.Background(), &abci.QueryRequest{Path: c.path})
		if err != nil {
			t.Fatal(err)
		}
		if resp.IsOK() != c.ok || !strings.Contains(resp.Log, c.log) {
			t.Errorf("%s: code %d %q, want ok=%v with %q", c.path, resp.Code, resp.Log, c.ok, c.log)
		}
	}
	h.app.trustPeer = nil
	if err := h.app.AdmitPeer(nodeID(3)); !errors.Is(err, ErrPeerRefused) {
		t.Fatalf("untrusted unknown node: %v", err)
	}
}
