package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

// TestCrashKeepsCommittedTxs kills a node with SIGKILL while transactions are
// being submitted, restarts it, and checks that every transaction reported
// committed before the kill is there and that the chain goes on.
func TestCrashKeepsCommittedTxs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	env := passEnv(testPassphrase)
	mustRun(t, env, "init", "--home", home, "--chain-id", "crash-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ks.Unlock("hosp.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}

	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	cl := nodeapi.NewClient(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Four registration clerks, so four submitters can run at once, each with its own nonces.
	const submitters = 4
	clerks := make([]ed25519.PrivateKey, submitters)
	for i := range clerks {
		_, clerks[i], _ = ed25519.GenerateKey(nil)
		raw, err := tx.Sign(admin, "crash-test", "hosp/admin", uint64(i+1), tx.TypeRegister, &tx.Register{
			ID: fmt.Sprintf("hosp/clerk%d", i), Kind: carechain.KindPractitioner,
			Roles: []carechain.Role{carechain.RoleRegistrationClerk}, PublicKey: clerks[i].Public().(ed25519.PublicKey),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := cl.Submit(ctx, raw); err != nil || !res.Accepted() {
			t.Fatalf("register clerk: %+v %v", res, err)
		}
	}

	// The kill comes once this many transactions are reported committed,
	// with the submitters still going.
	const beforeKill = 20
	var (
		mu        sync.Mutex
		committed = map[string]int64{}  // patient ID -> height reported
		enough    = make(chan struct{}) // closed at beforeKill commits
		wg        sync.WaitGroup
	)
	stop := make(chan struct{})
	for i := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := uint64(1); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, pk, _ := ed25519.GenerateKey(nil)
				id := fmt.Sprintf("patient/c%d-%d", i, n)
				raw, err := tx.Sign(clerks[i], "crash-test", fmt.Sprintf("hosp/clerk%d", i), n, tx.TypeRegister, &tx.Register{
					ID: id, Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
				if err != nil {
					t.Error(err)
					return
				}
				res, err := cl.Submit(ctx, raw)
				if err != nil {
					return // the node died mid-request: outcome unknown, not counted
				}
				if res.Accepted() {
					mu.Lock()
					committed[id] = res.Height
					if len(committed) == beforeKill {
						close(enough)
					}
					mu.Unlock()
				}
			}
		}()
	}
	gaveUp := make(chan struct{}) // closed if every submitter stops
	go func() {
		wg.Wait()
		close(gaveUp)
	}()
	select {
	case <-enough:
	case <-p.exited:
		t.Fatalf("node exited before the kill: %v\n%s", p.err, p.output())
	case <-gaveUp:
		t.Fatalf("the submitters stopped before %d txs committed; the test needs traffic\n%s", beforeKill, p.output())
	case <-ctx.Done():
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		t.Fatalf("only %d of %d txs committed before the deadline; the test needs traffic", n, beforeKill)
	}
	p.kill(t)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	var maxHeight int64
	for _, h := range committed {
		maxHeight = max(maxHeight, h)
	}
	t.Logf("%d txs reported committed before SIGKILL, up to height %d", len(committed), maxHeight)

	p2 := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p2, addr, time.Minute)
	staff := cl.As("hosp/admin", admin) // patients are shown to signed staff requests only
	for id, h := range committed {
		got, err := staff.Principal(ctx, id, 0)
		if err != nil {
			t.Fatalf("%s, committed at %d before the crash, is missing: %v", id, h, err)
		}
		if got.Principal.RegisteredAt != h {
			t.Fatalf("%s registered at %d, reported %d", id, got.Principal.RegisteredAt, h)
		}
	}
	// The chain continues.
	me, err := cl.Principal(ctx, "hosp/admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, pk, _ := ed25519.GenerateKey(nil)
	raw, err := tx.Sign(admin, "crash-test", "hosp/admin", me.NextNonce, tx.TypeRegister, &tx.Register{
		ID: "patient/after-crash", Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Submit(ctx, raw)
	if err != nil || !res.Accepted() || res.Height <= maxHeight {
		t.Fatalf("after restart: %+v %v (last height before crash %d)", res, err, maxHeight)
	}
	p2.interrupt(t)
}
