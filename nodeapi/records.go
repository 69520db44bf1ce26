package nodeapi

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

// Signed requests. Until the FHIR API brings bearer tokens, record and audit
// reads are authenticated by a signature of the requester's ledger key over
// the method, the request URI and a timestamp, sent in these headers.
const (
	HeaderPrincipal = "X-Carechain-Principal"
	HeaderDate      = "X-Carechain-Date" // unix seconds
	HeaderSignature = "X-Carechain-Signature"
	// maxClockSkew bounds how old (or early) a signed request may be.
	maxClockSkew = 5 * time.Minute
)

// RequestMessage is what a requester signs.
func RequestMessage(method, requestURI string, date int64) []byte {
	return fmt.Appendf(nil, "carechain-request/v1\n%s\n%s\n%d", method, requestURI, date)
}

// SignRequest adds the signature headers to r.
func SignRequest(r *http.Request, principal string, key ed25519.PrivateKey, now time.Time) {
	date := now.Unix()
	r.Header.Set(HeaderPrincipal, principal)
	r.Header.Set(HeaderDate, strconv.FormatInt(date, 10))
	r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(key, RequestMessage(r.Method, r.URL.RequestURI(), date))))
}

// authenticate returns the principal who signed r, or writes 401.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*carechain.Principal, bool) {
	id := r.Header.Get(HeaderPrincipal)
	date, err := strconv.ParseInt(r.Header.Get(HeaderDate), 10, 64)
	sig, serr := base64.StdEncoding.DecodeString(r.Header.Get(HeaderSignature))
	if id == "" || err != nil || serr != nil {
		s.fail(w, http.StatusUnauthorized, errors.New("sign the request: "+HeaderPrincipal+", "+HeaderDate+" and "+HeaderSignature+" headers are required"))
		return nil, false
	}
	if skew := time.Since(time.Unix(date, 0)); skew > maxClockSkew || skew < -maxClockSkew {
		s.fail(w, http.StatusUnauthorized, fmt.Errorf("request date is %v away from this node's clock", skew.Round(time.Second)))
		return nil, false
	}
	p, err := s.chain.App().Latest().Principal(id)
	if err != nil || p.Status != carechain.StatusActive || !tx.VerifySignature(p.PublicKey, RequestMessage(r.Method, r.URL.RequestURI(), date), sig) {
		s.fail(w, http.StatusUnauthorized, errors.New("request signature does not verify under an active key of "+id))
		return nil, false
	}
	return p, true
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
	rec, err := s.opts.Records.Read(r.Context(), p.ID, r.PathValue("id"), version, consent.Purpose(r.URL.Query().Get("purpose")))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RecordResponse{RecordVersion: rec.RecordVersion, Resource: rec.Resource})
}

func (s *server) recordHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	recs, err := s.opts.Records.History(r.Context(), p.ID, r.PathValue("id"), consent.Purpose(r.URL.Query().Get("purpose")))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	out := make([]RecordResponse, len(recs))
	for i, rec := range recs {
		out[i] = RecordResponse{RecordVersion: rec.RecordVersion, Resource: rec.Resource}
	}
	writeJSON(w, http.StatusOK, out)
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
