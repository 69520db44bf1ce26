package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

// TestTestnetFourValidatorsAgree creates a 4-validator consortium with
// `carechain testnet`, starts each node as its own `carechain start` process,
// submits transactions through different nodes, and checks that all nodes
// commit them with identical app hashes at every height.
func TestTestnetFourValidatorsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	dir := filepath.Join(t.TempDir(), "tn")
	mustRun(t, passEnv(testPassphrase), "testnet", "--validators", "4", "--dir", dir, "--chain-id", "tn-test", "--base-port", "0")
	clients := make([]*nodeapi.Client, 4)
	procs := make([]*process, 4)
	for i := range clients {
		h := node.Home(filepath.Join(dir, fmt.Sprintf("node%d", i)))
		cfg, err := h.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		procs[i] = startProcess(t, nil, "start", "--home", string(h))
		clients[i] = nodeapi.NewClient(cfg.HTTPAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, cl := range clients {
		procs[i].waitFor(t, time.Minute, fmt.Sprintf("node%d to leave block sync", i), func() error {
			st, err := cl.Status(ctx)
			if err == nil && (st.Syncing || st.Height < 1) {
				err = fmt.Errorf("syncing %v at height %d", st.Syncing, st.Height)
			}
			return err
		})
	}

	// Each organization's admin (its key is in its node's keystore) registers
	// patients through its own node.
	var last int64
	for i, cl := range clients {
		ks, err := keystore.Open(node.Home(filepath.Join(dir, fmt.Sprintf("node%d", i))).KeysDir(), keystore.DefaultKDF)
		if err != nil {
			t.Fatal(err)
		}
		key, err := ks.Unlock(fmt.Sprintf("org%d.admin", i), []byte(testPassphrase))
		if err != nil {
			t.Fatal(err)
		}
		for n := uint64(1); n <= 3; n++ {
			_, pk, _ := ed25519.GenerateKey(nil)
			raw, err := tx.Sign(key, "tn-test", fmt.Sprintf("org%d/admin", i), n, tx.TypeRegister, &tx.Register{
				ID: fmt.Sprintf("patient/n%d-%d", i, n), Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
			if err != nil {
				t.Fatal(err)
			}
			res, err := cl.Submit(ctx, raw)
			if err != nil || !res.Accepted() {
				t.Fatalf("node%d tx %d: %+v %v", i, n, res, err)
			}
			last = max(last, res.Height)
		}
	}
	for i, cl := range clients {
		procs[i].waitFor(t, time.Minute, fmt.Sprintf("node%d at height %d", i, last), func() error {
			st, err := cl.Status(ctx)
			if err == nil && st.Height < last {
				err = fmt.Errorf("at height %d", st.Height)
			}
			return err
		})
	}
	for h := int64(1); h <= last; h++ {
		want, err := clients[0].Commit(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		for i, cl := range clients[1:] {
			got, err := cl.Commit(ctx, h)
			if err != nil || got.AppHash != want.AppHash {
				t.Fatalf("height %d: node%d app hash %s (%v), node0 %s", h, i+1, got.AppHash, err, want.AppHash)
			}
		}
	}
	ks, err := keystore.Open(node.Home(filepath.Join(dir, "node0")).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ks.Unlock("org0.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	for i, cl := range clients {
		ps, err := cl.As("org0/admin", admin).Principals(ctx, "", last)
		if err != nil || len(ps) != 4+4+12 { // admins, nodes, patients
			t.Fatalf("node%d: %d principals at %d (%v), want 20", i, len(ps), last, err)
		}
		if ps, err := cl.Principals(ctx, "", last); err != nil || len(ps) != 4+4 {
			t.Fatalf("node%d: %d principals at %d for an anonymous caller (%v), want 8: patients are not public", i, len(ps), last, err)
		}
	}
}
