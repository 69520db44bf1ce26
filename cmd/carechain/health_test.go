package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

// health gets url (/healthz or /readyz) and returns its status and body.
func health(url string) (int, nodeapi.Health, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nodeapi.Health{}, err
	}
	defer resp.Body.Close()
	var h nodeapi.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return resp.StatusCode, h, fmt.Errorf("decode: %w", err)
	}
	return resp.StatusCode, h, nil
}

// TestHealthzReportsStall runs a 4-validator consortium (each node a
// `carechain start --stall-timeout 2s`), stops two validators so the
// consortium loses its quorum, and submits a transaction: node0 takes it
// into its mempool but no block commits, and its /healthz turns 503 with
// the reason. Once the two validators are back the transaction commits and
// /healthz is 200 again. /readyz stays 200 throughout: node0 is caught up
// and serving; it is the chain that does not move.
func TestHealthzReportsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	dir := filepath.Join(t.TempDir(), "tn")
	mustRun(t, passEnv(testPassphrase), "testnet", "--validators", "4", "--dir", dir, "--chain-id", "stall-test", "--base-port", "0")
	homes := make([]string, 4)
	procs := make([]*process, 4)
	var addr0 string
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
		cfg, err := node.Home(homes[i]).LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			addr0 = cfg.HTTPAddr
		}
		procs[i] = startProcess(t, nil, "start", "--home", homes[i], "--stall-timeout", "2s")
	}
	healthz, readyz := "http://"+addr0+"/healthz", "http://"+addr0+"/readyz"
	// want waits until url answers code with a reason containing reason.
	want := func(url string, code int, reason string) nodeapi.Health {
		t.Helper()
		var h nodeapi.Health
		procs[0].waitFor(t, time.Minute, fmt.Sprintf("%d from %s", code, url), func() error {
			got, body, err := health(url)
			h = body
			if err == nil && (got != code || !strings.Contains(body.Reason, reason)) {
				err = fmt.Errorf("HTTP %d %+v", got, body)
			}
			return err
		})
		return h
	}
	want(readyz, http.StatusOK, "")
	want(healthz, http.StatusOK, "")

	ks, err := keystore.Open(node.Home(homes[0]).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ks.Unlock("org0.admin", []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	register := func(nonce uint64) []byte {
		_, pk, _ := ed25519.GenerateKey(nil)
		raw, err := tx.Sign(admin, "stall-test", "org0/admin", nonce, tx.TypeRegister, &tx.Register{
			ID: fmt.Sprintf("patient/p%d", nonce), Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	cl := nodeapi.NewClient(addr0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if res, err := cl.Submit(ctx, register(1)); err != nil || !res.Accepted() {
		t.Fatalf("healthy chain: %+v %v", res, err)
	}
	want(healthz, http.StatusOK, "")

	procs[2].interrupt(t)
	procs[3].interrupt(t)
	submitted := make(chan error, 1)
	go func() {
		res, err := cl.Submit(ctx, register(2))
		if err == nil && !res.Accepted() {
			err = fmt.Errorf("rejected: %+v", res)
		}
		submitted <- err
	}()
	h := want(healthz, http.StatusServiceUnavailable, "without a new block")
	t.Logf("two of four validators down: /healthz 503 %q", h.Reason)
	if h.PendingTxs < 1 {
		t.Fatalf("stalled with %d pending transactions", h.PendingTxs)
	}
	want(readyz, http.StatusOK, "")
	// The on-call engineer's first command says so, and fails.
	out, err := run(t, nil, "status", "--node", addr0)
	for _, want := range []string{"/healthz        503: transactions have waited", "TOO FEW for a quorum", "/readyz         ok"} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("status of a stalled node (err %v) lacks %q:\n%s", err, want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^  connected +\S+$`).MatchString(out) || !regexp.MustCompile(`(?m)^  missing +\S+, \S+$`).MatchString(out) {
		t.Errorf("status of a stalled node names not one peer connected and two missing:\n%s", out)
	}
	t.Logf("carechain status of the stalled node:\n%s", out)

	for _, i := range []int{2, 3} {
		procs[i] = startProcess(t, nil, "start", "--home", homes[i], "--stall-timeout", "2s")
	}
	select {
	case err := <-submitted:
		if err != nil {
			t.Fatalf("the pending transaction after the validators came back: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the pending transaction never committed")
	}
	want(healthz, http.StatusOK, "")
}
