package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

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
// and changing or revoking its own key, and, for an insurer's node,
// posting the adjudication of a claim to its insurer (ledger/claims.go
// checks the insurer). A node key lives on a server; if it leaks, it must
// not write records or register anyone.
func nodeMaySign(c *checked) *Rejection {
	if c.signer.Kind != carechain.KindNode {
		return nil
	}
	switch c.Type {
	case tx.TypeAuditAnchor, tx.TypeRotate, tx.TypeRevoke, tx.TypeClaimAdjudicate:
		return nil
	}
	return reject(CodeUnauthorized, "node %s signs only audit anchors and changes to its own key, not %s", c.signer.ID, c.Type)
}

// Peer-filter queries CometBFT sends with filter_peers on, before it admits
// a connection (addr) and a peer (id).
const (
	filterAddrPath = "/p2p/filter/addr/"
	filterIDPath   = "/p2p/filter/id/"
)

// Query implements abci.Application. It answers CometBFT's peer filter:
// any address may connect (a node is known by its key, not its address),
// and a peer is admitted only if AdmitPeer admits its node ID. Everything
// else carechain serves through View, so other paths are refused.
func (a *App) Query(ctx context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	height := a.store.LastHeight()
	switch {
	case strings.HasPrefix(req.Path, filterAddrPath):
		return &abci.QueryResponse{Code: uint32(CodeOK), Height: height}, nil
	case strings.HasPrefix(req.Path, filterIDPath):
		id := strings.TrimPrefix(req.Path, filterIDPath)
		if err := a.AdmitPeer(id); err != nil {
			level := slog.LevelDebug
			if a.refused.first(id, time.Now()) {
				level = slog.LevelInfo
			}
			a.log.Log(ctx, level, "peer refused", "node_id", id, "reason", err)
			return &abci.QueryResponse{Code: uint32(CodeUnauthorized), Codespace: Codespace, Log: err.Error(), Height: height}, nil
		}
		return &abci.QueryResponse{Code: uint32(CodeOK), Height: height}, nil
	}
	return &abci.QueryResponse{Code: uint32(CodeInvalid), Codespace: Codespace, Log: fmt.Sprintf("no query %q: read state through the node's API", req.Path), Height: height}, nil
}

// ErrPeerRefused is what AdmitPeer returns for a node that may not peer.
var ErrPeerRefused = carechain.NewError(carechain.KindPermission, "peer refused")

// AdmitPeer says whether this node may peer with the node nodeID, judged on
// the last committed state: nil if an active node principal is registered
// with that ID; otherwise, unless the ID was revoked, nil if
// Options.TrustPeer admits it; else an error matching ErrPeerRefused that
// says why.
func (a *App) AdmitPeer(nodeID string) error {
	v := a.Latest()
	p, err := nodePrincipal(v, nodeID)
	switch {
	case err == nil && p.Status == carechain.StatusActive:
		return nil
	case err == nil && retiring(v, p):
		return nil
	case err == nil:
		return fmt.Errorf("%w: node %s (%s) was revoked at height %d", ErrPeerRefused, nodeID, p.ID, p.RevokedAt)
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: node %s: %v", ErrPeerRefused, nodeID, err)
	case a.trustPeer != nil && a.trustPeer(nodeID):
		return nil
	}
	return fmt.Errorf("%w: node %s is not a registered node principal at height %d (an admin of its organization registers it: carechain tx register --kind node --node-id %s)",
		ErrPeerRefused, nodeID, v.Height(), nodeID)
}

// retiring reports whether p, a revoked node principal, ran a validator its
// revocation took out of the set that still votes: a validator update of
// block R is in force from R+2, so the node votes on block R+1 and peers
// until R+2 commits. Refused at once, it would leave the others short of
// its votes for that block, and halt a chain that needs them.
func retiring(v *View, p *carechain.Principal) bool {
	if p.Kind != carechain.KindNode || v.Height() >= p.RevokedAt+2 {
		return false
	}
	changes, err := validatorChanges(v, p.RevokedAt)
	if err != nil {
		return false
	}
	for _, c := range changes {
		if c.Node == p.ID && c.Power == 0 {
			return true
		}
	}
	return false
}

// peerLog remembers when each refused peer was last logged at info: a
// refused node redials many times a minute, and one line a minute says it.
type peerLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// peerLogEvery is how often a refused peer is logged at info.
const peerLogEvery = time.Minute

// first reports whether id was not logged at info within peerLogEvery of
// now, and if so notes that it is now.
func (l *peerLog) first(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[id]; ok && now.Sub(t) < peerLogEvery {
		return false
	}
	if l.last == nil || len(l.last) > 10_000 {
		l.last = map[string]time.Time{} // bounded: any number of IDs may dial
	}
	l.last[id] = now
	return true
}
