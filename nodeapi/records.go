package nodeapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// Signed requests. Until the FHIR API brings bearer tokens, record and audit
// reads are authenticated by a signature of the requester's ledger key over
// RequestMessage: the node the request is for, the method, the request URI,
// the time and a random nonce, sent in these headers. The node refuses a
// request signed for another node, dated more than maxClockSkew ago or more
// than replay.MaxAhead ahead, or whose nonce it has seen. Nonces are kept
// in memory (replay.Guard) until the date leaves the window; a restart
// forgets them, so a node refuses requests dated before it started.
const (
	HeaderPrincipal = "X-Carechain-Principal"
	HeaderNode      = "X-Carechain-Node"  // the CometBFT node ID, as /v1/status gives it
	HeaderDate      = "X-Carechain-Date"  // RFC 3339, e.g. 2026-12-02T03:40:00.123456Z
	HeaderNonce     = "X-Carechain-Nonce" // random, 16 to 64 characters of [A-Za-z0-9_-]
	HeaderSignature = "X-Carechain-Signature"
	// maxClockSkew bounds how old a signed request may be.
	maxClockSkew = 5 * time.Minute
	// maxNoncesSeen bounds the nonce cache; when it is full, the oldest
	// nonces are forgotten and requests dated before them refused.
	maxNoncesSeen = 1 << 17
)

var validNonce = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// RequestMessage is what a requester signs.
func RequestMessage(node, method, requestURI, date, nonce string) []byte {
	return fmt.Appendf(nil, "carechain-request/v2\n%s\n%s\n%s\n%s\n%s", node, method, requestURI, date, nonce)
}

// SignRequest adds the signature headers to r, for the node whose
// CometBFT node ID is node.
func SignRequest(r *http.Request, principal string, key ed25519.PrivateKey, node string, now time.Time) {
	date := now.UTC().Format(time.RFC3339Nano)
	b := make([]byte, 16)
	rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	r.Header.Set(HeaderPrincipal, principal)
	r.Header.Set(HeaderNode, node)
	r.Header.Set(HeaderDate, date)
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(key, RequestMessage(node, r.Method, r.URL.RequestURI(), date, nonce))))
}

// authenticate returns the principal who signed r, or writes 401.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*carechain.Principal, bool) {
	p, err := s.verifyRequest(r, time.Now())
	if err != nil {
		s.fail(w, http.StatusUnauthorized, err)
		return nil, false
	}
	return p, true
}

// verifyRequest checks r's signature headers and returns its signer.
func (s *server) verifyRequest(r *http.Request, now time.Time) (*carechain.Principal, error) {
	sr, err := s.readSigned(r, now)
	if err != nil {
		return nil, err
	}
	p, err := s.chain.App().Latest().Principal(sr.id)
	if err != nil || p.Status != carechain.StatusActive || !tx.VerifySignature(p.PublicKey, sr.message, sr.sig) {
		return nil, errors.New("request signature does not verify under an active key of " + sr.id)
	}
	if err := s.useNonce(sr, now); err != nil {
		return nil, err
	}
	return p, nil
}

// signedRequest is what a signed request's headers say.
type signedRequest struct {
	id, nonce string
	date      time.Time
	message   []byte // what the signature is over
	sig       []byte
}

// readSigned checks the form of r's signature headers, that they name this
// node and that the request is recent; the caller checks the signature.
func (s *server) readSigned(r *http.Request, now time.Time) (signedRequest, error) {
	h := r.Header
	id, node, dateText, nonce := h.Get(HeaderPrincipal), h.Get(HeaderNode), h.Get(HeaderDate), h.Get(HeaderNonce)
	sig, serr := base64.StdEncoding.DecodeString(h.Get(HeaderSignature))
	if id == "" || node == "" || dateText == "" || nonce == "" || serr != nil || len(sig) == 0 {
		return signedRequest{}, errors.New("sign the request: " + HeaderPrincipal + ", " + HeaderNode + ", " + HeaderDate + ", " +
			HeaderNonce + " and " + HeaderSignature + " headers are required (see nodeapi.SignRequest)")
	}
	if !validNonce.MatchString(nonce) {
		return signedRequest{}, errors.New(HeaderNonce + " must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -")
	}
	if s.opts.NodeID == "" || node != s.opts.NodeID {
		return signedRequest{}, fmt.Errorf("the request is signed for node %q, and this is node %q (see /v1/status)", node, s.opts.NodeID)
	}
	date, err := time.Parse(time.RFC3339Nano, dateText)
	if err != nil {
		return signedRequest{}, fmt.Errorf("%s %q is not an RFC 3339 time", HeaderDate, dateText)
	}
	if age := now.Sub(date); age > maxClockSkew {
		return signedRequest{}, fmt.Errorf("the request is dated %v ago (at most %v allowed by this node's clock)", age.Round(time.Second), maxClockSkew)
	}
	return signedRequest{id: id, nonce: nonce, date: date, sig: sig,
		message: RequestMessage(node, r.Method, r.URL.RequestURI(), dateText, nonce)}, nil
}

// useNonce records a verified request's nonce, refusing one seen before.
func (s *server) useNonce(sr signedRequest, now time.Time) error {
	if err := s.nonces.Use(sr.id+"\x00"+sr.nonce, sr.date, sr.date.Add(maxClockSkew), now); err != nil {
		return fmt.Errorf("request nonce %s: %w", sr.nonce, err)
	}
	return nil
}

// refuseResearch refuses, with 403, a read for research (a researcher, or
// purpose research): this API answers records as they are stored,
// identified, while research reads go through the FHIR API, which
// de-identifies them unless the patient's grant says otherwise
// (fhirrest/deid.go). It reports whether it refused.
func (s *server) refuseResearch(w http.ResponseWriter, p *carechain.Principal, r *http.Request) bool {
	if consent.Purpose(r.URL.Query().Get("purpose")) != consent.PurposeResearch && !p.HasRole(carechain.RoleResearcher) {
		return false
	}
	s.fail(w, http.StatusForbidden, errors.New("research reads go through the FHIR API (/fhir, de-identified; ?_study=<id> for a study's pseudonyms): this API answers records identified"))
	return true
}

// RecordResponse is a decrypted record version.
type RecordResponse struct {
	carechain.RecordVersion
	Resource json.RawMessage `json:"resource"`
}

func (s *server) readRecord(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var version uint64
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			s.fail(w, http.StatusBadRequest, errors.New("version must be a positive integer"))
			return
		}
		version = n
	}
	if s.refuseResearch(w, p, r) {
		return
	}
	rec, err := s.opts.Records.Read(r.Context(), p.ID, r.PathValue("id"), version, consent.Purpose(r.URL.Query().Get("purpose")))
	if err != nil {
		s.recordFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RecordResponse{RecordVersion: rec.RecordVersion, Resource: rec.Resource})
}

func (s *server) recordHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if s.refuseResearch(w, p, r) {
		return
	}
	recs, err := s.opts.Records.History(r.Context(), p.ID, r.PathValue("id"), consent.Purpose(r.URL.Query().Get("purpose")))
	if err != nil {
		s.recordFail(w, err)
		return
	}
	out := make([]RecordResponse, len(recs))
	for i, rec := range recs {
		out[i] = RecordResponse{RecordVersion: rec.RecordVersion, Resource: rec.Resource}
	}
	writeJSON(w, http.StatusOK, out)
}

// errRecordNotFound is the one answer for a record that does not exist and
// one the caller may not read: a refusal tells the caller nothing of the
// record. Its reason goes to the patient's access log.
var errRecordNotFound = carechain.NewError(carechain.KindNotFound, "record not found (absent, or not readable by this caller; a refusal's reason is in the patient's access log)")

// recordFail answers a failed record read.
func (s *server) recordFail(w http.ResponseWriter, err error) {
	var denied *records.DeniedError
	if errors.As(err, &denied) || carechain.KindOf(err) == carechain.KindNotFound {
		err = errRecordNotFound
	}
	s.queryFail(w, err)
}

func (s *server) listRecords(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	patient := r.URL.Query().Get("patient")
	if patient == "" {
		s.fail(w, http.StatusBadRequest, errors.New("patient is required"))
		return
	}
	heads, err := s.opts.Records.List(r.Context(), p.ID, patient, consent.Purpose(r.URL.Query().Get("purpose")))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(heads))
}

// auditLog serves a patient's access log, decrypted with the patient's
// custodial key on this node, to the patient only.
func (s *server) auditLog(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	patient := r.URL.Query().Get("patient")
	if patient != p.ID {
		s.fail(w, http.StatusForbidden, errors.New("only the patient reads their access log"))
		return
	}
	events, err := s.opts.Records.AuditLog(patient)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(events))
}
