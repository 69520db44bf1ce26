package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tlog"
)

// Prover is the node as the proof endpoints need it.
type Prover interface {
	// ProveTrusting and ProveConsistencyTrusting add the validator
	// transitions from the set in force at trustedHeight (0: the first block).
	ProveTrusting(ctx context.Context, trustedHeight int64, kind, key string) (*proof.Bundle, error)
	ProveConsistencyTrusting(ctx context.Context, trustedHeight, from, to int64) (*proof.Consistency, error)
	// CheckpointView is the newest signed checkpoint, with the validator
	// transitions from the set in force at trustedHeight, and a view of the
	// state it commits to; it waits up to wait for one that commits to the
	// latest state.
	CheckpointView(ctx context.Context, trustedHeight int64, wait time.Duration) (proof.Checkpoint, *ledger.View, error)
	Validators(ctx context.Context) ([]byte, error)
	ValidatorHistory(ctx context.Context) ([]byte, error)
	SignedCheckpoint(ctx context.Context) ([]byte, error)
	NoteVerifierKey() (string, error)
}

// proofKinds maps URL kinds to log kinds. An access event's proof is the
// proof of its audit leaf.
var proofKinds = map[string]string{
	"record": tlog.KindRecord, "consent": tlog.KindConsent, "access": tlog.KindAudit, "identity": tlog.KindIdentity,
	"orgrecord": tlog.KindOrgRecord,
}

// errNoEntry is the one answer for a log entry that is absent and for one
// the requester may not see (records.MayProve), so it tells them nothing.
var errNoEntry = errors.New("no such log entry, or not yours to see: proofs of records, consents and access events " +
	"go to the patient, to those who may read the record, and to auditors, in signed requests")

// proveEntry serves the proof of one log entry to those records.MayProve
// allows. An unsigned request is anonymous: it gets what an absent entry
// gets, except for identity entries, which are public.
func (s *server) proveEntry(w http.ResponseWriter, r *http.Request) {
	kind, ok := proofKinds[r.PathValue("kind")]
	if !ok {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("kind must be record, consent, access, identity or orgrecord"))
		return
	}
	trusted, ok := s.trustedHeight(w, r)
	if !ok {
		return
	}
	var version uint64
	if v := r.URL.Query().Get("version"); v != "" && kind == tlog.KindRecord {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			s.fail(w, http.StatusBadRequest, errors.New("version must be a positive integer"))
			return
		}
		version = n
	}
	q := records.ProofRequest{Source: r.RemoteAddr, Kind: kind, Key: r.PathValue("key"), Purpose: consent.Purpose(r.URL.Query().Get("purpose"))}
	if q.Purpose == "" {
		q.Purpose = consent.PurposeTreatment
	}
	caller, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	if caller != nil {
		q.Requester = caller.ID
	} else if kind == tlog.KindOrgRecord { // members' reading, as through /fhir: not an anonymous one's
		s.proofFail(w, records.ErrNotVisible)
		return
	}
	if kind == tlog.KindRecord {
		if version == 0 {
			head, err := s.chain.App().Latest().Record(q.Key)
			if err != nil {
				s.proofFail(w, err)
				return
			}
			version = head.Latest
		}
		q.Key = ledger.RecordLogKey(q.Key, version)
	}
	if err := s.opts.Records.MayProve(r.Context(), q); err != nil {
		s.proofFail(w, err)
		return
	}
	b, err := s.opts.Proofs.ProveTrusting(r.Context(), trusted, kind, q.Key)
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
	trusted, ok := s.trustedHeight(w, r)
	if !ok {
		return
	}
	c, err := s.opts.Proofs.ProveConsistencyTrusting(r.Context(), trusted, from, to)
	if err != nil {
		s.proofFail(w, err)
		return
	}
	s.writeProof(w, c)
}

// trustedHeight reads the trusted_height parameter of a proof request: the
// height at which the verifier's trusted validator set was in force (absent:
// the first block). The proof carries the validator changes since then.
func (s *server) trustedHeight(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("trusted_height")
	if v == "" {
		return 0, true
	}
	h, err := strconv.ParseInt(v, 10, 64)
	if err != nil || h < 1 {
		s.fail(w, http.StatusBadRequest, errors.New("trusted_height must be a positive block height"))
		return 0, false
	}
	return h, true
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

// validators serves the current validator set, the trust anchor format
// proof.ParseValidators reads.
func (s *server) validators(w http.ResponseWriter, r *http.Request) {
	s.writeValidators(w, r, s.opts.Proofs.Validators)
}

// validatorHistory serves every validator set the node's blocks record and
// what changed at each (a list of node.ValidatorEpoch).
func (s *server) validatorHistory(w http.ResponseWriter, r *http.Request) {
	s.writeValidators(w, r, s.opts.Proofs.ValidatorHistory)
}

func (s *server) writeValidators(w http.ResponseWriter, r *http.Request, get func(context.Context) ([]byte, error)) {
	b, err := get(r.Context())
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
	if carechain.KindOf(err) == carechain.KindNotFound {
		s.fail(w, http.StatusNotFound, errNoEntry)
		return
	}
	s.fail(w, http.StatusServiceUnavailable, err) // mostly: not yet under a signed checkpoint
}
