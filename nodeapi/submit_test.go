package nodeapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// stalledNode is a node whose chain commits nothing (the consortium lost
// its quorum): Submit waits until its context ends. It tells waiting when
// a submission is waiting.
type stalledNode struct {
	*node.Node
	waiting chan struct{}
}

func (s stalledNode) Submit(ctx context.Context, _ []byte) (ledger.Outcome, error) {
	s.waiting <- struct{}{}
	<-ctx.Done()
	return ledger.Outcome{}, fmt.Errorf("waiting for commit: %w", ctx.Err())
}

// lockedBuffer is a log destination the handler writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveLogged serves the API of chain, logging to logs, and tells served
// when it has answered a request.
func serveLogged(t *testing.T, chain nodeapi.Chain, submitTimeout time.Duration, logs *lockedBuffer) (url string, served <-chan struct{}) {
	h := nodeapi.NewHandler(chain, nodeapi.Options{SubmitTimeout: submitTimeout,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, done
}

// TestSubmitOnStalledChain: POST /v1/txs on a chain that commits nothing
// answers 504 once SubmitTimeout has passed, and logs it as an error; a
// client that hangs up first is no error of the node's.
func TestSubmitOnStalledChain(t *testing.T) {
	n, _ := startServer(t)
	raw := registerTx(t, seedKey(1), testChain, "hosp-a/admin", 1, "patient/p1", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var logs lockedBuffer
	url, served := serveLogged(t, stalledNode{n, make(chan struct{}, 1)}, 50*time.Millisecond, &logs)
	b := call(t, ctx, "POST", url+"/v1/txs", raw, http.StatusGatewayTimeout, nil)
	<-served
	if !strings.Contains(string(b), "no commit within 50ms") || !strings.Contains(logs.String(), "status=504") {
		t.Fatalf("504 body %s, log:\n%s", b, logs.String())
	}

	var quiet lockedBuffer
	chain := stalledNode{n, make(chan struct{}, 1)}
	url, served = serveLogged(t, chain, time.Minute, &quiet)
	hangUp, stop := context.WithCancel(ctx)
	go func() {
		<-chain.waiting
		stop()
	}()
	req, err := http.NewRequestWithContext(hangUp, "POST", url+"/v1/txs", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s after the client hung up", resp.Status)
	}
	<-served
	if got := quiet.String(); got != "" {
		t.Fatalf("a client hanging up logged:\n%s", got)
	}
}
