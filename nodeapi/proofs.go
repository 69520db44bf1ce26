package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/tlog"
)

// Prover is the node as the proof endpoints need it.
type Prover interface {
	Prove(ctx context.Context, kind, key string) (*proof.Bundle, error)
	ProveConsistency(ctx context.Context, from, to int64) (*proof.Consistency, error)
	Validators(ctx context.Context) ([]byte, error)
	SignedCheckpoint(ctx context.Context) ([]byte, error)
	NoteVerifierKey() (string, error)
}

// proofKinds maps URL kinds to log kinds. An access event's proof is the
// proof of its audit leaf.
var proofKinds = map[string]string{
	"record": tlog.KindRecord, "consent": tlog.KindConsent, "access": tlog.KindAudit, "identity": tlog.KindIdentity,
}

func (s *server) proveEntry(w http.ResponseWriter, r *http.Request) {
	kind, ok := proofKinds[r.PathValue("kind")]
	if !ok {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("kind must be record, consent, access or identity"))
		return
	}
	key := r.PathValue("key")
	if kind == tlog.KindRecord {
		v := r.URL.Query().Get("version")
		version, err := strconv.ParseUint(v, 10, 64)
		if v == "" {
			head, herr := s.chain.App().Latest().Record(key)
			if herr != nil {
				s.queryFail(w, herr)
				return
			}
			version, err = head.Latest, nil
		}
		if err != nil || version == 0 {
			s.fail(w, http.StatusBadRequest, errors.New("version must be a positive integer"))
			return
		}
		key = ledger.RecordLogKey(key, version)
	}
	b, err := s.opts.Proofs.Prove(r.Context(), kind, key)
	if err != nil {
		s.proofFail(w, err)
		return
	}
	s.writeProof(w, b)
}

func (s *server) proveConsistency(w http.ResponseWriter, r *http.Request) {
	from, err1 := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
	if err1 != nil || err2 != nil || from < 1 || to < from {
		s.fail(w, http.StatusBadRequest, errors.New("from and to must be heights with 1 <= from <= to"))
		return
	}
	c, err := s.opts.Proofs.ProveConsistency(r.Context(), from, to)
	if err != nil {
		s.proofFail(w, err)
		return
	}
	s.writeProof(w, c)
}

func (s *server) writeProof(w http.ResponseWriter, v any) {
	b, err := proof.Encode(v)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *server) validators(w http.ResponseWriter, r *http.Request) {
	b, err := s.opts.Proofs.Validators(r.Context())
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// checkpoint serves the newest checkpoint as a C2SP signed note.
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	b, err := s.opts.Proofs.SignedCheckpoint(r.Context())
	if err != nil {
		s.proofFail(w, err)
		return
	}
	vkey, err := s.opts.Proofs.NoteVerifierKey()
	if err == nil {
		w.Header().Set("X-Carechain-Note-Verifier", vkey)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

func (s *server) proofFail(w http.ResponseWriter, err error) {
	if errors.Is(err, ledger.ErrNotFound) {
		s.fail(w, http.StatusNotFound, err)
		return
	}
	s.fail(w, http.StatusServiceUnavailable, err) // mostly: not yet under a signed checkpoint
}
