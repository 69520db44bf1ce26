package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
)

const testBackupPass = "backup pass"

// backupOf makes a backup archive of the running node n, with its keys
// sealed under testBackupPass.
func backupOf(t *testing.T, ctx context.Context, n *Node) ([]byte, BackupInfo) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, err := n.Snapshot(ctx, pw, nil)
		pw.CloseWithError(err)
	}()
	var archive bytes.Buffer
	info, err := WriteBackup(&archive, pr, n.Home(), []byte(testBackupPass), keystore.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	return archive.Bytes(), info
}

func restoreTo(t *testing.T, archive []byte, guard int) Home {
	t.Helper()
	h := Home(filepath.Join(t.TempDir(), "restored"))
	info, err := Restore(h, bytes.NewReader(archive), RestoreOptions{GuardBlocks: guard,
		Passphrase: func() ([]byte, error) { return []byte(testBackupPass), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Keys || !h.HasKeys() {
		t.Fatalf("restored home lacks its keys: %+v", info)
	}
	return h
}

// TestBackupWhileWritingRestores backs a node up while transactions
// commit, restores the backup on a new home and starts it: every
// transaction acknowledged before the backup began is in its state, and
// the restored node goes on making blocks.
func TestBackupWhileWritingRestores(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			id := fmt.Sprintf("patient/w%d", i)
			out, err := n.Submit(ctx, registerTx(t, uint64(i), id, byte(20+i)))
			if err != nil || !out.Accepted() {
				writerDone <- fmt.Errorf("write %d: %+v %v", i, out, err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 20 {
			break
		}
		select {
		case err := <-writerDone:
			t.Fatal(err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	archive, info := backupOf(t, ctx, n)
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(archive, []byte("priv_key")) {
		t.Fatal("archive holds a private key in plain")
	}

	h := restoreTo(t, archive, 0)
	r := startHome(t, h)
	v := r.Latest()
	for _, id := range before {
		if _, err := v.Principal(id); err != nil {
			t.Fatalf("%s, acknowledged before the backup, is not in the restored state: %v", id, err)
		}
	}
	if got, _ := r.App().Height(); got < info.BlockHeight {
		t.Fatalf("restored node at height %d, backup's blocks reach %d", got, info.BlockHeight)
	}
	// The chain's only validator made blocks after the backup, so its
	// restored copy must not make blocks at those heights again: its
	// priv_validator_state.json, copied after the stores, says how far it
	// signed. (TestRestoredValidatorDoesNotDoubleSign shows a restored
	// validator going on with its peers.)
	if st := r.pv.LastSignState; st.Height < info.BlockHeight {
		t.Fatalf("restored validator state at height %d, below the backup's blocks (%d)", st.Height, info.BlockHeight)
	}
}

// TestRestoreRefusesBadArchives: a home is made only from a whole archive,
// and nothing is left of a refused one.
func TestRestoreRefusesBadArchives(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	archive, _ := backupOf(t, ctx, n)
	entries := func(mutate func(hdr *tar.Header, body []byte) ([]byte, bool)) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		tw := tar.NewWriter(zw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			body, _ := io.ReadAll(tr)
			body, keep := mutate(hdr, body)
			if !keep {
				continue
			}
			hdr.Size = int64(len(body))
			tw.WriteHeader(hdr)
			tw.Write(body)
		}
		tw.Close()
		zw.Close()
		return out.Bytes()
	}
	cases := map[string]struct {
		archive []byte
		pass    string
		want    string
	}{
		"cut short": {entries(func(h *tar.Header, b []byte) ([]byte, bool) { return b, h.Name != backupEndName }), testBackupPass, "incomplete"},
		"path escapes": {entries(func(h *tar.Header, b []byte) ([]byte, bool) {
			if h.Name == "config/genesis.json" {
				h.Name = "../evil.json"
			}
			return b, true
		}), testBackupPass, "relative paths"},
		"key in plain": {entries(func(h *tar.Header, b []byte) ([]byte, bool) {
			if h.Name == "config/genesis.json" {
				h.Name = "keys/x.key"
			}
			return b, true
		}), testBackupPass, "not part of a node's home"},
		"wrong passphrase": {archive, "not it", "do not open"},
		"not a backup":     {[]byte("hello"), testBackupPass, "not a carechain backup"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h := Home(filepath.Join(t.TempDir(), "r"))
			_, err := Restore(h, bytes.NewReader(c.archive), RestoreOptions{GuardBlocks: 3,
				Passphrase: func() ([]byte, error) { return []byte(c.pass), nil }})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore: %v, want an error with %q", err, c.want)
			}
			if _, err := os.Stat(string(h)); !os.IsNotExist(err) {
				t.Fatalf("a refused restore left %s behind (%v)", h, err)
			}
		})
	}
	if _, err := Restore(n.Home(), bytes.NewReader(archive), RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore over an existing home: %v", err)
	}
}

// TestRestoredValidatorDoesNotDoubleSign restores validator 3 of a
// 4-validator testnet from a backup onto a second node (its own node key,
// so that it peers) while validator 3 still runs and signs: the restored
// copy must not sign while those signatures go on, then, once validator 3
// stops for good, it must see the guard's blocks and sign in its place. No
// node ever sees evidence of a conflicting vote.
func TestRestoredValidatorDoesNotDoubleSign(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	dir := t.TempDir()
	// The restored copy's node key, registered as a node of hosp-a.
	spare := filepath.Join(dir, "spare_node_key.json")
	spareKey, err := p2p.LoadOrGenNodeKey(spare)
	if err != nil {
		t.Fatal(err)
	}
	g := *testGenesis()
	g.Nodes = []ledger.GenesisNode{{ID: "hosp-a/node9", NodeID: string(spareKey.ID()), PublicKey: seedKey(109).Public().(ed25519.PublicKey)}}
	homes, err := Testnet(dir, TestnetOptions{Validators: 4, ChainID: testChain, Genesis: g, Node: testNodePrincipal,
		Tune: func(_ int, c *Config) {
			fastConfig(c)
			c.TimeoutCommit = Duration(50 * time.Millisecond)
			c.EmptyBlockInterval = 0
		}})
	if err != nil {
		t.Fatal(err)
	}
	nodes := startAll(t, homes)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := nodes[0].Submit(ctx, registerTx(t, 1, "patient/p1", 10))
	if err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	archive, _ := backupOf(t, ctx, nodes[3])

	const guard = 5
	h := restoreTo(t, archive, guard)
	c, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c.P2PAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := h.SaveConfig(c); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.NodeKeyFile()); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(spare, h.NodeKeyFile()); err != nil {
		t.Fatal(err)
	}
	r := startHome(t, h)
	if r.guard == nil || !r.guard.holding.Load() {
		t.Fatal("restored validator started without its guard")
	}
	// While validator 3 signs, the copy synced and saw many blocks but
	// never releases its guard.
	waitHeight(t, ctx, r, nodes[0].BlockHeight()+6*guard)
	if !r.guard.holding.Load() {
		t.Fatal("the guard released while the original validator still signs")
	}
	if got := testutil.ToFloat64(r.metrics.guardHolding); got != 1 {
		t.Fatalf("carechain_restore_guard_holding = %v while holding", got)
	}
	stopped := nodes[3].BlockHeight()
	if err := nodes[3].Stop(); err != nil {
		t.Fatal(err)
	}
	// With validator 3 gone, the copy releases and signs in its place.
	for r.guard.holding.Load() {
		select {
		case <-ctx.Done():
			t.Fatal("the guard never released after the original stopped")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := os.Stat(h.restoreMarkFile()); !os.IsNotExist(err) {
		t.Fatalf("the restore mark stays after the guard released: %v", err)
	}
	released := r.BlockHeight()
	addr := r.pv.Key.Address
	bs := nodes[0].cmt.BlockStore()
	waitHeight(t, ctx, nodes[0], released+10)
	signed := false
	for ht := released + 2; ht <= released+10; ht++ {
		signed = signed || signedAt(bs, ht, addr)
	}
	if !signed {
		t.Fatalf("the restored validator did not sign after its guard released at %d (original stopped at %d)", released, stopped)
	}
	for i, n := range []*Node{nodes[0], nodes[1], nodes[2], r} {
		if got := testutil.ToFloat64(n.metrics.misbehavior); got != 0 {
			t.Errorf("node %d saw %v evidence of misbehavior", i, got)
		}
	}
}

// startAll starts the nodes of homes at once (a validator set needs ⅔ up
// to make its first block) and waits until each is ready.
func startAll(t *testing.T, homes []Home) []*Node {
	t.Helper()
	nodes := make([]*Node, len(homes))
	errs := make([]error, len(homes))
	var wg sync.WaitGroup
	for i, h := range homes {
		wg.Go(func() { nodes[i], errs[i] = Start(context.Background(), h, StartOptions{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { nodes[i].Stop() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func waitHeight(t *testing.T, ctx context.Context, n *Node, h int64) {
	t.Helper()
	for n.BlockHeight() < h {
		select {
		case <-ctx.Done():
			t.Fatalf("height %d not reached (at %d)", h, n.BlockHeight())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// laterCheckpoint checkpoints the state, then lets blocks commit before the
// snapshot goes on to copy CometBFT's stores.
type laterCheckpoint struct {
	Checkpointer
	then func()
}

func (c laterCheckpoint) Checkpoint(dir string) error {
	if err := c.Checkpointer.Checkpoint(dir); err != nil {
		return err
	}
	c.then()
	return nil
}

// TestRestoreReplaysBlocksAfterTheState: blocks that commit between the
// state's checkpoint and the copy of CometBFT's stores are in the backup;
// verify accepts the restored home, saying the state is behind, and its
// first start replays them into the state.
func TestRestoreReplaysBlocksAfterTheState(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := n.Submit(ctx, registerTx(t, 1, "patient/before", 10)); err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	var after int64
	src := snapshotSource{home: n.home, dbs: n.cometDBs, app: laterCheckpoint{n.store, func() {
		out, err := n.Submit(ctx, registerTx(t, 2, "patient/after", 11))
		if err != nil || !out.Accepted() {
			t.Errorf("%+v %v", out, err)
		}
		after = out.Height
	}}}
	staging := filepath.Join(t.TempDir(), "staging")
	nodeID, _ := n.home.NodeID()
	info := BackupInfo{Format: BackupFormat, ChainID: testChain, NodeID: nodeID, Created: time.Now().UTC()}
	if err := src.copyTo(ctx, staging, &info); err != nil {
		t.Fatal(err)
	}
	if info.AppHeight >= after || info.BlockHeight < after {
		t.Fatalf("state at %d, blocks to %d: want the state before %d and the blocks past it", info.AppHeight, info.BlockHeight, after)
	}
	var snap, archive bytes.Buffer
	if err := writeSnapshot(&snap, staging, info); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteBackup(&archive, &snap, n.Home(), []byte(testBackupPass), keystore.FastKDF); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	h := restoreTo(t, archive.Bytes(), 0)
	rep, err := VerifyHome(h, nil)
	if err != nil {
		t.Fatalf("verify of the restored home: %v", err)
	}
	if rep.LedgerHeight != info.AppHeight {
		t.Fatalf("verify: ledger height %d, want %d (behind the blocks)", rep.LedgerHeight, info.AppHeight)
	}
	r := startHome(t, h)
	if _, err := r.Latest().Principal("patient/after"); err != nil {
		t.Fatalf("the block after the state's checkpoint was not replayed: %v", err)
	}
}

// TestStartRemovesStaleStaging: a backup cut short by a crash leaves its
// staging directory; the next start removes it.
func TestStartRemovesStaleStaging(t *testing.T) {
	n := startSingle(t)
	h := n.Home()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	staging, err := h.stagingDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "000001.sst"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	startHome(t, h)
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatalf("stale staging directory survived a start: %v", err)
	}
}

// TestSnapshotStoppedNeedsAStoppedNode: a running node's home is not read
// directly (its stores are locked, its manifest gone); a stopped one is,
// and stays as its clean stop left it.
func TestSnapshotStoppedNeedsAStoppedNode(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := SnapshotStopped(ctx, n.Home(), io.Discard); !errors.Is(err, ErrNodeRunning) {
		t.Fatalf("snapshot of a running node's home: %v, want ErrNodeRunning", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	info, err := SnapshotStopped(ctx, n.Home(), &snap)
	if err != nil || info.AppHeight < 1 || info.BlockHeight < info.AppHeight {
		t.Fatalf("snapshot of a stopped home: %+v %v", info, err)
	}
	if err := n.Home().checkManifest(); err != nil || !n.Home().hasManifest() {
		t.Fatalf("the stopped home changed: %v", err)
	}
}
