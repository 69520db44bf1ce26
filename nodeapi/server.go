package nodeapi

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// The node's HTTP server. One listener carries /v1, /fhir, /auth, /healthz
// and /metrics; its limits keep slow or numerous clients from holding the
// node's connections (200 clients sending a body slowly were held forever).

// ServerOptions are the limits of the node's HTTP server. A zero field takes
// its value from DefaultServerOptions.
type ServerOptions struct {
	// MaxConnections is how many connections are served at once. Further
	// ones wait, not accepted, until one closes.
	MaxConnections int
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request, headers and body, from its first
	// byte; a client still sending when it passes is cut off. (net/http
	// lifts the deadline once the body has been read, so a handler that
	// then waits, as for a block commit, is not cut off with it.)
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, from its first byte. It does
	// not run while a handler waits for a commit or an export: those waits
	// end with their own deadlines (POST /v1/txs: Options.SubmitTimeout) or
	// when the client goes away.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// Logger receives the server's own errors (nil: discard).
	Logger *slog.Logger
	// TLS, if set, makes the listener TLS only (ServerTLSConfig): plain
	// HTTP is answered 400 and closed, and every response carries HSTS.
	TLS *tls.Config
}

// DefaultServerOptions are the limits a node serves with unless told
// otherwise. A request body (at most carechain.MaxRequestBytes, 1 MiB) must
// arrive at 35 KB/s or faster.
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		MaxConnections:    512,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

func (o ServerOptions) withDefaults() ServerOptions {
	d := DefaultServerOptions()
	or := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	o.ReadHeaderTimeout = or(o.ReadHeaderTimeout, d.ReadHeaderTimeout)
	o.ReadTimeout = or(o.ReadTimeout, d.ReadTimeout)
	o.WriteTimeout = or(o.WriteTimeout, d.WriteTimeout)
	o.IdleTimeout = or(o.IdleTimeout, d.IdleTimeout)
	if o.MaxConnections <= 0 {
		o.MaxConnections = d.MaxConnections
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is the node's HTTP server.
type Server struct {
	srv            *http.Server
	maxConnections int
	tls            bool
}

// NewServer returns a server of h with the limits of opts.
//
// http.Server's own WriteTimeout is not used: it runs from the end of a
// request's headers, so it would cut off the answer of a handler that waits
// for a commit or an export. The write deadline is set when the response
// starts instead (writeDeadline).
func NewServer(h http.Handler, opts ServerOptions) *Server {
	opts = opts.withDefaults()
	h = writeDeadline(h, opts.WriteTimeout)
	if opts.TLS != nil {
		h = hsts(h)
	}
	return &Server{maxConnections: opts.MaxConnections, tls: opts.TLS != nil, srv: &http.Server{
		Handler:           h,
		TLSConfig:         opts.TLS,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}}
}

// Serve accepts connections on l, at most MaxConnections at once, until
// Shutdown; it then returns http.ErrServerClosed. With TLS, net/http
// answers a plain HTTP request "400 Bad Request: Client sent an HTTP request
// to an HTTPS server." and closes the connection.
func (s *Server) Serve(l net.Listener) error {
	l = netutil.LimitListener(l, s.maxConnections)
	if s.tls {
		return s.srv.ServeTLS(l, "", "") // the certificate comes from TLSConfig.GetCertificate
	}
	return s.srv.Serve(l)
}

// Shutdown stops accepting connections and waits, until ctx is done, for the
// requests being served.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// writeDeadline wraps h so that each response must be written within write
// of its first byte.
func writeDeadline(h http.Handler, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A kept-alive connection still has the previous response's deadline.
		_ = rc.SetWriteDeadline(time.Time{})
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, write: write}
		h.ServeHTTP(dw, r)
		dw.start() // the response is sent when h returns, written or not
	})
}

// deadlineWriter sets the connection's write deadline when the handler
// starts its response.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	write   time.Duration
	started bool
}

func (w *deadlineWriter) start() {
	if !w.started {
		w.started = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.write))
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's ResponseWriter.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
