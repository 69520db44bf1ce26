// Package nodeapi is the node's own JSON API: the server side (/v1/…,
// /healthz and Prometheus /metrics) and the client the CLI uses (Client).
// One listener per node carries it beside the FHIR API (package fhirrest).
// Each request reads one ledger snapshot (a ledger.View); errors become
// statuses by their kind (carechain.ErrorKind), in queryFail.
//
// Handlers never log request bodies: they may carry health data.
package nodeapi

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/carechain/carechain"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/replay"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Chain is the node as the API sees it.
type Chain interface {
	// Submit broadcasts a signed transaction and waits for its outcome.
	Submit(ctx context.Context, raw []byte) (ledger.Outcome, error)
	// Syncing reports whether the node is still catching up.
	Syncing() bool
	// App is the ledger, for queries.
	App() *ledger.App
	// Pending says how many transactions wait in the mempool, and for how
	// long without a new block.
	Pending() (txs int, waiting time.Duration)
	// Peers lists the node IDs of the connected peers.
	Peers() []string
}

// Options configure the handler.
type Options struct {
	Logger  *slog.Logger        // nil: discard
	Metrics prometheus.Gatherer // nil: no /metrics
	// SubmitTimeout bounds how long POST /v1/txs waits for a commit
	// (DefaultSubmitTimeout if zero).
	SubmitTimeout time.Duration
	// StallTimeout is how long transactions may wait in the mempool without
	// a new block before /healthz answers 503 (DefaultStallTimeout if zero).
	StallTimeout time.Duration
	// Records, if set, serves encrypted records and access logs (/v1/records, /v1/audit).
	Records *records.Service
	// Custodian, if set, holds the signing keys this node keeps for its
	// staff: an EPCIS capture (POST /v1/supply/epcis/capture) is submitted
	// as its caller with one of them.
	Custodian *records.Custodian
	// Proofs, if set, serves proofs, validators and checkpoints (/v1/proofs, /v1/validators, /v1/checkpoint);
	// proofs of entries (/v1/proofs/{kind}/…) need Records too, which decides who may see them.
	Proofs Prover
	// Certs, if set, is the TLS listener's certificate: /metrics gives its expiry.
	Certs *CertReloader
	// NodeID is this node's CometBFT node ID, given in /v1/status: signed
	// requests must name it (HeaderNode). Empty refuses every signed request.
	NodeID string
	// StatePage is the most keys one GET /v1/state scan answers with
	// (defaultStatePage if zero); the client asks for the rest page by page.
	StatePage int
	// Backup, if set, serves backup snapshots to the node's operator
	// (POST /v1/admin/backup), whose requests NodeKey verifies.
	Backup  Backup
	NodeKey ed25519.PublicKey
}

type server struct {
	chain  Chain
	log    *slog.Logger
	opts   Options
	nonces *replay.Guard // of signed requests (records.go)
}

// NewHandler returns the node's HTTP handler.
func NewHandler(chain Chain, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SubmitTimeout == 0 {
		opts.SubmitTimeout = DefaultSubmitTimeout
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	if opts.StatePage <= 0 {
		opts.StatePage = defaultStatePage
	}
	s := &server{chain: chain, log: opts.Logger, opts: opts, nonces: replay.New(time.Now(), maxNoncesSeen)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	reg := prometheus.NewRegistry() // the API's own series, served with opts.Metrics
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", s.metricsHandler(reg))
	}
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("POST /v1/txs", s.submit)
	mux.HandleFunc("GET /v1/txs/{hash}", s.txStatus)
	mux.HandleFunc("GET /v1/commits/{height}", s.commit)
	mux.HandleFunc("GET /v1/organizations", s.organizations)
	mux.HandleFunc("GET /v1/organizations/{org}/role-policy", s.rolePolicy)
	mux.HandleFunc("GET /v1/governance", s.governance)
	mux.HandleFunc("GET /v1/governance/proposals/{id}", s.govProposal)
	mux.HandleFunc("GET /v1/principals", s.principals)
	mux.HandleFunc("GET /v1/principals/{id...}", s.principal)
	mux.HandleFunc("GET /v1/clients/{id...}", s.client)
	mux.HandleFunc("GET /v1/proposals", s.proposals)
	mux.HandleFunc("GET /v1/proposals/{id}", s.proposal)
	mux.HandleFunc("GET /v1/proposals/{id}/content", s.proposalContent)
	mux.HandleFunc("GET /v1/state", s.state)
	mux.HandleFunc("GET /v1/credentials", s.credentials) // credentials.go
	mux.HandleFunc("GET /v1/credentials/{id}", s.credential)
	mux.HandleFunc("GET /v1/credentials/{id}/status", s.credentialStatus)
	if opts.Backup != nil {
		mux.HandleFunc("POST /v1/admin/backup", s.backup)
	}
	if opts.Proofs != nil {
		mux.HandleFunc("GET /v1/proofs/consistency", s.proveConsistency)
		mux.HandleFunc("GET /v1/validators", s.validators)
		mux.HandleFunc("GET /v1/validators/history", s.validatorHistory)
		mux.HandleFunc("GET /v1/checkpoint", s.checkpoint)
	}
	if opts.Proofs != nil && opts.Records != nil { // Records decides who may see an entry
		mux.HandleFunc("GET /v1/proofs/{kind}/{key...}", s.proveEntry)
		mux.HandleFunc("POST /v1/supply/proof", s.supplyProof) // supply.go
	}
	if opts.Records != nil {
		mux.HandleFunc("GET /v1/records", s.listRecords)
		mux.HandleFunc("GET /v1/records/{id}", s.readRecord)
		mux.HandleFunc("GET /v1/records/{id}/history", s.recordHistory)
		mux.HandleFunc("GET /v1/audit", s.auditLog)
		mux.HandleFunc("GET /v1/blobs/{hash}", s.sealedBlob)              // blobs.go
		mux.HandleFunc("GET /v1/supply/products/{gtin}", s.supplyProduct) // supply.go
		mux.HandleFunc("POST /v1/supply/commitments", s.supplyCommitments)
		mux.HandleFunc("POST /v1/supply/verify", s.supplyVerify)
		mux.HandleFunc("POST /v1/supply/custody-keys", s.supplyCustodyKey) // supplytransfer.go
		mux.HandleFunc("POST /v1/supply/transfers", s.supplyTransfer)
		mux.HandleFunc("GET /v1/supply/stock", s.supplyStock)
		mux.HandleFunc("POST /v1/supply/journal", s.supplyJournal) // supplyepcis.go
		mux.HandleFunc("POST /v1/supply/epcis/capture", s.epcisCapture)
		mux.HandleFunc("GET /v1/supply/epcis/events", s.epcisEvents)
		mux.HandleFunc("GET /v1/studies/{id}", s.studyRead)                     // studies.go
		mux.HandleFunc("GET /v1/studies/{id}/consent", s.studyConsentRead)      // studies.go
		mux.HandleFunc("GET /v1/studies/{id}/subjects/{n}", s.studySubjectRead) // studies.go
	}
	return instrument(mux, reg)
}

// Status is the body of GET /v1/status, and part of /healthz and /readyz.
type Status struct {
	ChainID string `json:"chain_id"`
	Height  int64  `json:"height"`
	AppHash string `json:"app_hash"`
	Syncing bool   `json:"syncing"`
	// NodeID is the node's CometBFT node ID, which signed requests name.
	NodeID string `json:"node_id,omitempty"`
	// NodePrincipal is the principal this node serves records as (empty
	// while its records API is off).
	NodePrincipal string `json:"node_principal,omitempty"`
	// Peers are the node IDs of the connected peers.
	Peers []string `json:"peers,omitempty"`
	// PBTSHeight is the height from which blocks carry their proposer's
	// time (proposer-based timestamps); 0: the chain uses BFT time.
	PBTSHeight int64 `json:"pbts_height,omitempty"`
}

func (s *server) currentStatus() (Status, error) {
	c, err := s.chain.App().LastCommit()
	if err != nil {
		return Status{}, err
	}
	st := Status{ChainID: s.chain.App().ChainID(), Height: c.Height, AppHash: hex.EncodeToString(c.AppHash), Syncing: s.chain.Syncing(), NodeID: s.opts.NodeID,
		Peers: s.chain.Peers()}
	if s.opts.Records != nil {
		st.NodePrincipal = s.opts.Records.Node()
	}
	if st.PBTSHeight, err = s.chain.App().Latest().PBTSHeight(); err != nil {
		return Status{}, err
	}
	return st, nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.currentStatus()
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// TxResponse is the body of POST /v1/txs.
type TxResponse struct {
	Hash string `json:"hash"`
	ledger.Outcome
	Reason string `json:"reason"` // the code's name
}

func (s *server) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, tx.MaxTxBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("transaction over %d bytes", tx.MaxTxBytes))
		return
	}
	if err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SubmitTimeout)
	defer cancel()
	out, err := s.chain.Submit(ctx, body)
	switch k := carechain.KindOf(err); {
	case err != nil && r.Context().Err() != nil:
		// The client hung up while waiting: no one to answer, and nothing
		// failed here (the transaction may still commit).
		s.log.Debug("client left before its transaction committed", "err", err)
		return
	case errors.Is(err, context.DeadlineExceeded):
		s.fail(w, http.StatusGatewayTimeout, fmt.Errorf("no commit within %v; the transaction may still commit: %w", s.opts.SubmitTimeout, err))
		return
	case err != nil:
		if k == carechain.KindUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, k.Status(), err) // a duplicate is a conflict, a busy node unavailable
		return
	}
	// A judged transaction is answered with its outcome; any rejection is
	// 422, whatever its code, because the request itself was well formed.
	code := http.StatusOK
	if !out.Accepted() {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, TxResponse{Hash: hex.EncodeToString(out.Hash[:]), Outcome: out, Reason: out.Code.String()})
}

func (s *server) txStatus(w http.ResponseWriter, r *http.Request) {
	b, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(b) != 32 {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("tx hash must be 64 hex digits"))
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	st, err := v.Tx([32]byte(b))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// CommitInfo is the body of GET /v1/commits/{height}: the app hash the ledger
// committed after that block.
type CommitInfo struct {
	Height  int64  `json:"height"`
	AppHash string `json:"app_hash"`
}

func (s *server) commit(w http.ResponseWriter, r *http.Request) {
	h, err := strconv.ParseInt(r.PathValue("height"), 10, 64)
	if err != nil || h < 1 {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("height must be a positive integer"))
		return
	}
	hash, err := s.chain.App().AppHash(h)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, http.StatusNotFound, fmt.Errorf("no commit at height %d", h))
		return
	}
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, CommitInfo{Height: h, AppHash: hex.EncodeToString(hash)})
}

func (s *server) organizations(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	orgs, err := v.Organizations()
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(orgs))
}

// Patients' identities (pseudonym, registering organization, keys) are
// served only to signed requests of staff, admins and nodes, and to the
// patient: to an anonymous caller or another patient, a patient is absent.
// Staff, admins and nodes are public: they sign the ledger's history.

// mayListPatients reports whether caller (nil: anonymous) sees patient
// principals.
func mayListPatients(caller *carechain.Principal) bool {
	return caller != nil && caller.Kind != carechain.KindPatient
}

func (s *server) principals(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	ps, err := v.Principals(r.URL.Query().Get("org"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	if !mayListPatients(caller) {
		ps = slices.DeleteFunc(ps, func(p carechain.Principal) bool {
			return p.Kind == carechain.KindPatient && (caller == nil || p.ID != caller.ID)
		})
	}
	writeJSON(w, http.StatusOK, nonNil(ps))
}

// PrincipalResponse is the body of GET /v1/principals/{id}.
type PrincipalResponse struct {
	Principal any    `json:"principal"`
	Height    int64  `json:"height"`     // the height the answer is as of
	NextNonce uint64 `json:"next_nonce"` // as of the last commit
}

func (s *server) principal(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	p, err := v.Principal(id)
	if err == nil && p.Kind == carechain.KindPatient && !mayListPatients(caller) && (caller == nil || caller.ID != id) {
		// the answer View.Principal gives for one that does not exist
		err = fmt.Errorf("principal %q at height %d: %w", id, v.Height(), ledger.ErrNotFound)
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	next, err := s.chain.App().Latest().NextNonce(id) // the nonce is always as of the last commit
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, PrincipalResponse{Principal: p, Height: v.Height(), NextNonce: next})
}

// optionalCaller is the principal who signed r, or nil if r is unsigned;
// a request with a bad signature is answered 401 (false).
func (s *server) optionalCaller(w http.ResponseWriter, r *http.Request) (*carechain.Principal, bool) {
	if r.Header.Get(HeaderPrincipal) == "" && r.Header.Get(HeaderSignature) == "" {
		return nil, true
	}
	return s.authenticate(w, r)
}

// view opens the state a request reads: at ?height, or the last committed.
// Every query of one request goes to this one snapshot.
func (s *server) view(w http.ResponseWriter, r *http.Request) (*ledger.View, bool) {
	var h int64
	if q := r.URL.Query().Get("height"); q != "" {
		var err error
		if h, err = strconv.ParseInt(q, 10, 64); err != nil || h < 1 {
			s.fail(w, http.StatusBadRequest, fmt.Errorf("height must be a positive integer"))
			return nil, false
		}
	}
	v, err := s.chain.App().View(h)
	if err != nil {
		s.queryFail(w, err)
		return nil, false
	}
	return v, true
}

// queryFail answers a failed query or read with the status its error means.
// This is the one place errors become HTTP statuses.
func (s *server) queryFail(w http.ResponseWriter, err error) {
	s.fail(w, carechain.KindOf(err).Status(), err)
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

func (s *server) fail(w http.ResponseWriter, code int, err error) {
	if code >= 500 {
		s.log.Error("request failed", "status", code, "err", err)
	}
	writeJSON(w, code, Error{Error: err.Error()})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
