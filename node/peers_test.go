package node

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// peerLog is a log handler that wakes waiters when a node logs msg about a
// peer ("peer refused" by the ledger's filter, "peer disconnected" after a
// commit).
type peerLog struct {
	mu   sync.Mutex
	seen map[string]chan struct{} // msg + node ID -> closed once logged
}

func newPeerLog() *peerLog { return &peerLog{seen: map[string]chan struct{}{}} }

func (l *peerLog) event(msg, nodeID string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.seen[msg+" "+nodeID]
	if !ok {
		ch = make(chan struct{})
		l.seen[msg+" "+nodeID] = ch
	}
	return ch
}

// wait waits until the node logged msg about nodeID.
func (l *peerLog) wait(t *testing.T, ctx context.Context, msg, nodeID string) {
	t.Helper()
	select {
	case <-l.event(msg, nodeID):
	case <-ctx.Done():
		t.Fatalf("no %q for %s: %v", msg, nodeID, ctx.Err())
	}
}

func (l *peerLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *peerLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *peerLog) WithGroup(string) slog.Handler            { return l }

func (l *peerLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "peer refused" && r.Message != "peer disconnected" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "node_id" {
			ch := l.event(r.Message, a.Value.String())
			l.mu.Lock()
			select {
			case <-ch:
			default:
				close(ch)
			}
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// peerWorld is a consortium of validators whose node0 logs to log.
type peerWorld struct {
	homes []Home
	nodes []*Node
	log   *peerLog
}

// startPeerWorld starts a consortium of n validators, registered at genesis
// as hosp-a/node<i> if there is more than one; its context ends with the test.
func startPeerWorld(t *testing.T, n int) (*peerWorld, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three or more nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	w := &peerWorld{log: newPeerLog()}
	var err error
	opts := TestnetOptions{Validators: n, ChainID: testChain, Genesis: *testGenesis(),
		Tune: func(_ int, c *Config) {
			fastConfig(c)
			c.EmptyBlockInterval = Duration(50 * time.Millisecond) // heights advance while the test waits
		}}
	if n > 1 {
		opts.Node = testNodePrincipal
	}
	w.homes, err = Testnet(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	w.nodes = make([]*Node, len(w.homes))
	errs := make([]error, len(w.homes))
	var wg sync.WaitGroup
	for i, h := range w.homes {
		opts := StartOptions{}
		if i == 0 {
			opts.Logger = slog.New(w.log)
		}
		wg.Go(func() { w.nodes[i], errs[i] = Start(ctx, h, opts) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { w.nodes[i].Stop() })
	}
	for _, n := range w.nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return w, ctx
}

// joiner makes the home of a node that joins from peer's genesis and names
// peer as its only peer; it returns the home and its node ID.
func joiner(t *testing.T, name string, peer *Node) (Home, string) {
	t.Helper()
	h := Home(t.TempDir())
	peerID, err := peer.Home().NodeID()
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig("", name)
	fastConfig(&c)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c.P2PAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.Peers = []string{peerID + "@" + peer.Config().P2PAddr}
	if err := Init(h, InitOptions{Config: c, GenesisFile: peer.Home().GenesisFile()}); err != nil {
		t.Fatal(err)
	}
	id, err := h.NodeID()
	if err != nil {
		t.Fatal(err)
	}
	return h, id
}

func start(t *testing.T, ctx context.Context, h Home) *Node {
	t.Helper()
	n, err := Start(ctx, h, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// registerNode has hosp-a/admin register the node nodeID as hosp-a/name.
func (w *peerWorld) registerNode(t *testing.T, ctx context.Context, name, nodeID string, seed byte) int64 {
	t.Helper()
	return w.admin(t, ctx, tx.TypeRegister, &tx.Register{ID: "hosp-a/" + name, Kind: carechain.KindNode, NodeID: nodeID,
		PublicKey: seedKey(seed).Public().(ed25519.PublicKey)})
}

// admin signs a transaction of hosp-a/admin and commits it through node0.
func (w *peerWorld) admin(t *testing.T, ctx context.Context, typ tx.Type, body any) int64 {
	t.Helper()
	nonce, err := w.nodes[0].App().Latest().NextNonce("hosp-a/admin")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.Sign(seedKey(1), testChain, "hosp-a/admin", nonce, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.nodes[0].Submit(ctx, raw)
	if err != nil || !out.Accepted() {
		t.Fatalf("%s: %+v %v", typ, out, err)
	}
	return out.Height
}

// advance waits until every consortium node is n blocks past its height now.
func (w *peerWorld) advance(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	h, _ := w.nodes[0].App().Height()
	for _, node := range w.nodes {
		if err := node.WaitHeight(ctx, h+n); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *peerWorld) peersWith(id string) []int {
	var with []int
	for i, n := range w.nodes {
		if n.cmt.Switch().Peers().Has(p2p.ID(id)) {
			with = append(with, i)
		}
	}
	return with
}

// TestOnlyRegisteredNodesPeer: a node holding the genesis but not
// registered cannot sync from the consortium; once its admin registers it,
// it syncs; once its admin revokes it, it is disconnected at once and falls
// behind.
func TestOnlyRegisteredNodesPeer(t *testing.T) {
	w, ctx := startPeerWorld(t, 2)
	h, id := joiner(t, "outsider", w.nodes[0])
	out := start(t, ctx, h)

	// Refused: node0 turns it away, and the consortium goes on without it.
	w.log.wait(t, ctx, "peer refused", id)
	w.advance(t, ctx, 5)
	if h, _ := out.App().Height(); h != 0 || out.BlockHeight() != 0 {
		t.Fatalf("unregistered node synced to height %d (block store %d)", h, out.BlockHeight())
	}
	if with := w.peersWith(id); len(with) > 0 {
		t.Fatalf("unregistered node is a peer of nodes %v", with)
	}

	// Registered: it syncs (on its next reconnection) past its registration.
	registered := w.registerNode(t, ctx, "outsider", id, 120)
	if err := out.WaitHeight(ctx, registered); err != nil {
		t.Fatalf("registered node does not sync: %v", err)
	}

	// Revoked: node0 drops it after the revocation commits, and it stops
	// following the chain.
	w.admin(t, ctx, tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/outsider", Reason: "decommissioned"})
	w.log.wait(t, ctx, "peer disconnected", id)
	w.advance(t, ctx, 3)
	stalled, _ := out.App().Height()
	w.advance(t, ctx, 10)
	if h, _ := out.App().Height(); h != stalled {
		t.Fatalf("revoked node went on syncing: height %d, then %d", stalled, h)
	}
	if with := w.peersWith(id); len(with) > 0 {
		t.Fatalf("revoked node is still a peer of nodes %v", with)
	}
}

// TestCatchingUpNodeTrustsItsConfiguredPeer: a new node syncs from its
// configured peer although its own state (at a genesis that lists no nodes)
// does not hold that peer's later registration: while catching up, a node
// admits the peers its configuration names.
func TestCatchingUpNodeTrustsItsConfiguredPeer(t *testing.T) {
	w, ctx := startPeerWorld(t, 1)
	node0, err := w.homes[0].NodeID()
	if err != nil {
		t.Fatal(err)
	}
	w.registerNode(t, ctx, "node0", node0, 121)
	h, id := joiner(t, "late", w.nodes[0])
	registered := w.registerNode(t, ctx, "late", id, 122)
	late := start(t, ctx, h)
	if err := late.WaitHeight(ctx, registered); err != nil {
		t.Fatalf("the late node does not sync from its configured peer: %v", err)
	}
}

func TestPeerIDsOfConfiguredPeers(t *testing.T) {
	ids := peerIDs([]string{"00112233445566778899AABBCCDDEEFF00112233@127.0.0.1:26656", "no-at-sign"})
	if len(ids) != 1 || !ids["00112233445566778899aabbccddeeff00112233"] {
		t.Fatalf("peer IDs %v", ids)
	}
}
