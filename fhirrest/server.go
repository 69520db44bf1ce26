// Package fhirrest is carechain's FHIR R4 (4.0.1) REST API: JSON over HTTP
// under /fhir, with SMART backend-services authentication (/auth/token) and
// the ledger's consent and access log applied to every request.
//
// Clinical resources are records (package records): a resource's id is its
// record ID, its versions are the record's versions, and every read is
// decided by the patient's consent state and written to their access log.
// Writes are signed with the requester's key, which this node keeps
// (records.Custodian). Search runs in memory over what the requester may
// read: no index with health data ever reaches disk.
package fhirrest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/replay"
)

// Options configure the FHIR API.
type Options struct {
	App       *ledger.App
	Records   *records.Service
	Custodian *records.Custodian
	// Keystore, if set, enables passphrase login (/auth/login) for users
	// whose keys it holds.
	Keystore *keystore.Store
	// SignIns is the node's passphrase sign-in, shared with its other
	// surfaces (the portal); nil: one of its own over Keystore.
	SignIns *records.SignIns
	// BaseURL is the public URL of /fhir, used in Location headers and as
	// the audience of client assertions, e.g. http://127.0.0.1:8080.
	BaseURL string
	Logger  *slog.Logger
	// TokenTTL is how long an access token lasts (default 15 minutes).
	TokenTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Codes, if set, are the App Launch authorization codes the portal's
	// /auth/authorize issues: the token endpoint then takes
	// grant_type=authorization_code and the SMART configuration names the
	// authorization endpoint (launch.go).
	Codes *launch.Codes
	// AllowedOrigins are the browser origins that may call the API (CORS,
	// cors.go): scheme://host[:port] each; none by default.
	AllowedOrigins []string
	// DeidSecret is the node's secret for per-study pseudonym keys
	// (deid.SecretFrom its node key); nil turns per-study pseudonyms
	// (StudyParam) off. Never logged.
	DeidSecret []byte
}

// MaxBody bounds request bodies: the largest request the ledger could store
// (a transaction Bundle is one transaction; see the root package's limits).
const MaxBody = carechain.MaxRequestBytes

type server struct {
	Options
	tokens     *tokens
	assertions *replay.Guard // seen client assertions (auth.go)
	exports    *exports
	reads      *http.ServeMux // the reads of a Bundle's GET entries (bundleread.go)
	routes     *http.ServeMux // the mux Register added the routes to (noRoute)
}

// Register adds /fhir and /auth routes to mux.
func Register(mux *http.ServeMux, opts Options) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SignIns == nil && opts.Keystore != nil {
		var keys *records.Keyring
		if opts.Records != nil {
			keys = opts.Records.Keys()
		}
		opts.SignIns = records.NewSignIns(opts.App, opts.Keystore, opts.Custodian, keys, runtime.GOMAXPROCS(0), opts.Logger)
	}
	s := &server{Options: opts, tokens: newTokens(), exports: &exports{jobs: map[string]*exportJob{}},
		assertions: replay.New(opts.Now(), maxAssertionsSeen)}
	s.reads, s.routes = s.bundleReads(), mux
	// What no route below serves is a 404 or 405 OperationOutcome, not the
	// mux's plain text (these patterns are the least specific under /fhir
	// and /auth, so they match only what nothing else does).
	handle := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, s.cors(s.negotiate(h))) }
	for _, p := range []string{"/fhir", "/fhir/", "/auth/"} {
		handle(p, s.noRoute)
		handle("OPTIONS "+p, s.preflight)
	}
	handle("POST /auth/token", s.token)
	handle("POST /auth/login", s.login)
	handle("GET /fhir/metadata", s.metadata)
	handle("GET /fhir/.well-known/smart-configuration", s.smartConfiguration)
	handle("POST /fhir", s.authed(s.transaction))
	handle("POST /fhir/{$}", s.authed(s.transaction))
	for _, op := range s.operations() {
		handle(op.route, s.authed(op.handler))
	}
	s.claimRoutes(handle)   // claims.go
	s.studyRoutes(handle)   // studies.go
	s.subjectRoutes(handle) // subjects.go
	handle("GET /fhir/$export-status/{job}", s.authed(s.exportStatus))
	handle("DELETE /fhir/$export-status/{job}", s.authed(s.exportCancel))
	handle("GET /fhir/$export", s.authed(s.exportKickoff))
	handle("GET /fhir/Patient/$export", s.authed(s.exportKickoff))
	handle("POST /fhir/Consent", s.authed(s.createConsent))
	handle("PUT /fhir/Consent/{id}", s.authed(s.updateConsent))
	handle("DELETE /fhir/Consent/{id}", s.authed(s.deleteConsent))
	handle("GET /fhir/$export-file/{job}", s.authed(s.exportFile))
	handle("GET /fhir/_history", s.authed(s.systemHistory))
	// Binary answers with raw content as well as FHIR JSON: not negotiated (binary.go).
	mux.HandleFunc("POST /fhir/Binary", s.cors(s.authed(s.createBinary)))
	mux.HandleFunc("GET /fhir/Binary/{id}", s.cors(s.authed(s.readBinary)))
	handle("GET /fhir/{type}", s.authed(s.search))
	handle("POST /fhir/{type}", s.authed(s.create))
	handle("GET /fhir/{type}/{id}", s.authed(s.read))
	handle("PUT /fhir/{type}/{id}", s.authed(s.update))
	handle("DELETE /fhir/{type}/{id}", s.authed(s.delete))
	handle("PATCH /fhir/{type}/{id}", s.authed(s.patch))
	handle("PUT /fhir/{type}", s.authed(s.conditionalUpdate))
	handle("POST /fhir/{type}/_search", s.authed(s.searchPost))
	handle("DELETE /fhir/{type}", s.authed(s.conditionalDelete))
	handle("GET /fhir/{type}/{id}/_history", s.authed(s.history))
	handle("GET /fhir/{type}/{id}/_history/{vid}", s.authed(s.vread))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json; fhirVersion=4.0")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeFHIRJSON is writeFHIR of body, JSON that json.Marshal made (so valid,
// compact and HTML-escaped): the same bytes, indented in one pass instead
// of validated and compacted again first.
func writeFHIRJSON(w http.ResponseWriter, status int, body []byte) {
	var buf bytes.Buffer
	buf.Grow(len(body) + len(body)/2)
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		writeFHIR(w, status, json.RawMessage(body)) // not what it should be: let the encoder say so
		return
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "application/fhir+json; fhirVersion=4.0")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// abs is the public URL of path on this server (path starts with "/").
func (s *server) abs(path string) string { return strings.TrimRight(s.BaseURL, "/") + path }

func notSupported(t string) error {
	return fmt.Errorf("resource type %q is not supported here (see /fhir/metadata)", t)
}

// typedBody is a client's JSON body read into a struct; resourceType is
// the FHIR type it says it is.
type typedBody interface{ resourceType() string }

// readTyped reads a body of at most limit bytes into v with
// fhirjson.Unmarshal (its input limits, no duplicate keys) and refuses one
// that is not of resource type typ, saying so with wrong.
func readTyped(w http.ResponseWriter, r *http.Request, limit int64, typ string, v typedBody, wrong string) error {
	b, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	if err := fhirjson.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the %s: %w", typ, err)
	}
	if v.resourceType() != typ {
		return &requestError{kind: carechain.KindMalformed, code: "structure", err: errors.New(wrong)}
	}
	return nil
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, carechain.E(carechain.KindTooLarge, fmt.Errorf("request body over %d bytes", limit))
	case err != nil:
		return nil, carechain.E(carechain.KindMalformed, fmt.Errorf("reading the request body: %w", err))
	}
	return b, nil
}
