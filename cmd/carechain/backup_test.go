package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

const testBackupPassphrase = "backup passphrase"

// TestBackupAndRestoreAValidator drives the README's backup and restore
// through `carechain` processes on a 4-validator testnet: validator 3 is
// backed up (with its keys) while node 0 writes, then killed; restored on a
// new home, the backup holds every write acknowledged before it began; the
// restored validator waits out its guard, then signs: with node 0 stopped
// too, the chain makes blocks only because it does. No node sees evidence
// of a conflicting vote.
func TestBackupAndRestoreAValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	dir := filepath.Join(t.TempDir(), "tn")
	mustRun(t, passEnv(testPassphrase), "testnet", "--validators", "4", "--dir", dir, "--chain-id", "bk-test", "--base-port", "0")
	homes := make([]node.Home, 4)
	procs := make([]*process, 4)
	clients := make([]*nodeapi.Client, 4)
	for i := range homes {
		homes[i] = node.Home(filepath.Join(dir, fmt.Sprintf("node%d", i)))
		cfg, err := homes[i].LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg.EmptyBlockInterval = node.Duration(200 * time.Millisecond) // the guard counts blocks
		if err := homes[i].SaveConfig(cfg); err != nil {
			t.Fatal(err)
		}
		clients[i] = nodeapi.NewClient(cfg.HTTPAddr)
	}
	for i, h := range homes {
		procs[i] = startProcess(t, nil, "start", "--home", string(h))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for i := range homes {
		waitSynced(t, ctx, procs[i], clients[i])
	}

	w := startWriter(t, ctx, homes[0], clients[0])
	w.waitAcked(t, 10)
	before := w.acked()
	backupEnv := []string{BackupPassphraseEnv + "=" + testBackupPassphrase}
	archive := filepath.Join(t.TempDir(), "node3.backup")
	out := mustRun(t, backupEnv, "backup", "--home", string(homes[3]), "--out", archive, "--keys")
	t.Log(out)
	if !strings.Contains(out, "private keys: sealed in it") {
		t.Fatalf("backup output: %s", out)
	}
	w.waitAcked(t, len(before)+10)
	w.stop(t)
	procs[3].kill(t)

	// Refusals change nothing.
	if _, err := run(t, backupEnv, "backup", "--home", string(homes[0]), "--out", archive); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}
	restored := node.Home(filepath.Join(t.TempDir(), "node3-restored"))
	if o, err := run(t, []string{BackupPassphraseEnv + "=wrong"}, "restore", "--from", archive, "--home", string(restored)); err == nil ||
		!strings.Contains(o, "do not open") {
		t.Fatalf("restore with a wrong passphrase: %v\n%s", err, o)
	}
	if _, err := os.Stat(string(restored)); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s behind", restored)
	}
	resp, err := http.Post(clients[0].Base+"/v1/admin/backup", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned backup request: HTTP %d", resp.StatusCode)
	}
	// Signed by a registered principal (an organization's admin), not with
	// the node's own key: refused too.
	var se *nodeapi.StatusError
	if _, err := clients[0].As("org0/admin", w.key).Snapshot(ctx); !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("backup request signed by an admin: %v", err)
	}

	out = mustRun(t, backupEnv, "restore", "--from", archive, "--home", string(restored), "--guard-blocks", "3")
	if !strings.Contains(out, "restore guard") {
		t.Fatalf("restore output: %s", out)
	}
	if out := mustRun(t, nil, "verify", "--home", string(restored)); !strings.Contains(out, "verified ") {
		t.Fatalf("verify of the restored home: %s", out)
	}
	checkBackupHolds(t, ctx, restored, w.key, before)

	r := startProcess(t, nil, "start", "--home", string(restored))
	waitOutput(t, r, "neither proposes nor votes", time.Minute)
	waitOutput(t, r, "restore guard released", 2*time.Minute)
	// Validators 1, 2 and the restored 3 hold ¾ of the power: without node 0
	// the chain moves on only if the restored validator signs.
	procs[0].interrupt(t)
	st, err := clients[1].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, time.Minute, "blocks without node 0", func() error {
		now, err := clients[1].Status(ctx)
		if err == nil && now.Height < st.Height+3 {
			err = fmt.Errorf("at %d, from %d", now.Height, st.Height)
		}
		return err
	})
	for i, cl := range []*nodeapi.Client{clients[1], clients[2], clients[3]} {
		if got := scrapeMetric(t, cl.Base, "carechain_misbehavior_total"); got != "0" {
			t.Errorf("node %d: carechain_misbehavior_total %s", i+1, got)
		}
	}
	if got := scrapeMetric(t, clients[3].Base, "carechain_restore_guard_holding"); got != "0" {
		t.Errorf("restored node: carechain_restore_guard_holding %s after release", got)
	}

	// Node 0 is stopped: backup reads its home directly and leaves it as
	// its clean stop left it (verify checks the stop's manifest).
	stopped := filepath.Join(t.TempDir(), "node0.backup")
	if out := mustRun(t, nil, "backup", "--home", string(homes[0]), "--out", stopped); !strings.Contains(out, "private keys: not in it") {
		t.Fatalf("backup of a stopped node: %s", out)
	}
	mustRun(t, nil, "verify", "--home", string(homes[0]))
	copyOf := filepath.Join(t.TempDir(), "node0-copy")
	mustRun(t, nil, "restore", "--from", stopped, "--home", copyOf)
	if out := mustRun(t, nil, "verify", "--home", copyOf); !strings.Contains(out, "verified ") {
		t.Fatalf("verify of a stopped node's restored backup: %s", out)
	}
}

// checkBackupHolds starts the restored home alone (no peers, on a p2p port
// its peers do not know, so that all it has comes from the backup) and
// checks every write in ids is there.
func checkBackupHolds(t *testing.T, ctx context.Context, h node.Home, admin ed25519.PrivateKey, ids []string) {
	t.Helper()
	cfg, err := h.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	alone := cfg
	alone.Peers, alone.P2PAddr = nil, freeAddr(t)
	if err := h.SaveConfig(alone); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(string(h), "config", "addrbook.json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	p := startProcess(t, nil, "start", "--home", string(h))
	cl := nodeapi.NewClient(cfg.HTTPAddr).As("org0/admin", admin)           // patients are listed to admins only
	p.waitFor(t, time.Minute, "the restored node to answer", func() error { // alone, it is never ready (/readyz)
		_, err := cl.Status(ctx)
		return err
	})
	for _, id := range ids {
		if _, err := cl.Principal(ctx, id, 0); err != nil {
			t.Fatalf("%s, acknowledged before the backup, is not in it: %v\n%s", id, err, p.output())
		}
	}
	// Alone, the restored validator's guard holds: status says so.
	if out, _ := run(t, nil, "status", "--home", string(h)); !strings.Contains(out, "restore guard") {
		t.Fatalf("status of a restored node whose guard holds:\n%s", out)
	}
	p.interrupt(t)
	if err := h.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
}

func waitSynced(t *testing.T, ctx context.Context, p *process, cl *nodeapi.Client) {
	t.Helper()
	p.waitFor(t, time.Minute, "leave block sync", func() error {
		st, err := cl.Status(ctx)
		if err == nil && (st.Syncing || st.Height < 1) {
			err = fmt.Errorf("syncing %v at height %d", st.Syncing, st.Height)
		}
		return err
	})
}

// scrapeMetric is the value of an unlabelled series in the node's /metrics.
func scrapeMetric(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("%s not in /metrics", name)
	return ""
}

// writer registers patients through one node, one after another, as org0's
// admin, and keeps the IDs the node acknowledged.
type writer struct {
	key  ed25519.PrivateKey // org0's admin's
	mu   sync.Mutex
	ids  []string
	quit chan struct{}
	done chan error
}

func startWriter(t *testing.T, ctx context.Context, h node.Home, cl *nodeapi.Client) *writer {
	t.Helper()
	ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Unlock("org0.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{key: key, quit: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for n := uint64(1); ; n++ {
			select {
			case <-w.quit:
				w.done <- nil
				return
			default:
			}
			_, pk, _ := ed25519.GenerateKey(nil)
			id := fmt.Sprintf("patient/w%d", n)
			raw, err := tx.Sign(key, "bk-test", "org0/admin", n, tx.TypeRegister, &tx.Register{
				ID: id, Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
			if err != nil {
				w.done <- err
				return
			}
			res, err := cl.Submit(ctx, raw)
			if err != nil || !res.Accepted() {
				w.done <- fmt.Errorf("write %d: %+v %v", n, res, err)
				return
			}
			w.mu.Lock()
			w.ids = append(w.ids, id)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) acked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ids...)
}

func (w *writer) waitAcked(t *testing.T, n int) {
	t.Helper()
	for len(w.acked()) < n {
		select {
		case err := <-w.done:
			t.Fatalf("writer stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (w *writer) stop(t *testing.T) {
	t.Helper()
	close(w.quit)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
}
