package nodeapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/nodeapi"
)

// The signed route these tests use is a proposal's content: on a node
// without records it answers 503 "records are off" once the request is
// authenticated, and 401 before.
const signedPath = "/v1/proposals/p-1/content"

// signedRequest is a GET of signedPath on base, signed by hosp-a/admin for
// node at now.
func signedRequest(t *testing.T, base, node string, now time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+signedPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeapi.SignRequest(req, "hosp-a/admin", seedKey(1), node, now)
	return req
}

// send does req against base (its headers kept) and returns the status and body.
func send(t *testing.T, base string, req *http.Request) (int, string) {
	t.Helper()
	again, err := http.NewRequest(req.Method, base+req.URL.RequestURI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignedRequests(t *testing.T) {
	n, srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := nodeapi.NewClient(srv.URL).Status(ctx)
	if err != nil || st.NodeID == "" {
		t.Fatalf("status gives no node ID: %+v %v", st, err)
	}
	node := st.NodeID

	// The client asks for the node ID and signs for it.
	if _, err := nodeapi.NewClient(srv.URL).As("hosp-a/admin", seedKey(1)).ProposalContent(ctx, "p-1"); err == nil || !strings.Contains(err.Error(), "records are off") {
		t.Fatalf("client's signed request was not authenticated: %v", err)
	}

	first := signedRequest(t, srv.URL, node, time.Now())
	if code, body := send(t, srv.URL, first); code != http.StatusServiceUnavailable {
		t.Fatalf("signed request: %d %s", code, body)
	}
	noNonce := signedRequest(t, srv.URL, node, time.Now())
	noNonce.Header.Del(nodeapi.HeaderNonce)
	unused := signedRequest(t, srv.URL, node, time.Now())
	cases := []struct {
		name    string
		req     *http.Request
		mention string
	}{
		{"replayed", first, "already used"},
		{"for another node", signedRequest(t, srv.URL, "0123456789abcdef0123456789abcdef01234567", time.Now()), "signed for node"},
		{"without a nonce", noNonce, nodeapi.HeaderNonce},
		{"dated in the future", signedRequest(t, srv.URL, node, time.Now().Add(2*time.Minute)), "in the future"},
		{"dated too long ago", signedRequest(t, srv.URL, node, time.Now().Add(-10*time.Minute)), "ago"},
	}
	for _, c := range cases {
		if code, body := send(t, srv.URL, c.req); code != http.StatusUnauthorized || !strings.Contains(body, c.mention) {
			t.Errorf("%s: %d %s, want 401 mentioning %q", c.name, code, body, c.mention)
		}
	}

	// A restarted node has forgotten the nonces it saw: it refuses every
	// request signed before it started, used or not.
	restarted := httptest.NewServer(nodeapi.NewHandler(n, nodeapi.Options{NodeID: node}))
	t.Cleanup(restarted.Close)
	for name, req := range map[string]*http.Request{"used": first, "unused": unused} {
		if code, body := send(t, restarted.URL, req); code != http.StatusUnauthorized || !strings.Contains(body, "before this server") {
			t.Errorf("%s request after a restart: %d %s", name, code, body)
		}
	}
	if code, body := send(t, restarted.URL, signedRequest(t, restarted.URL, node, time.Now())); code != http.StatusServiceUnavailable {
		t.Errorf("a new request after the restart: %d %s", code, body)
	}
}
