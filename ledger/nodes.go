package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Node rules. A node is a principal of its organization (carechain.KindNode),
// registered and revoked by its admin like staff, and named by its CometBFT
// node ID. Only node principals anchor access events (checkAnchorer), a node
// key signs nothing else (nodeMaySign), and only registered nodes peer: with
// filter_peers on, CometBFT asks Query about every peer (AdmitPeer).

// nodeIDKey indexes node principals by CometBFT node ID.
func nodeIDKey(nodeID string) string { return "nodeid/" + nodeID }

// claimNodeID records that nodeID names owner. Like a key, a node ID names
// one principal forever: it is never registered again, not even after its
// principal is revoked, so a revoked node cannot come back under a new name.
func claimNodeID(b *store.Block, nodeID, owner string) *Rejection {
	if _, err := b.Get(nodeIDKey(nodeID)); err == nil {
		return reject(CodeConflict, "node id %s is already registered (node ids are never reused)", nodeID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if err := b.Set(nodeIDKey(nodeID), []byte(owner)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// nodePrincipal returns the principal registered with nodeID; ErrNotFound if none.
func nodePrincipal(r reader, nodeID string) (*carechain.Principal, error) {
	owner, err := r.Get(nodeIDKey(nodeID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read node id %s: %w", nodeID, err)
	}
	return getPrincipal(r, string(owner))
}

// NodePrincipal returns the node principal registered with a CometBFT node
// ID, active or revoked.
func (v *View) NodePrincipal(nodeID string) (*carechain.Principal, error) {
	p, err := nodePrincipal(v, nodeID)
	if err != nil {
		return nil, fmt.Errorf("node %s at height %d: %w", nodeID, v.height, err)
	}
	return p, nil
}

// checkAnchorer lets only nodes anchor access events, each under its own
// name: the signer must be an active node principal, and the batch must name
// it. A staff key, however senior, cannot put events in a patient's log.
func checkAnchorer(r reader, signer *carechain.Principal, body *tx.AuditAnchor) *Rejection {
	if signer.Kind != carechain.KindNode {
		return reject(CodeUnauthorized, "audit anchors are submitted only by nodes (node principals); %s is a %s", signer.ID, signer.Kind)
	}
	// The signer passed authentication against this state; read it again so
	// a revocation earlier in the same block is seen here too.
	p, err := getPrincipal(r, signer.ID)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if p.Status != carechain.StatusActive {
		return reject(CodeRevokedSigner, "node %s was revoked at height %d", p.ID, p.RevokedAt)
	}
	if body.Node != signer.ID {
		return reject(CodeUnauthorized, "node %s may anchor only its own access events, not %q's", signer.ID, body.Node)
	}
	return nil
}

// nodeMaySign keeps a node's key to a node's work: anchoring access events
// and changing or revoking its own key. A node key lives on a server; if it
// leaks, it must not write records or register anyone.
func nodeMaySign(c *checked) *Rejection {
	if c.signer.Kind != carechain.KindNode {
		return nil
	}
	switch c.Type {
	case tx.TypeAuditAnchor, tx.TypeRotate, tx.TypeRevoke:
		return nil
	}
	return reject(CodeUnauthorized, "node %s signs only audit anchors and changes to its own key, not %s", c.signer.ID, c.Type)
}
