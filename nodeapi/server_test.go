package nodeapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carechain/carechain/nodeapi"
)

// serve runs nodeapi.NewServer(h, opts) on a loopback port until the test
// ends, and returns its address.
func serve(t *testing.T, h http.Handler, opts nodeapi.ServerOptions) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, l, h, opts)
	return l.Addr().String()
}

// serveOn runs nodeapi.NewServer(h, opts) on l until the test ends.
func serveOn(t *testing.T, l net.Listener, h http.Handler, opts nodeapi.ServerOptions) {
	s := nodeapi.NewServer(h, opts)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
}

// dial opens a raw client connection, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a GET of path on c and reads its response.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: node\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// readBody is a handler that reads the request body and reports how that
// went on got; a body that does not arrive in time is 400.
func readBody(got chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}
}

// TestSlowBodyIsCutOff: a client that sends its headers and part of its
// body, then nothing, is disconnected once the read timeout passes.
func TestSlowBodyIsCutOff(t *testing.T) {
	got := make(chan error, 1)
	addr := serve(t, readBody(got), nodeapi.ServerOptions{ReadTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	fmt.Fprintf(c, "POST /records HTTP/1.1\r\nHost: node\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("x", 10))
	// The server must end the connection: until it does, this read waits.
	answer, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes: %v", err)
	}
	if err := <-got; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the handler's body read: %v, want the deadline exceeded", err)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 400") {
		t.Errorf("answer before the disconnect: %q", answer)
	}
}

// TestReadTimeoutDoesNotCutOffAWaitingHandler: once a body has been read,
// the read deadline no longer applies, so a handler that waits (as for a
// block commit) keeps its request context past it. Another request's body,
// sent later under the same timeout, being cut off shows that the first
// deadline has passed.
func TestReadTimeoutDoesNotCutOffAWaitingHandler(t *testing.T) {
	read, release, ctxErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	slow := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wait", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		close(read)
		<-release
		ctxErr <- r.Context().Err()
		fmt.Fprint(w, "committed")
	})
	mux.Handle("POST /slow", readBody(slow))
	addr := serve(t, mux, nodeapi.ServerOptions{ReadTimeout: 50 * time.Millisecond})

	waiting := dial(t, addr)
	fmt.Fprint(waiting, "POST /wait HTTP/1.1\r\nHost: node\r\nContent-Length: 2\r\n\r\nok")
	<-read
	cut := dial(t, addr)
	fmt.Fprint(cut, "POST /slow HTTP/1.1\r\nHost: node\r\nContent-Length: 2\r\n\r\n")
	if _, err := io.ReadAll(cut); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the later body: %v, want cut off", err)
	}
	close(release)
	if err := <-ctxErr; err != nil {
		t.Errorf("the waiting handler's context: %v, want still live", err)
	}
	wantCommitted(t, waiting)
}

// TestWriteTimeout: a client that does not read its response is cut off
// once the write timeout passes from the response's first byte, while a
// handler that waited longer than that before answering (as for a block
// commit) still gets its answer through.
func TestWriteTimeout(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	stuck := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "committed")
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				stuck <- err
				return
			}
		}
	})
	addr := serve(t, mux, nodeapi.ServerOptions{WriteTimeout: 50 * time.Millisecond})
	waiting := dial(t, addr)
	fmt.Fprint(waiting, "GET /wait HTTP/1.1\r\nHost: node\r\n\r\n")
	<-entered
	fmt.Fprint(dial(t, addr), "GET /big HTTP/1.1\r\nHost: node\r\n\r\n") // and never read
	if err := <-stuck; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writing to a client that does not read: %v, want the deadline exceeded", err)
	}
	close(release)
	wantCommitted(t, waiting)
}

// wantCommitted reads the answer of the waiting request on c: "committed".
func wantCommitted(t *testing.T, c net.Conn) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the waiting request: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "committed" {
		t.Errorf("the waiting request: %d %q", resp.StatusCode, b)
	}
}

// TestConnectionCap: with a cap of N connections, connection N+1 is not
// accepted until one of the N closes; then it is served.
func TestConnectionCap(t *testing.T) {
	const maxConns = 2
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &acceptLog{Listener: tcp, early: make(chan struct{}, 1), n: maxConns}
	serveOn(t, l, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nodeapi.ServerOptions{MaxConnections: maxConns})
	addr := tcp.Addr().String()
	var open []net.Conn
	var readers []*bufio.Reader
	for range maxConns {
		c := dial(t, addr)
		open, readers = append(open, c), append(readers, bufio.NewReader(c))
		roundTrip(t, c, readers[len(readers)-1], "/held") // served, and kept alive
	}
	extra := dial(t, addr)
	served := make(chan *http.Response, 1)
	go func() {
		fmt.Fprint(extra, "GET /extra HTTP/1.1\r\nHost: node\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
		if err != nil {
			resp = &http.Response{Status: err.Error()}
		}
		served <- resp
	}()
	roundTrip(t, open[0], readers[0], "/held") // the held connections are still served
	l.firstClosed.Store(true)
	open[0].Close()
	if resp := <-served; resp.StatusCode != http.StatusOK {
		t.Fatalf("connection N+1 after one closed: %s", resp.Status)
	}
	select {
	case <-l.early:
		t.Fatal("the server accepted connection N+1 while N were open")
	default:
	}
}

// acceptLog is a listener that notes on early when the server asks it for
// connection n+1 before firstClosed is set. Below a cap of n, the server
// does not ask until a connection has closed.
type acceptLog struct {
	net.Listener
	n           int32
	calls       atomic.Int32
	firstClosed atomic.Bool
	early       chan struct{}
}

func (l *acceptLog) Accept() (net.Conn, error) {
	if l.calls.Add(1) == l.n+1 && !l.firstClosed.Load() {
		l.early <- struct{}{}
	}
	return l.Listener.Accept()
}
