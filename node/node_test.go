package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

const testChain = "node-test"

func seedKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testGenesis() *ledger.Genesis {
	return &ledger.Genesis{Organizations: []ledger.GenesisOrg{{
		Organization: carechain.Organization{ID: "hosp-a", Name: "Hospital A", Type: carechain.OrgHospital},
		Admins:       []ledger.GenesisAdmin{{ID: "hosp-a/admin", PublicKey: seedKey(1).Public().(ed25519.PublicKey)}},
	}}}
}

// testNodePrincipal makes node i hosp-a/node<i>, its key seedKey(100+i).
func testNodePrincipal(i int, h Home) (ledger.GenesisNode, error) {
	id, err := h.NodeID()
	return ledger.GenesisNode{ID: fmt.Sprintf("hosp-a/node%d", i), NodeID: id, PublicKey: seedKey(byte(100 + i)).Public().(ed25519.PublicKey)}, err
}

func fastConfig(c *Config) {
	c.TimeoutCommit = Duration(10 * time.Millisecond)
	c.HTTPAddr = "127.0.0.1:0"
}

func startSingle(t *testing.T) *Node {
	t.Helper()
	return startHome(t, initSingle(t))
}

// initSingle is the home of a new single-validator chain.
func initSingle(t *testing.T) Home {
	t.Helper()
	h := Home(t.TempDir())
	c := DefaultConfig(testChain, "solo")
	fastConfig(&c)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c.P2PAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := Init(h, InitOptions{Config: c, Genesis: testGenesis()}); err != nil {
		t.Fatal(err)
	}
	return h
}

func startHome(t *testing.T, h Home) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, h, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func registerTx(t *testing.T, nonce uint64, id string, seed byte) []byte {
	t.Helper()
	raw, err := tx.Sign(seedKey(1), testChain, "hosp-a/admin", nonce, tx.TypeRegister, &tx.Register{
		ID: id, Kind: carechain.KindPatient, PublicKey: seedKey(seed).Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCommittedTxIsQueryable(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Submit(ctx, registerTx(t, 1, "patient/alice", 10))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Accepted() {
		t.Fatalf("outcome %+v", out)
	}
	p, err := n.App().Latest().Principal("patient/alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != carechain.KindPatient || p.RegisteredBy != "hosp-a/admin" || p.RegisteredAt != out.Height {
		t.Fatalf("principal %+v", p)
	}
	before, err := n.App().View(out.Height - 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Principal("patient/alice"); err == nil {
		t.Fatal("principal exists before the height it was registered at")
	}
}

// TestNodeRejectsWithCode sends each kind of bad tx through a real node and
// checks its code, and where it was judged: CheckTx refuses admission
// refusals; what the rules of the type refuse is refused in the block.
func TestNodeRejectsWithCode(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := n.Submit(ctx, registerTx(t, 1, "patient/p1", 10)); err != nil || !out.Accepted() {
		t.Fatalf("setup: %+v %v", out, err)
	}
	if out, err := n.Submit(ctx, registerTx(t, 2, "patient/p2", 11)); err != nil || !out.Accepted() {
		t.Fatalf("setup: %+v %v", out, err)
	}
	patient := func(nonce uint64, typ tx.Type, body any) []byte {
		raw, err := tx.Sign(seedKey(10), testChain, "patient/p1", nonce, typ, body)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	sign := func(k ed25519.PrivateKey, chain, signer string, nonce uint64) []byte {
		raw, err := tx.Sign(k, chain, signer, nonce, tx.TypeRegister, &tx.Register{
			ID: "patient/zz", Kind: carechain.KindPatient, PublicKey: seedKey(99).Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	cases := []struct {
		name  string
		raw   []byte
		want  ledger.Code
		stage ledger.Stage
	}{
		{"malformed", []byte{0x01, 0x02, 0x03}, ledger.CodeMalformed, ledger.StageCheck},
		{"unknown type", patient(1, "record.erase", &tx.Revoke{ID: "patient/p1"}), ledger.CodeUnknownType, ledger.StageCheck},
		{"bad signature", sign(seedKey(77), testChain, "hosp-a/admin", 3), ledger.CodeBadSignature, ledger.StageCheck},
		{"wrong chain", sign(seedKey(1), "other", "hosp-a/admin", 3), ledger.CodeWrongChain, ledger.StageCheck},
		{"replayed nonce", sign(seedKey(1), testChain, "hosp-a/admin", 2), ledger.CodeBadNonce, ledger.StageCheck},
		{"stale nonce", sign(seedKey(1), testChain, "hosp-a/admin", 1), ledger.CodeBadNonce, ledger.StageCheck},
		{"unknown signer", sign(seedKey(50), testChain, "hosp-a/nobody", 1), ledger.CodeUnknownSigner, ledger.StageCheck},
		{"unauthorized", patient(1, tx.TypeRevoke, &tx.Revoke{ID: "patient/p2"}), ledger.CodeUnauthorized, ledger.StageFinalize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := n.Submit(ctx, c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if out.Code != c.want || out.Stage != c.stage || (c.stage == ledger.StageFinalize) != (out.Height > 0) {
				t.Fatalf("outcome %+v, want code %v at %s", out, c.want, c.stage)
			}
		})
	}
	// Revoked signer: the patient revokes their own key, then tries to sign.
	if out, err := n.Submit(ctx, patient(1, tx.TypeRevoke, &tx.Revoke{ID: "patient/p1"})); err != nil || !out.Accepted() {
		t.Fatalf("self-revoke: %+v %v", out, err)
	}
	out, err := n.Submit(ctx, patient(2, tx.TypeRevoke, &tx.Revoke{ID: "patient/p1"}))
	if err != nil || out.Code != ledger.CodeRevokedSigner {
		t.Fatalf("revoked signer: %+v %v", out, err)
	}
}

func TestRestartResumesChain(t *testing.T) {
	n := startSingle(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := n.Submit(ctx, registerTx(t, 1, "patient/before", 10))
	if err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	h := n.Home()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n2 := startHome(t, h)
	if got, _ := n2.App().Height(); got < out.Height {
		t.Fatalf("height after restart %d < %d", got, out.Height)
	}
	if _, err := n2.App().Latest().Principal("patient/before"); err != nil {
		t.Fatal(err)
	}
	out2, err := n2.Submit(ctx, registerTx(t, 2, "patient/after", 11))
	if err != nil || !out2.Accepted() || out2.Height <= out.Height {
		t.Fatalf("after restart: %+v %v", out2, err)
	}
}

// TestFourValidatorsAgree runs a 4-validator testnet in process and checks that
// every node commits the same transactions with the same app hash at every height.
func TestFourValidatorsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four validators")
	}
	dir := t.TempDir()
	homes, err := Testnet(dir, TestnetOptions{Validators: 4, ChainID: testChain, Genesis: *testGenesis(), Tune: func(_ int, c *Config) { fastConfig(c) }, Node: testNodePrincipal})
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*Node, len(homes))
	var wg sync.WaitGroup
	errs := make([]error, len(homes))
	for i, h := range homes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := Start(context.Background(), h, StartOptions{})
			nodes[i], errs[i] = n, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { nodes[i].Stop() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Submit through different nodes.
	var last int64
	for i := range 12 {
		out, err := nodes[i%4].Submit(ctx, registerTx(t, uint64(i+1), fmt.Sprintf("patient/p%d", i), byte(10+i)))
		if err != nil || !out.Accepted() {
			t.Fatalf("tx %d: %+v %v", i, out, err)
		}
		last = max(last, out.Height)
	}
	for _, n := range nodes {
		for {
			h, _ := n.App().Height()
			if h >= last {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("nodes did not reach the last height")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	for h := int64(1); h <= last; h++ {
		want, err := nodes[0].App().AppHash(h)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes[1:] {
			got, err := n.App().AppHash(h)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("height %d: node %d app hash %X (%v), node 0 %X", h, i+1, got, err, want)
			}
		}
	}
	for i, n := range nodes {
		v, err := n.App().View(last)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := v.Principals("")
		if err != nil || len(ps) != 1+4+12 { // admin, nodes, patients
			t.Fatalf("node %d has %d principals at %d: %v", i, len(ps), last, err)
		}
	}
}
