package node

import (
	"slices"
	"strings"
)

// Only registered nodes peer. With filter_peers on, CometBFT asks the ledger
// about every peer before admitting it (ledger.App.Query, AdmitPeer: an
// active node principal with that node ID). The node adds what only it
// knows: the peers its configuration names are trusted while it catches up,
// since its state may not yet hold their registration. And after each
// commit it stops the peers the new state no longer admits, so a revoked
// node is disconnected at once rather than at its next reconnection.

// peerIDs returns the node IDs of id@host:port peer addresses.
func peerIDs(peers []string) map[string]bool {
	ids := make(map[string]bool, len(peers))
	for _, p := range peers {
		if id, _, ok := strings.Cut(p, "@"); ok {
			ids[strings.ToLower(id)] = true
		}
	}
	return ids
}

// trustPeer admits a peer the ledger does not know while this node is still
// catching up, if the node's configuration names it (ledger.Options.TrustPeer).
func (n *Node) trustPeer(nodeID string) bool {
	// CometBFT's switch, the only caller, starts after n.cmt is set.
	return n.configPeers[nodeID] && n.cmt != nil && n.Syncing()
}

// watchPeers stops, after each commit, the peers the ledger no longer
// admits, and logs the number of connected peers when it changed (at
// info: CometBFT's own messages about peers' connections are at debug),
// until done is closed.
func (n *Node) watchPeers(done <-chan struct{}) {
	defer close(n.peersWatched)
	connected := 0
	for {
		select {
		case <-done:
			return
		case <-n.committed:
			n.dropRefusedPeers()
			if now := n.cmt.Switch().Peers().Size(); now != connected {
				n.log.Info("peers connected", "peers", now, "was", connected)
				connected = now
			}
		}
	}
}

// dropRefusedPeers disconnects every peer the ledger's last state refuses.
// They are not redialed: a peer the filter refuses could not reconnect.
func (n *Node) dropRefusedPeers() {
	sw := n.cmt.Switch()
	for _, p := range sw.Peers().Copy() {
		if err := n.app.AdmitPeer(string(p.ID())); err != nil {
			n.log.Info("peer disconnected", "node_id", string(p.ID()), "reason", err)
			sw.StopPeerGracefully(p)
		}
	}
}

// peerCommitted tells watchPeers that a block committed, without waiting:
// one pending check covers any number of commits.
func (n *Node) peerCommitted() {
	select {
	case n.committed <- struct{}{}:
	default:
	}
}

// Peers returns the node IDs of the connected peers, sorted.
func (n *Node) Peers() []string {
	var ids []string
	for _, p := range n.cmt.Switch().Peers().Copy() {
		ids = append(ids, string(p.ID()))
	}
	slices.Sort(ids)
	return ids
}
