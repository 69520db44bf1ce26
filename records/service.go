// Package records writes, shares and reads encrypted patient records on a
// carechain node, and keeps the patient's access log.
//
// A Service runs beside a node. Writers' resources are validated against the
// FHIR R4 schema, canonicalized, sealed (package seal) and submitted as
// record.put transactions; the plaintext never leaves memory. Patients'
// consent grants and revocations carry the key wraps the ledger requires.
//
// Every call reads one snapshot of the ledger (a ledger.View at the last
// committed height), so what it checks and what it builds agree; the ledger
// checks again when the transaction commits, and a call whose snapshot went
// stale gets a typed rejection (ledger.CodeStaleEpoch, CodeStaleVersion) that
// it retries or reports.
//
// Reads decrypt a version only when the ledger's consent state allows it,
// using a key this node holds for the requester (its organization's key, or
// a patient's custodial key) from the Keyring. Every read attempt, allowed or
// denied, becomes an access event; events are sealed to the patient and
// anchored on the ledger in batches (audit.anchor) by RunAnchors, so the
// patient sees accesses made through any node (AuditLog).
//
// Errors carry a kind (carechain.KindOf): a refused read is a *DeniedError
// (KindPermission), a ledger rejection a *ledger.Rejection (errors.Is
// ErrRejected), a request refused before any transaction is built wraps
// ErrInvalid.
package records

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// Chain is the ledger as the service needs it: a node, or a client reading
// a node's state over its API (cmd/carechain runs the service on a
// patient's device that way, so their keys never leave it).
type Chain interface {
	// Latest is the state as of the last committed height.
	Latest() *ledger.View
	// Broadcast returns CheckTx's verdict and a function that waits for the commit.
	Broadcast(ctx context.Context, raw []byte) (ledger.Outcome, func(context.Context) (ledger.Outcome, error), error)
}

// Signer is a principal with its signing key.
type Signer struct {
	ID  string
	Key ed25519.PrivateKey
}

// ErrRejected matches every ledger rejection of a transaction the service
// built; errors.As with *ledger.Rejection gives its code.
var ErrRejected = ledger.ErrRejected

// ErrInvalid wraps a request the service refuses before building a
// transaction: an unknown patient, a reader without an encryption key.
var ErrInvalid = carechain.NewError(carechain.KindInvalid, "invalid request")

// ErrPrecondition is returned when a write's If-Match version is no longer
// the record's latest.
var ErrPrecondition = carechain.NewError(carechain.KindPrecondition, "precondition failed")

// DeniedError is a read the consent state does not allow, or that this node
// cannot decrypt. Reason says why, for the requester and the access log.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return "access denied: " + e.Reason }

// ErrorKind implements carechain.Kinded.
func (e *DeniedError) ErrorKind() carechain.ErrorKind { return carechain.KindPermission }

// Options configure a Service.
type Options struct {
	Node   string       // this node's name, recorded in access events (carechain start: its node principal)
	Logger *slog.Logger // nil: discard. Health data is never logged.
	Now    func() time.Time
	// Journal keeps access events on disk until they are anchored (see
	// journal.go); nil keeps them in memory only (tests, benchmarks).
	Journal *store.Queue
	// MaxLag is how long the oldest event may wait to be anchored before
	// reads of health data stop (DefaultMaxLag if zero).
	MaxLag time.Duration
	// Index is the node's blind search index (index.go); nil: no search
	// across patients.
	Index *store.Index
	// Blobs is the node's store of sealed Binary contents (blobs.go); nil:
	// no Binary content is taken or served.
	Blobs *store.Blobs
	// BlobPeers fetches the blobs this node lacks from other nodes; nil:
	// only this node's copies are served.
	BlobPeers BlobSource
	// SupplyJournal keeps the node's organizations' supply events, sealed
	// (supplyjournal.go); nil keeps them in memory only (tests).
	SupplyJournal *store.Queue
	// Bypass, switched off (only in a build with -tags notrust: package
	// trust), writes records unencrypted and unsigned and records no access
	// events. For package bench's cost-of-trust row.
	Bypass trust.Bypass
}

// Service is the records service of one node.
type Service struct {
	chain     Chain
	keys      *Keyring
	validator *fhirjson.Validator
	evaluator *consent.Evaluator
	node      string
	log       *slog.Logger
	now       func() time.Time

	mu      sync.Mutex
	signers map[string]*signerState
	// epochLocks serialize the starting of epochs per patient and category.
	epochLocks map[string]*sync.Mutex
	pending    []queued // sealed events not yet anchored, oldest first
	journal    *store.Queue
	maxLag     time.Duration
	seq        uint64
	epochKeys  map[epochRef]seal.EpochKey // unwrapped epoch keys, memory only
	refusals   map[refusalKey]*refusal    // open windows of repeated refusals
	anchoring  anchorStats                // for metrics (metrics.go)
	index      *store.Index               // blind search index (index.go), or nil
	blobs      *store.Blobs               // sealed Binary contents (blobs.go), or nil
	dispenses  dispenseGuard              // units between their move and their record (dispenseguard.go)
	blobPeers  BlobSource                 // other nodes' blobs, or nil
	// supplyJournal keeps the organizations' supply events (supplyjournal.go).
	supplyJournal supplyJournal
	// custody indexes the journal's custody notes and the shipments tried
	// (supplycustodyindex.go).
	custody custodyIndex
	// indexMu serializes index writes; indexedAt holds, while RunIndex
	// follows the chain, the height at which a call of this service
	// indexed a record ("record:" ID) or patient ("patient:" ID).
	indexMu   sync.Mutex
	indexedAt map[string]int64
	// charging serializes charge capture (charges.go), so two captures of
	// one encounter through this node cannot both charge a service.
	charging sync.Mutex

	// Reads of state an access decision needs, kept per height.
	grants     *heightMemo[ledger.Grants]
	policies   *heightMemo[*consent.RolePolicy]
	principals *heightMemo[*carechain.Principal] // shared: never modify one
	// auditKeys seal access events (auditkeys.go).
	auditKeys *auditKeys
	// productKeys are opened supply product keys, memory only (supplykeys.go).
	productKeys productKeyCache
	bypass      trust.Bypass // Options.Bypass (bypass.go)
}

type epochRef struct {
	patient, category string
	epoch             uint32
}

// New returns a service for chain using keys.
func New(chain Chain, keys *Keyring, opts Options) (*Service, error) {
	v, err := fhirjson.NewValidator()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Node == "" {
		opts.Node = "node"
	}
	if opts.MaxLag == 0 {
		opts.MaxLag = DefaultMaxLag
	}
	s := &Service{
		chain: chain, keys: keys, validator: v, evaluator: consent.NewEvaluator(256),
		node: opts.Node, log: opts.Logger, now: opts.Now, epochKeys: make(map[epochRef]seal.EpochKey),
		signers: make(map[string]*signerState), epochLocks: make(map[string]*sync.Mutex),
		refusals: make(map[refusalKey]*refusal), journal: opts.Journal, maxLag: opts.MaxLag,
		grants: newHeightMemo[ledger.Grants](4096), policies: newHeightMemo[*consent.RolePolicy](1024),
		principals: newHeightMemo[*carechain.Principal](4096),
		index:      opts.Index, auditKeys: newAuditKeys(opts.Now), blobs: opts.Blobs, blobPeers: opts.BlobPeers,
		supplyJournal: supplyJournal{queue: opts.SupplyJournal}, bypass: opts.Bypass,
	}
	if s.journal != nil {
		if s.pending, err = loadJournal(s.journal); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Keys is the keyring the service decrypts with.
func (s *Service) Keys() *Keyring { return s.keys }

// Node is the name this node records in access events: its node principal.
func (s *Service) Node() string { return s.node }

// latest is the snapshot one call reads: the last committed state.
func (s *Service) latest() *ledger.View { return s.chain.Latest() }

// submit signs body as s with its next nonce and waits for the outcome; a
// rejection is a *ledger.Rejection (errors.Is ErrRejected).
//
// Concurrent submissions of one signer are safe: nonces are handed out under
// a per-signer lock and the transaction reaches the mempool before the lock
// is released, so nonces arrive in order; the wait for the commit is outside it.
func (s *Service) submit(ctx context.Context, signer Signer, typ tx.Type, body any) (ledger.Outcome, error) {
	out, wait, err := s.broadcast(ctx, signer, typ, body)
	if err != nil {
		return out, err
	}
	if wait != nil {
		if out, err = wait(ctx); err != nil {
			return out, err
		}
	}
	if rej := out.Rejection(); rej != nil {
		return out, fmt.Errorf("%s: %w", typ, rej)
	}
	if !out.Accepted() {
		return out, fmt.Errorf("%s: not committed", typ)
	}
	return out, nil
}

// signerState orders one signer's submissions.
type signerState struct {
	mu   sync.Mutex
	next uint64 // the lowest nonce not yet handed out
}

func (s *Service) signerState(id string) *signerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.signers[id]
	if !ok {
		st = &signerState{}
		s.signers[id] = st
	}
	return st
}

func (s *Service) broadcast(ctx context.Context, signer Signer, typ tx.Type, body any) (ledger.Outcome, func(context.Context) (ledger.Outcome, error), error) {
	v := s.chain.Latest()
	st := s.signerState(signer.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	committed, err := v.NextNonce(signer.ID)
	if err != nil {
		return ledger.Outcome{}, nil, err
	}
	nonce := max(committed, st.next)
	raw, err := tx.SignUnder(s.bypass, signer.Key, v.ChainID(), signer.ID, nonce, typ, body)
	if err != nil {
		return ledger.Outcome{}, nil, err
	}
	out, wait, err := s.chain.Broadcast(ctx, raw)
	if err == nil && out.Code == ledger.CodeOK {
		st.next = nonce + 1 // in the mempool: the next one goes after it
	}
	if wait != nil {
		wait = s.watch(wait, signer.ID, nonce, sha256.Sum256(raw))
	}
	return out, wait, err
}

// watch wraps a wait for a commit notice: it also looks at the ledger every
// second, so a transaction that committed without the notice reaching us,
// or that can no longer commit (the signer's nonce moved past it: it was
// dropped from the mempool), does not keep the caller waiting until its
// deadline. A dropped one is reported as a bad_nonce rejection.
func (s *Service) watch(wait func(context.Context) (ledger.Outcome, error), signer string, nonce uint64, hash [32]byte) func(context.Context) (ledger.Outcome, error) {
	return func(ctx context.Context) (ledger.Outcome, error) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		type result struct {
			out ledger.Outcome
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := wait(wctx)
			done <- result{out, err}
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case r := <-done:
				return r.out, r.err
			case <-tick.C:
				v := s.chain.Latest()
				if st, err := v.Tx(hash); err == nil {
					return ledger.Outcome{Hash: hash, Stage: ledger.StageFinalize, Code: ledger.CodeOK, Height: st.Height}, nil
				}
				if next, err := v.NextNonce(signer); err == nil && next > nonce {
					select {
					case r := <-done: // its notice may have come meanwhile
						return r.out, r.err
					default:
					}
					return ledger.Outcome{Hash: hash, Stage: ledger.StageFinalize, Code: ledger.CodeBadNonce, Height: v.Height(),
						Log: fmt.Sprintf("nonce %d of %s was used by another transaction: this one was dropped", nonce, signer)}, nil
				}
			}
		}
	}
}

// rejectedWith reports whether err is a ledger rejection with code.
func rejectedWith(err error, code ledger.Code) bool {
	var rej *ledger.Rejection
	return errors.As(err, &rej) && rej.Code == code
}

// epochKey returns the key of a patient's category epoch as reader holds it:
// the reader must have a wrap of it in v, which it unwraps with its key from
// the keyring. Unwrapped keys are cached in memory, but the wrap is always
// checked, so a reader never uses a key it was not given.
func (s *Service) epochKey(v *ledger.View, patient, category string, epoch uint32, reader string) (seal.EpochKey, error) {
	var k seal.EpochKey
	w, err := v.Wrap(patient, category, epoch, reader)
	if err != nil {
		return k, err
	}
	ref := epochRef{patient, category, epoch}
	s.mu.Lock()
	k, ok := s.epochKeys[ref]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	id, ok := s.keys.identity(reader)
	if !ok {
		return k, fmt.Errorf("this node holds no key for %s", reader)
	}
	k, err = seal.UnwrapEpochKey(id, w, patient, category, epoch)
	if err != nil {
		return k, fmt.Errorf("unwrap epoch key of %s/%s/%d for %s: %w", patient, category, epoch, reader, err)
	}
	s.mu.Lock()
	s.epochKeys[ref] = k
	s.mu.Unlock()
	return k, nil
}

// newEpoch makes a fresh key for epoch of a patient's category, wrapped to readers.
func (s *Service) newEpoch(v *ledger.View, patient, category string, epoch uint32, readers []string) (seal.EpochKey, *tx.NewEpoch, error) {
	ek, err := seal.NewEpochKey()
	if err != nil {
		return ek, nil, err
	}
	ne := &tx.NewEpoch{Category: category, Epoch: epoch}
	for _, rd := range readers {
		w, err := wrapTo(v, rd, ek, patient, category, epoch)
		if err != nil {
			return ek, nil, err
		}
		ne.Wraps = append(ne.Wraps, tx.KeyWrap{Reader: rd, Wrapped: w})
	}
	return ek, ne, nil
}

// wrapTo wraps an epoch key to reader's encryption key as of v.
func wrapTo(v *ledger.View, reader string, ek seal.EpochKey, patient, category string, epoch uint32) ([]byte, error) {
	pub, err := encryptionKey(v, reader)
	if err != nil {
		return nil, err
	}
	return seal.WrapEpochKey(pub, ek, patient, category, epoch)
}

// encryptionKeys is where a reader's current encryption key is read: a
// *ledger.View.
type encryptionKeys interface {
	EncryptionKey(reader string) ([]byte, error)
}

// encryptionKey is reader's current encryption key as of v.
func encryptionKey(v encryptionKeys, reader string) (*seal.PublicKey, error) {
	kb, err := v.EncryptionKey(reader)
	if err != nil || len(kb) == 0 {
		return nil, fmt.Errorf("%w: reader %s has no encryption key", ErrInvalid, reader)
	}
	pub, err := seal.ParsePublicKey(kb)
	if err != nil {
		return nil, fmt.Errorf("encryption key of %s: %w", reader, err)
	}
	return pub, nil
}

// NewRecordID returns a fresh random record ID.
func NewRecordID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "rec-" + hex.EncodeToString(b)
}
