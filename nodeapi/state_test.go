package nodeapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// TestServiceOnTheClient: the records service runs on a patient's device
// against the node's state (RemoteChain over /v1/state), with the patient's
// key only on the device: a grant it builds lets the grantee read through
// the node, a revoke takes that away, and the access log decrypts locally.
func TestServiceOnTheClient(t *testing.T) {
	w := newProofWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pk := w.patientEnc
	local := &records.Keyring{}
	local.Add("patient/p", pk)
	cl := nodeapi.NewClient(w.srv.URL).As("patient/p", w.keys["patient/p"])
	chain, err := nodeapi.NewRemoteChain(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	device, err := records.New(chain, local, records.Options{Node: "device"})
	if err != nil {
		t.Fatal(err)
	}
	me := records.Signer{ID: "patient/p", Key: w.keys["patient/p"]}
	if _, err := w.svc.Read(ctx, "hosp-b/dr-x", "rec-1", 0, consent.PurposeTreatment); err == nil {
		t.Fatal("dr-x reads before any grant")
	}
	id, err := device.Grant(ctx, me, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-x"}, Categories: []string{"lab"}, Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60,
	})
	if err != nil {
		t.Fatalf("grant built on the device: %v", err)
	}
	if _, err := w.svc.Read(ctx, "hosp-b/dr-x", "rec-1", 0, consent.PurposeTreatment); err != nil {
		t.Fatalf("grantee reads through the node after the device's grant: %v", err)
	}
	if err := device.Revoke(ctx, me, "patient/p", id); err != nil {
		t.Fatalf("revoke built on the device: %v", err)
	}
	var denied *records.DeniedError
	if _, err := w.svc.Read(ctx, "hosp-b/dr-x", "rec-1", 0, consent.PurposeTreatment); !errors.As(err, &denied) {
		t.Fatalf("revoked grantee reads: %v", err)
	}
	if _, err := records.AuditLog(chain.Latest(), "patient/p", pk); err != nil {
		t.Fatalf("access log read on the device: %v", err)
	}
}

// TestStateIsReadOnlyByThoseWhoActOnIt: /v1/state serves consortium-wide
// state to any signed principal and a patient's state only to the patient;
// unsigned requests are 401, and a scan cannot reach past one patient.
func TestStateIsReadOnlyByThoseWhoActOnIt(t *testing.T) {
	w := newProofWorld(t)
	cases := []struct {
		query, signer string
		status        int
	}{
		{"key=param/categories", "", http.StatusUnauthorized},
		{"key=param/categories", "hosp-b/dr-x", http.StatusOK},
		{"prefix=org/", "hosp-b/dr-x", http.StatusOK},
		{"prefix=grant/patient/p/", "patient/p", http.StatusOK},
		{"prefix=grant/patient/p/", "hosp-b/dr-x", http.StatusForbidden},
		{"prefix=grant/patient/p/", "hosp-b/dr-b", http.StatusForbidden},
		{"prefix=grant/patient/", "patient/p", http.StatusForbidden},
		{"prefix=grant/patient/p", "patient/p", http.StatusForbidden}, // would reach patient/p2…
		{"prefix=audit/patient/p/", "hosp-a/dr-a", http.StatusForbidden},
		{"key=record/rec-1", "patient/p", http.StatusOK},
		{"key=record/rec-1", "hosp-b/dr-x", http.StatusForbidden},
		{"key=record/rec-1", "hosp-a/dr-a", http.StatusForbidden}, // its author reads it through a node, logged
		{"prefix=version/rec-1/", "patient/p", http.StatusOK},
		{"key=tlog/index/record/rec-1/1", "patient/p", http.StatusOK},
		{"key=tlog/index/record/rec-1/1", "hosp-b/dr-x", http.StatusForbidden},
		{"key=tlog/leaf/00000000000000000000", "hosp-b/dr-x", http.StatusOK}, // the first leaf: an identity
		{"prefix=tlog/leaf/", "patient/p", http.StatusForbidden},
		{"key=tlog/range", "patient/p", http.StatusForbidden},
		{"prefix=version/rec-1/", "hosp-b/dr-x", http.StatusForbidden},
		{"prefix=principal/", "hosp-b/dr-x", http.StatusForbidden},
		{"prefix=principal/patient/", "hosp-b/dr-x", http.StatusForbidden},
		{"prefix=principal/hosp-b/", "patient/p", http.StatusOK},
		{"key=nonce/hosp-a/dr-a", "patient/p", http.StatusForbidden},
		{"key=nonce/patient/p", "patient/p", http.StatusOK},
		{"prefix=pubkey/", "patient/p", http.StatusForbidden},
		{"key=a&prefix=b", "patient/p", http.StatusBadRequest},
	}
	if status, _ := w.get(t, "/v1/state?key=principal/patient/p", "patient/p"); status != http.StatusOK {
		t.Fatalf("a patient reads their own principal record: HTTP %d", status)
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		status, body := w.get(t, "/v1/state?"+q.Encode(), c.signer)
		if status != c.status {
			t.Errorf("%s as %q: HTTP %d %.120s, want %d", c.query, c.signer, status, body, c.status)
		}
	}
}

// TestAnotherPatientSeesOnlyKeys: a patient may look up another patient by
// ID (to name them a delegate) but sees only their keys, not where they
// registered; staff see the whole record.
func TestAnotherPatientSeesOnlyKeys(t *testing.T) {
	w := newProofWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nonce, _ := w.n.App().Latest().NextNonce("hosp-a/admin")
	qEnc, _ := seal.GenerateKey()
	w.keys["patient/q"] = seedKey(61)
	raw, _ := tx.Sign(w.keys["hosp-a/admin"], testChain, "hosp-a/admin", nonce, tx.TypeRegister, &tx.Register{ID: "patient/q", Kind: carechain.KindPatient,
		PublicKey: w.keys["patient/q"].Public().(ed25519.PublicKey), EncryptionKey: qEnc.Public().Bytes()})
	out, err := w.n.Submit(ctx, raw)
	if err != nil || !out.Accepted() {
		t.Fatalf("register patient/q: %+v %v", out, err)
	}
	orgSeenBy := func(signer string) string {
		t.Helper()
		status, body := w.get(t, "/v1/state?key=principal/patient/p", signer)
		var resp nodeapi.StateResponse
		if status != http.StatusOK || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("principal/patient/p as %s: HTTP %d %s", signer, status, body)
		}
		var p carechain.Principal
		if err := tx.Unmarshal(resp.Value, &p); err != nil || p.ID != "patient/p" || len(p.PublicKey) == 0 || len(p.EncryptionKey) == 0 {
			t.Fatalf("principal/patient/p as %s: %+v %v", signer, p, err)
		}
		return p.Org
	}
	if org := orgSeenBy("patient/q"); org != "" {
		t.Errorf("another patient sees where patient/p registered: %q", org)
	}
	for _, who := range []string{"patient/p", "hosp-b/dr-x"} {
		if org := orgSeenBy(who); org != "hosp-a" {
			t.Errorf("%s sees registering org %q, want hosp-a", who, org)
		}
	}
	// Named a delegate, q manages p's consents: it reads their state (and
	// the whole principal record), but not the sealed versions of p's
	// records, which go through a node and into p's access log.
	if status, _ := w.get(t, "/v1/state?prefix=grant/patient/p/", "patient/q"); status != http.StatusForbidden {
		t.Fatalf("a stranger reads p's grants: HTTP %d", status)
	}
	if err := w.svc.Delegate(ctx, records.Signer{ID: "patient/p", Key: w.keys["patient/p"]}, "patient/q"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/v1/state?prefix=grant/patient/p/": http.StatusOK,
		"/v1/state?key=record/rec-1":        http.StatusForbidden,
		"/v1/state?prefix=version/rec-1/":   http.StatusForbidden,
	} {
		if status, body := w.get(t, path, "patient/q"); status != want {
			t.Errorf("%s as p's delegate: HTTP %d %.100s, want %d", path, status, body, want)
		}
	}
	if org := orgSeenBy("patient/q"); org != "hosp-a" {
		t.Errorf("p's delegate sees registering org %q, want hosp-a", org)
	}
}

// countingTransport counts the /v1/state requests a client makes.
type countingTransport struct{ state atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/state" {
		c.state.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// BenchmarkGrant compares a grant and its revocation built on the patient's
// device (state read over /v1/state, keys local) with the same built by the
// node's records service (state read in process). Both submit to the same
// node and wait for the commit; state-reqs/op counts the device's reads.
func BenchmarkGrant(b *testing.B) {
	w := newProofWorld(b)
	ctx := context.Background()
	me := records.Signer{ID: "patient/p", Key: w.keys["patient/p"]}
	grant := consent.Grant{Grantee: consent.Grantee{Principal: "hosp-b/dr-x"}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60}
	run := func(b *testing.B, svc *records.Service) {
		for range b.N {
			id, err := svc.Grant(ctx, me, grant)
			if err == nil {
				err = svc.Revoke(ctx, me, "patient/p", id)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("node", func(b *testing.B) { run(b, w.svc) })
	b.Run("device", func(b *testing.B) {
		counter := &countingTransport{}
		cl := nodeapi.NewClient(w.srv.URL).As("patient/p", w.keys["patient/p"])
		cl.HTTP = &http.Client{Transport: counter}
		chain, err := nodeapi.NewRemoteChain(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		local := &records.Keyring{}
		local.Add("patient/p", w.patientEnc)
		device, err := records.New(chain, local, records.Options{Node: "device"})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		run(b, device)
		b.ReportMetric(float64(counter.state.Load())/float64(b.N), "state-reqs/op")
	})
}

// TestStateScansComeInPages: a scan over more keys than a page holds is
// answered page by page, and State reads every page.
func TestStateScansComeInPages(t *testing.T) {
	w := newProofWorld(t)
	srv := httptest.NewServer(nodeapi.NewHandler(w.n, nodeapi.Options{NodeID: w.nodeID, StatePage: 1}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := nodeapi.NewClient(srv.URL).As("hosp-b/dr-x", w.keys["hosp-b/dr-x"])
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := nodeapi.NewState(ctx, cl).Scan("org/", st.Height, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"org/hosp-a", "org/hosp-b"}; !slices.Equal(keys, want) {
		t.Fatalf("scan of org/ in pages of one: %v, want %v", keys, want)
	}
	// Credentials are public: a device deciding a consent condition reads
	// the requester's (ledger.View.ConsentCredentials over State).
	v := ledger.NewView(nodeapi.NewState(ctx, cl), st.Height, st.ChainID)
	if creds, err := v.ConsentCredentials("hosp-b/dr-x", time.Now().Unix())(); err != nil || len(creds) != 0 {
		t.Fatalf("credentials through State: %v %v", creds, err)
	}
}

// TestLogLeavesFollowTheirState: a Merkle log leaf is served to whoever may
// read the state it commits to: a consent's leaf to its patient, not to a
// clinician; the value it commits to, at its height, likewise.
func TestLogLeavesFollowTheirState(t *testing.T) {
	w := newProofWorld(t)
	v := w.n.App().Latest()
	index := uint64(0)
	var leaf *tlog.Leaf
	for ; ; index++ {
		l, err := v.LogLeaf(index)
		if err != nil {
			t.Fatalf("no consent leaf before %d: %v", index, err)
		}
		if strings.HasPrefix(l.StateKey, "grant/patient/p/") {
			leaf = l
			break
		}
	}
	leafQuery := fmt.Sprintf("/v1/state?key=tlog/leaf/%020d", index)
	valueQuery := fmt.Sprintf("/v1/state?key=%s&at=%d", url.QueryEscape(leaf.StateKey), leaf.Height)
	for _, c := range []struct {
		path, signer string
		status       int
	}{
		{leafQuery, "patient/p", http.StatusOK},
		{leafQuery, "hosp-b/dr-x", http.StatusForbidden},
		{valueQuery, "patient/p", http.StatusOK},
		{valueQuery, "hosp-b/dr-x", http.StatusForbidden},
	} {
		if status, body := w.get(t, c.path, c.signer); status != c.status {
			t.Errorf("%s as %s: HTTP %d %.100s, want %d", c.path, c.signer, status, body, c.status)
		}
	}
}
