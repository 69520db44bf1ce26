package nodeapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

const testChain = "api-test"

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func seedKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testGenesis() *ledger.Genesis {
	org := func(id string, typ carechain.OrgType, seed byte) ledger.GenesisOrg {
		return ledger.GenesisOrg{
			Organization: carechain.Organization{ID: id, Name: "Org " + id, Type: typ},
			Admins:       []ledger.GenesisAdmin{{ID: id + "/admin", PublicKey: seedKey(seed).Public().(ed25519.PublicKey)}},
		}
	}
	return &ledger.Genesis{Organizations: []ledger.GenesisOrg{org("hosp-a", carechain.OrgHospital, 1), org("lab-b", carechain.OrgLab, 2)}}
}

// startServer runs a real single-validator node and serves it over httptest.
func startServer(t *testing.T) (*node.Node, *httptest.Server) {
	t.Helper()
	n := startNode(t, testGenesis())
	srv := httptest.NewServer(nodeapi.NewHandler(n, nodeapi.Options{Metrics: n.Metrics(), NodeID: nodeIDOf(t, n)}))
	t.Cleanup(srv.Close)
	return n, srv
}

// nodeIDOf is n's CometBFT node ID, which signed requests name.
func nodeIDOf(t testing.TB, n *node.Node) string {
	t.Helper()
	id, err := n.Home().NodeID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startNode runs a real single-validator node of genesis g.
func startNode(t testing.TB, g *ledger.Genesis) *node.Node {
	t.Helper()
	p2p, err := node.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := node.Home(t.TempDir())
	c := node.DefaultConfig(testChain, "solo")
	c.TimeoutCommit, c.HTTPAddr, c.P2PAddr = node.Duration(10*time.Millisecond), "127.0.0.1:0", p2p
	if err := node.Init(h, node.InitOptions{Config: c, Genesis: g}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, h, node.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// syncingNode is a node that says it is still catching up with its peers.
type syncingNode struct{ *node.Node }

func (syncingNode) Syncing() bool { return true }

// TestHealthWhileSyncing: a node catching up is live (a liveness probe
// must not restart it) but not ready: /readyz answers 503 with the reason.
func TestHealthWhileSyncing(t *testing.T) {
	n, _ := startServer(t)
	srv := httptest.NewServer(nodeapi.NewHandler(syncingNode{n}, nodeapi.Options{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var h nodeapi.Health
	if b := call(t, ctx, "GET", srv.URL+"/readyz", nil, http.StatusServiceUnavailable, nil); json.Unmarshal(b, &h) != nil ||
		!h.Syncing || !strings.Contains(h.Reason, "catching up") {
		t.Errorf("/readyz while syncing: %s", b)
	}
	var live nodeapi.Health
	if b := call(t, ctx, "GET", srv.URL+"/healthz", nil, http.StatusOK, nil); json.Unmarshal(b, &live) != nil || !live.Syncing || live.Reason != "" {
		t.Errorf("/healthz while syncing: %s", b)
	}
}

func registerTx(t *testing.T, key ed25519.PrivateKey, chain, signer string, nonce uint64, id string, seed byte) []byte {
	t.Helper()
	raw, err := tx.Sign(key, chain, signer, nonce, tx.TypeRegister, &tx.Register{
		ID: id, Kind: carechain.KindPatient, PublicKey: seedKey(seed).Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// call does one HTTP request, checks the status and, if out is set, decodes the JSON body into it.
func call(t *testing.T, ctx context.Context, method, url string, body []byte, want int, out any) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return b
}

func TestAPI(t *testing.T) {
	_, srv := startServer(t)
	cl := nodeapi.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := func(nonce uint64, id string, seed byte) []byte {
		return registerTx(t, seedKey(1), testChain, "hosp-a/admin", nonce, id, seed)
	}

	t.Run("health and status", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/v1/status"} {
			var st nodeapi.Status
			call(t, ctx, "GET", srv.URL+path, nil, http.StatusOK, &st)
			if st.ChainID != testChain || st.Height < 1 || !hexHash.MatchString(st.AppHash) || st.Syncing {
				t.Errorf("%s: %+v", path, st)
			}
		}
		if st, err := cl.Status(ctx); err != nil || st.ChainID != testChain {
			t.Errorf("client status %+v %v", st, err)
		}
		var ready nodeapi.Health
		call(t, ctx, "GET", srv.URL+"/readyz", nil, http.StatusOK, &ready)
		if ready.Reason != "" || ready.Height < 1 || ready.Syncing {
			t.Errorf("/readyz: %+v", ready)
		}
	})

	// Register a patient: the rest of the test reads it back.
	before, err := cl.Principal(ctx, "hosp-a/admin", 0)
	if err != nil || before.NextNonce != 1 {
		t.Fatalf("admin before: %+v %v", before, err)
	}
	raw := admin(1, "patient/alice", 10)
	var res struct {
		Hash   string `json:"hash"`
		Code   *int   `json:"code"`
		Height int64  `json:"height"`
		Stage  string `json:"stage"`
		Reason string `json:"reason"`
	}
	body := call(t, ctx, "POST", srv.URL+"/v1/txs", raw, http.StatusOK, &res)
	sum := sha256.Sum256(raw)
	if res.Hash != hex.EncodeToString(sum[:]) || res.Code == nil || *res.Code != 0 || res.Height <= 0 || res.Stage != "finalize" || res.Reason != "ok" {
		t.Fatalf("register response %s", body)
	}
	regAt := res.Height

	// Patients are shown to signed requests of staff, admins and nodes, and
	// to the patient; to anyone else they are absent.
	staff, alice := cl.As("hosp-a/admin", seedKey(1)), cl.As("patient/alice", seedKey(10))
	t.Run("patients are not public", func(t *testing.T) {
		_, hidden := cl.Principal(ctx, "patient/alice", 0)
		_, absent := cl.Principal(ctx, "patient/nobody", 0)
		if hidden == nil || absent == nil || strings.ReplaceAll(hidden.Error(), "alice", "nobody") != absent.Error() {
			t.Fatalf("anonymous lookup of a patient: %v; want what a missing one gets: %v", hidden, absent)
		}
		if p, err := alice.Principal(ctx, "patient/alice", 0); err != nil || p.Principal.ID != "patient/alice" {
			t.Fatalf("the patient's own lookup: %+v %v", p, err)
		}
		for who, c := range map[string]*nodeapi.Client{"anonymous": cl, "another patient": cl.As("patient/alice", seedKey(10))} {
			ps, err := c.Principals(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.Kind == carechain.KindPatient && (who == "anonymous" || p.ID != "patient/alice") {
					t.Errorf("%s lists patient %s", who, p.ID)
				}
			}
		}
	})

	t.Run("registered principal and tx", func(t *testing.T) {
		p, err := staff.Principal(ctx, "patient/alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Principal.ID != "patient/alice" || p.Principal.Kind != carechain.KindPatient || p.Principal.RegisteredBy != "hosp-a/admin" ||
			p.Principal.Org != "hosp-a" || p.Principal.RegisteredAt != regAt || p.Height < regAt {
			t.Errorf("principal %+v", p)
		}
		if a, err := cl.Principal(ctx, "hosp-a/admin", 0); err != nil || a.NextNonce != 2 {
			t.Errorf("admin next nonce: %+v %v", a, err)
		}
		var st ledger.TxStatus
		call(t, ctx, "GET", srv.URL+"/v1/txs/"+res.Hash, nil, http.StatusOK, &st)
		if st != (ledger.TxStatus{Height: regAt, Type: string(tx.TypeRegister), Signer: "hosp-a/admin"}) {
			t.Errorf("tx status %+v", st)
		}
	})

	t.Run("height queries", func(t *testing.T) {
		cases := []struct {
			query string
			want  int
		}{
			{strconv.FormatInt(regAt-1, 10), http.StatusNotFound},
			{"abc", http.StatusBadRequest},
			{"0", http.StatusBadRequest},
			{"-1", http.StatusBadRequest},
			{strconv.FormatInt(regAt+1_000_000, 10), http.StatusBadRequest},
		}
		for _, c := range cases {
			var body map[string]any
			call(t, ctx, "GET", srv.URL+"/v1/principals/patient/alice?height="+c.query, nil, c.want, &body)
			if msg, _ := body["error"].(string); c.want != http.StatusOK && msg == "" {
				t.Errorf("height %s: no error message: %v", c.query, body)
			}
		}
		if p, err := staff.Principal(ctx, "patient/alice", regAt); err != nil || p.Height != regAt {
			t.Errorf("height %d: %+v %v", regAt, p, err)
		}
		if _, err := staff.Principal(ctx, "patient/alice", regAt-1); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("height %d: %v, want 404", regAt-1, err)
		}
	})

	t.Run("rejected txs", func(t *testing.T) {
		countBefore, err := cl.Principals(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name   string
			raw    []byte
			code   ledger.Code
			reason string
		}{
			{"bad signature", registerTx(t, seedKey(77), testChain, "hosp-a/admin", 2, "patient/bob", 11), 3, "bad_signature"},
			{"garbage", []byte{0x01, 0x02, 0x03}, 1, "malformed"},
			{"replayed nonce", admin(1, "patient/carol", 12), 5, "bad_nonce"},
			{"wrong chain", registerTx(t, seedKey(1), "other", "hosp-a/admin", 2, "patient/dave", 13), 4, "wrong_chain"},
			{"unknown signer", registerTx(t, seedKey(50), testChain, "hosp-a/nobody", 1, "patient/erin", 14), 6, "unknown_signer"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r nodeapi.TxResponse
				call(t, ctx, "POST", srv.URL+"/v1/txs", c.raw, http.StatusUnprocessableEntity, &r)
				sum := sha256.Sum256(c.raw)
				if r.Code != c.code || r.Reason != c.reason || r.Stage != ledger.StageCheck || r.Hash != hex.EncodeToString(sum[:]) || r.Height != 0 || r.Log == "" {
					t.Errorf("response %+v, want code %d (%s)", r, c.code, c.reason)
				}
			})
		}
		countAfter, err := cl.Principals(ctx, "", 0)
		if err != nil || len(countAfter) != len(countBefore) {
			t.Errorf("principals %d before, %d after rejections (%v)", len(countBefore), len(countAfter), err)
		}
		if a, err := cl.Principal(ctx, "hosp-a/admin", 0); err != nil || a.NextNonce != 2 {
			t.Errorf("admin next nonce after rejections: %+v %v", a, err)
		}
	})

	t.Run("body too large", func(t *testing.T) {
		var e nodeapi.Error
		call(t, ctx, "POST", srv.URL+"/v1/txs", make([]byte, tx.MaxTxBytes+1), http.StatusRequestEntityTooLarge, &e)
		if e.Error == "" {
			t.Error("413 without an error message")
		}
	})

	t.Run("not found and bad input", func(t *testing.T) {
		cases := []struct {
			path string
			want int
		}{
			{"/v1/principals/patient/nobody", http.StatusNotFound},
			{"/v1/principals/hosp-a/ghost?height=1", http.StatusNotFound},
			{"/v1/txs/" + strings.Repeat("0", 64), http.StatusNotFound},
			{"/v1/txs/zz", http.StatusBadRequest},
			{"/v1/txs/" + res.Hash[:62], http.StatusBadRequest},
			{"/v1/txs/" + res.Hash + "00", http.StatusBadRequest},
			{"/v1/organizations?height=abc", http.StatusBadRequest},
		}
		for _, c := range cases {
			var e nodeapi.Error
			call(t, ctx, "GET", srv.URL+c.path, nil, c.want, &e)
			if e.Error == "" {
				t.Errorf("%s: no error message", c.path)
			}
		}
		if _, err := cl.Principal(ctx, "patient/nobody", 0); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("client error for a missing principal: %v", err)
		}
	})

	t.Run("lists", func(t *testing.T) {
		cases := []struct {
			org  string
			want []string
		}{
			{"hosp-a", []string{"hosp-a/admin", "patient/alice"}},
			{"lab-b", []string{"lab-b/admin"}},
			{"", []string{"hosp-a/admin", "lab-b/admin", "patient/alice"}},
		}
		for _, c := range cases {
			ps, err := staff.Principals(ctx, c.org, 0)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.ID)
			}
			if slices.Sort(ids); !slices.Equal(ids, c.want) {
				t.Errorf("org %q: principals %v, want %v", c.org, ids, c.want)
			}
		}
		if ps, err := cl.Principals(ctx, "hosp-a", regAt-1); err != nil || len(ps) != 1 {
			t.Errorf("hosp-a before registration: %+v %v", ps, err)
		}
		orgs, err := cl.Organizations(ctx, 0)
		want := []carechain.Organization{
			{ID: "hosp-a", Name: "Org hosp-a", Type: carechain.OrgHospital},
			{ID: "lab-b", Name: "Org lab-b", Type: carechain.OrgLab},
		}
		if err != nil || !slices.EqualFunc(orgs, want, func(a, b carechain.Organization) bool { return a.ID == b.ID && a.Name == b.Name && a.Type == b.Type }) {
			t.Errorf("organizations %+v %v", orgs, err)
		}
	})

	t.Run("empty list is [] and resent tx is a conflict", func(t *testing.T) {
		if b := call(t, ctx, "GET", srv.URL+"/v1/principals?org=nobody", nil, http.StatusOK, nil); strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("empty list: %s", b)
		}
		// The exact bytes of the committed registration again: not retryable, so not 503.
		var e nodeapi.Error
		call(t, ctx, "POST", srv.URL+"/v1/txs", raw, http.StatusConflict, &e)
		if !strings.Contains(e.Error, "already received") {
			t.Errorf("resent tx: %+v", e)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := string(call(t, ctx, "GET", srv.URL+"/metrics", nil, http.StatusOK, nil))
		m := regexp.MustCompile(`(?m)^carechain_height (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no carechain_height in\n%s", body)
		}
		if h, _ := strconv.ParseInt(m[1], 10, 64); h < regAt {
			t.Errorf("carechain_height %d < %d", h, regAt)
		}
		for _, want := range []string{
			`carechain_txs_rejected_total{reason="bad_signature",stage="check"} 1`,
			`carechain_txs_rejected_total{reason="malformed",stage="check"} 1`,
			`carechain_txs_committed_total 1`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("metrics lack %q", want)
			}
		}
		for _, want := range []string{`carechain_live 1`, `carechain_ready 1`, `carechain_syncing 0`, `carechain_validators 1`,
			`carechain_peers 0`, `carechain_mempool_max_txs 20000`} {
			if !strings.Contains(body, "\n"+want+"\n") {
				t.Errorf("metrics lack %q", want)
			}
		}
		if !regexp.MustCompile(`(?m)^carechain_disk_free_bytes [1-9]`).MatchString(body) {
			t.Error("metrics give no free disk space of the home")
		}
		if !regexp.MustCompile(`(?m)^carechain_http_requests_total\{code="200",route="GET /v1/status"\} [1-9]`).MatchString(body) {
			t.Errorf("metrics count no requests to /v1/status:\n%s", body)
		}
	})
}

// TestRolePolicyRoute: an organization's role policy is public (rules, not
// health data); an unknown organization's is 404.
func TestRolePolicyRoute(t *testing.T) {
	_, srv := startServer(t)
	cl := nodeapi.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cl.RolePolicy(ctx, "hosp-a", 0)
	if err != nil || st.Org != "hosp-a" || st.Version != 1 || len(st.Policy.Rules) == 0 {
		t.Fatalf("role policy of hosp-a: %+v %v", st, err)
	}
	if _, err := cl.RolePolicy(ctx, "no-such-org", 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("role policy of an unknown organization: %v, want 404", err)
	}
}
