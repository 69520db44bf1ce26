//go:build fault

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
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

// The fault test runs minutes of real processes, so it is behind the build
// tag "fault" (.ci/run runs it after the other tests):
//
//	go test -tags fault ./cmd/carechain -run TestFaults -count=1 -v

// Flags of every node of the fault test: a stalled chain shows within
// seconds, on /healthz and as a 504 from POST /v1/txs.
var faultStartFlags = []string{"--stall-timeout", "2s", "--submit-timeout", "3s"}

// faultNet is a 4-validator consortium made by `carechain testnet`, each
// node a `carechain start` process with its records API on.
type faultNet struct {
	t       *testing.T
	chainID string
	homes   []string
	procs   []*process
	all     []*process         // every process ever started, for their logs
	clients []*nodeapi.Client  // each node's API, signed as org0/admin
	admin   ed25519.PrivateKey // org0/admin's key, from node0's keystore
}

func newFaultNet(t *testing.T) *faultNet {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tn")
	f := &faultNet{t: t, chainID: "fault-test", homes: make([]string, 4), procs: make([]*process, 4), clients: make([]*nodeapi.Client, 4)}
	mustRun(t, passEnv(testPassphrase), "testnet", "--validators", "4", "--dir", dir, "--chain-id", f.chainID, "--base-port", "0")
	ks, err := keystore.Open(node.Home(filepath.Join(dir, "node0")).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	if f.admin, err = ks.Unlock("org0.admin", []byte(testPassphrase)); err != nil {
		t.Fatal(err)
	}
	for i := range f.homes {
		f.homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
		cfg, err := node.Home(f.homes[i]).LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		f.clients[i] = nodeapi.NewClient(cfg.HTTPAddr).As("org0/admin", f.admin)
		f.start(i)
	}
	for i := range f.procs {
		f.waitReady(i)
	}
	return f
}

// start runs node i (again, after a kill: on the same home).
func (f *faultNet) start(i int) {
	f.procs[i] = startProcess(f.t, passEnv(testPassphrase), append([]string{"start", "--home", f.homes[i]}, faultStartFlags...)...)
	f.all = append(f.all, f.procs[i])
}

// waitReady waits until node i's /readyz answers 200.
func (f *faultNet) waitReady(i int) {
	f.t.Helper()
	waitHealthy(f.t, f.procs[i], strings.TrimPrefix(f.clients[i].Base, "http://"), 2*time.Minute)
}

// height is node i's last committed height.
func (f *faultNet) height(ctx context.Context, i int) (int64, error) {
	st, err := f.clients[i].Status(ctx)
	return st.Height, err
}

// waitHeight waits until node i has committed height h.
func (f *faultNet) waitHeight(ctx context.Context, i int, h int64) {
	f.t.Helper()
	f.procs[i].waitFor(f.t, 2*time.Minute, fmt.Sprintf("node%d at height %d", i, h), func() error {
		got, err := f.height(ctx, i)
		if err == nil && got < h {
			err = fmt.Errorf("at height %d", got)
		}
		return err
	})
}

// warnings returns the WARN and ERROR lines the nodes have logged.
func (f *faultNet) warnings() []string {
	var out []string
	for _, p := range f.all {
		for _, line := range strings.Split(p.output(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				out = append(out, line)
			}
		}
	}
	return out
}

// ack is a write the API acknowledged as committed.
type ack struct {
	id     string // the registered patient
	height int64
	at     time.Time
}

// failure is a write the API did not acknowledge.
type failure struct {
	err error
	at  time.Time
}

// loadWriter registers patients as org0/admin through one node, one after
// another, each signed with the next nonce the node reports.
type loadWriter struct {
	net  *faultNet
	node int // the node written through; never killed
	mu   sync.Mutex
	acks []ack
	errs []failure
}

// run writes until ctx is cancelled.
func (w *loadWriter) run(ctx context.Context) {
	for seq := 1; ctx.Err() == nil; seq++ {
		id := fmt.Sprintf("patient/f%d", seq)
		h, err := w.write(ctx, id)
		w.mu.Lock()
		if err == nil {
			w.acks = append(w.acks, ack{id: id, height: h, at: time.Now()})
		} else if ctx.Err() == nil {
			w.errs = append(w.errs, failure{err: err, at: time.Now()})
		}
		w.mu.Unlock()
		if err != nil { // no busy loop on quick refusals (a stale nonce)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// write registers patient id and returns the height it committed at.
func (w *loadWriter) write(ctx context.Context, id string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // an upper bound, above --submit-timeout
	defer cancel()
	cl := w.net.clients[w.node]
	p, err := cl.Principal(ctx, "org0/admin", 0)
	if err != nil {
		return 0, err
	}
	_, pk, _ := ed25519.GenerateKey(nil)
	raw, err := tx.Sign(w.net.admin, w.net.chainID, "org0/admin", p.NextNonce, tx.TypeRegister, &tx.Register{
		ID: id, Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey)})
	if err != nil {
		return 0, err
	}
	res, err := cl.Submit(ctx, raw)
	if err != nil {
		return 0, err
	}
	if !res.Accepted() {
		return 0, fmt.Errorf("rejected: %s", res.Reason)
	}
	return res.Height, nil
}

// acked returns the writes acknowledged so far.
func (w *loadWriter) acked() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acks...)
}

// failedSince returns the failures after t.
func (w *loadWriter) failedSince(t time.Time) []failure {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []failure
	for _, f := range w.errs {
		if f.at.After(t) {
			out = append(out, f)
		}
	}
	return out
}

// waitAcks waits until n writes are acknowledged and returns the n-th.
func (w *loadWriter) waitAcks(n int, what string) ack {
	w.net.t.Helper()
	w.net.procs[w.node].waitFor(w.net.t, 2*time.Minute, what, func() error {
		if got := len(w.acked()); got < n {
			return fmt.Errorf("%d acknowledged writes, want %d; last failures %v", got, n, lastFailures(w.failedSince(time.Time{}), 3))
		}
		return nil
	})
	return w.acked()[n-1]
}

func lastFailures(fs []failure, n int) []string {
	var out []string
	for _, f := range fs[max(0, len(fs)-n):] {
		out = append(out, f.err.Error())
	}
	return out
}

// firstAckAfter returns the first write acknowledged after t.
func (w *loadWriter) firstAckAfter(t time.Time) (ack, bool) {
	for _, a := range w.acked() {
		if a.at.After(t) {
			return a, true
		}
	}
	return ack{}, false
}

// TestFaults runs a steady write load on a 4-validator consortium of
// `carechain start` processes and SIGKILLs validators under it. With one
// down, writes go on; restarted, it catches up. With two down the
// consortium has no quorum: a write is answered 504 within --submit-timeout
// and /healthz 503 says the chain is not committing, and nothing is
// acknowledged. With both back writes resume, and in the end every
// acknowledged write is on every node and all agree on every app hash.
func TestFaults(t *testing.T) {
	begin := time.Now()
	f := newFaultNet(t)
	t.Logf("4 nodes ready after %v", time.Since(begin).Round(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	w := &loadWriter{net: f, node: 0}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	defer func() { cancel(); <-done }()
	w.waitAcks(5, "5 writes on a healthy chain")
	if warns := f.warnings(); len(warns) > 0 {
		t.Fatalf("warnings in normal operation at the default log level:\n%s", strings.Join(warns, "\n"))
	}

	// One validator down: 3 of 4 are a quorum.
	f.procs[3].kill(t)
	killed := time.Now()
	w.waitAcks(len(w.acked())+5, "5 more writes with node3 killed")
	first, _ := w.firstAckAfter(killed)
	t.Logf("node3 killed: first write acknowledged %v after the kill", first.at.Sub(killed).Round(time.Millisecond))
	f.start(3)
	restarted := time.Now()
	f.waitReady(3)
	ready := time.Since(restarted)
	target, err := f.height(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.waitHeight(ctx, 3, target)
	t.Logf("node3 restarted: /readyz 200 after %v, at node0's height %d after %v",
		ready.Round(time.Millisecond), target, time.Since(restarted).Round(time.Millisecond))
	// A validator killed, restarted and caught up is normal operation too.
	if warns := f.warnings(); len(warns) > 0 {
		t.Fatalf("warnings at the default log level with one validator killed and restarted:\n%s", strings.Join(warns, "\n"))
	}

	stalled := f.killTwo(w)

	// Both back: writes resume.
	f.start(1)
	f.start(2)
	restarted = time.Now()
	n := len(w.acked())
	resumed := w.waitAcks(n+1, "a write after the two validators came back")
	t.Logf("nodes 1 and 2 restarted: first write acknowledged %v after the restart, %v after the kill",
		resumed.at.Sub(restarted).Round(time.Millisecond), resumed.at.Sub(stalled).Round(time.Millisecond))
	f.waitReady(1)
	f.waitReady(2)
	w.waitAcks(n+5, "5 writes after the two validators came back")
	cancel()
	<-done
	f.verify(context.Background(), w.acked())
	if warns := f.warnings(); len(warns) > 0 {
		t.Logf("%d WARN/ERROR lines over the test (kills included), the first:\n%s", len(warns), strings.Join(warns[:min(len(warns), 10)], "\n"))
	}
	all, stalledOnes := w.failedSince(time.Time{}), w.failedSince(stalled)
	t.Logf("total %v: %d writes acknowledged; %d not before nodes 1 and 2 were killed (%v), %d after (%v)",
		time.Since(begin).Round(time.Millisecond), len(w.acked()),
		len(all)-len(stalledOnes), lastFailures(all[:len(all)-len(stalledOnes)], 3), len(stalledOnes), lastFailures(stalledOnes, 2))
}

// killTwo SIGKILLs nodes 1 and 2 and checks the consortium stops, clearly:
// a write is answered 504, /healthz on the nodes still up answers 503 with
// the stall as the reason, and no write is acknowledged. It returns when
// the two were killed.
func (f *faultNet) killTwo(w *loadWriter) time.Time {
	t := f.t
	t.Helper()
	f.procs[1].kill(t)
	f.procs[2].kill(t)
	killed := time.Now()
	var timedOut failure
	f.procs[0].waitFor(t, time.Minute, "a 504 from POST /v1/txs", func() error {
		fs := w.failedSince(killed)
		for _, fl := range fs {
			var se *nodeapi.StatusError
			if errors.As(fl.err, &se) && se.Status == http.StatusGatewayTimeout && strings.Contains(se.Message, "no commit within") {
				timedOut = fl
				return nil
			}
		}
		return fmt.Errorf("failures since the kill: %v", lastFailures(fs, 3))
	})
	t.Logf("nodes 1 and 2 killed: %v after the kill, a write failed with %v", timedOut.at.Sub(killed).Round(time.Millisecond), timedOut.err)
	for _, i := range []int{0, 3} {
		addr := f.clients[i].Base + "/healthz"
		f.procs[i].waitFor(t, time.Minute, "503 from "+addr, func() error {
			code, h, err := health(addr)
			if err == nil && (code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, "not committing")) {
				err = fmt.Errorf("HTTP %d %+v", code, h)
			}
			if err == nil {
				t.Logf("node%d /healthz: 503 %q", i, h.Reason)
			}
			return err
		})
	}
	if a, ok := w.firstAckAfter(timedOut.at); ok {
		t.Fatalf("write %s acknowledged at height %d with two of four validators down", a.id, a.height)
	}
	return killed
}

// verify waits until every node has committed what the busiest one has,
// then checks every acknowledged write is on every node and every node
// has the same app hash at every height.
func (f *faultNet) verify(ctx context.Context, acks []ack) {
	t := f.t
	t.Helper()
	var top int64
	for i := range f.clients {
		h, err := f.height(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		top = max(top, h)
	}
	for i := range f.clients {
		f.waitHeight(ctx, i, top)
	}
	for _, a := range acks {
		for i, cl := range f.clients {
			p, err := cl.Principal(ctx, a.id, top)
			if err != nil || p.Principal.ID != a.id {
				t.Fatalf("node%d at height %d: acknowledged write %s (height %d): %+v %v", i, top, a.id, a.height, p, err)
			}
		}
	}
	for h := int64(1); h <= top; h++ {
		want, err := f.clients[0].Commit(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		for i, cl := range f.clients[1:] {
			got, err := cl.Commit(ctx, h)
			if err != nil || got.AppHash != want.AppHash {
				t.Fatalf("height %d: node%d app hash %s (%v), node0 %s", h, i+1, got.AppHash, err, want.AppHash)
			}
		}
	}
	t.Logf("%d acknowledged writes on all 4 nodes; the same app hash at every height up to %d", len(acks), top)
}
