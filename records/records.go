// Package records writes, shares and reads encrypted patient records on a
// carechain node, and keeps the patient's access log.
//
// A Service runs beside a node. Writers' resources are validated against the
// FHIR R4 schema, canonicalized, sealed (package seal) and submitted as
// record.put transactions; the plaintext never leaves memory. Patients'
// consent grants and revocations carry the key wraps the ledger requires.
//
// Reads decrypt a version only when the ledger's current consent state allows
// it, using a key this node holds for the requester (its organization's key,
// or a patient's custodial key) from the Keyring. Every read attempt, allowed
// or denied, becomes an access event; events are sealed to the patient and
// anchored on the ledger in batches (audit.anchor) by RunAnchors, so the
// patient sees accesses made through any node (AuditLog).
package records

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// Chain is the node as the service needs it.
type Chain interface {
	App() *ledger.App
	Submit(ctx context.Context, raw []byte) (ledger.Outcome, error)
	// Broadcast returns CheckTx's verdict and a function that waits for the commit.
	Broadcast(ctx context.Context, raw []byte) (ledger.Outcome, func(context.Context) (ledger.Outcome, error), error)
}

// Signer is a principal with its signing key.
type Signer struct {
	ID  string
	Key ed25519.PrivateKey
}

// Keyring holds the HPKE private keys this node may use: its organizations'
// keys and custodial patients' keys, by reader ID. Keys stay in memory only.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]*seal.PrivateKey
}

// Add makes key usable for reader (an organization ID or a patient ID).
func (k *Keyring) Add(reader string, key *seal.PrivateKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]*seal.PrivateKey)
	}
	k.keys[reader] = key
}

func (k *Keyring) get(reader string) (*seal.PrivateKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[reader]
	return key, ok
}

// ErrRejected wraps a ledger rejection of a transaction the service built.
var ErrRejected = errors.New("rejected by the ledger")

// ErrInvalid wraps a request the service refuses before building a
// transaction: an unknown patient, a reader without an encryption key.
var ErrInvalid = errors.New("invalid request")

// DeniedError is a read the consent state does not allow, or that this node
// cannot decrypt. Reason says why, for the requester and the access log.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return "access denied: " + e.Reason }

// Options configure a Service.
type Options struct {
	Node   string       // this node's name, recorded in access events
	Logger *slog.Logger // nil: discard. Health data is never logged.
	Now    func() time.Time
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
	pending    []tx.SealedEvent
	seq        uint64
	epochKeys  map[epochRef]seal.EpochKey // unwrapped epoch keys, memory only
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
	return &Service{
		chain: chain, keys: keys, validator: v, evaluator: consent.NewEvaluator(256),
		node: opts.Node, log: opts.Logger, now: opts.Now, epochKeys: make(map[epochRef]seal.EpochKey),
		signers: make(map[string]*signerState), epochLocks: make(map[string]*sync.Mutex),
	}, nil
}

// submit signs body as s with its next nonce and waits for the outcome; a
// rejection is an ErrRejected error.
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
	if !out.Accepted() {
		return out, fmt.Errorf("%w: %s %s: %s", ErrRejected, typ, out.Code, out.Log)
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
	app := s.chain.App()
	st := s.signerState(signer.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	committed, err := app.NextNonce(signer.ID)
	if err != nil {
		return ledger.Outcome{}, nil, err
	}
	nonce := max(committed, st.next)
	raw, err := tx.Sign(signer.Key, app.ChainID(), signer.ID, nonce, typ, body)
	if err != nil {
		return ledger.Outcome{}, nil, err
	}
	out, wait, err := s.chain.Broadcast(ctx, raw)
	if err == nil && out.Code == ledger.CodeOK {
		st.next = nonce + 1 // in the mempool: the next one goes after it
	}
	return out, wait, err
}

// epochKey returns the key of a patient's category epoch as reader holds it:
// the reader must have a wrap of it on the ledger, which it unwraps with its
// key from the keyring. Unwrapped keys are cached in memory, but the wrap is
// always checked, so a reader never uses a key it was not given.
func (s *Service) epochKey(patient, category string, epoch uint32, reader string) (seal.EpochKey, error) {
	var k seal.EpochKey
	w, err := s.chain.App().Wrap(patient, category, epoch, reader)
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
	id, ok := s.keys.get(reader)
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
func (s *Service) newEpoch(patient, category string, epoch uint32, readers []string) (seal.EpochKey, *tx.NewEpoch, error) {
	ek, err := seal.NewEpochKey()
	if err != nil {
		return ek, nil, err
	}
	ne := &tx.NewEpoch{Category: category, Epoch: epoch}
	for _, rd := range readers {
		w, err := s.wrapTo(rd, ek, patient, category, epoch)
		if err != nil {
			return ek, nil, err
		}
		ne.Wraps = append(ne.Wraps, tx.KeyWrap{Reader: rd, Wrapped: w})
	}
	return ek, ne, nil
}

func (s *Service) wrapTo(reader string, ek seal.EpochKey, patient, category string, epoch uint32) ([]byte, error) {
	kb, err := s.chain.App().EncryptionKey(reader)
	if err != nil || len(kb) == 0 {
		return nil, fmt.Errorf("%w: reader %s has no encryption key", ErrInvalid, reader)
	}
	pub, err := seal.ParsePublicKey(kb)
	if err != nil {
		return nil, fmt.Errorf("encryption key of %s: %w", reader, err)
	}
	return seal.WrapEpochKey(pub, ek, patient, category, epoch)
}

// PutResult is a committed record version.
type PutResult struct {
	RecordID string
	Version  uint64
	Height   int64
}

// Put validates a FHIR R4 resource and writes it, encrypted, as the next
// version of recordID (a new record if it does not exist) for patient, signed
// by author. An invalid resource is a *fhirjson.ValidationError naming the path.
//
// Writes that race with a new epoch of the same patient and category (one
// started by another writer) are rebuilt under the new epoch and retried;
// this node starts one epoch at a time per patient and category.
func (s *Service) Put(ctx context.Context, author Signer, patient, category, recordID string, resource []byte) (PutResult, error) {
	app := s.chain.App()
	for attempt := 0; ; attempt++ {
		version := uint64(1)
		if head, err := app.Record(recordID, 0); err == nil {
			version = head.Latest + 1
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return PutResult{}, err
		}
		unlock, err := s.lockIfNewEpoch(author, patient, category)
		if err != nil {
			return PutResult{}, err
		}
		body, err := s.buildPut(author, patient, category, recordID, version, resource, nil)
		if err != nil {
			unlock()
			return PutResult{}, err
		}
		out, err := s.submit(ctx, author, tx.TypeRecordPut, body)
		unlock()
		if errors.Is(err, ErrRejected) && attempt < 3 && strings.Contains(err.Error(), " epoch ") {
			continue // another writer moved the epoch on: rebuild under it
		}
		if err != nil {
			return PutResult{}, err
		}
		return PutResult{RecordID: recordID, Version: version, Height: out.Height}, nil
	}
}

// lockIfNewEpoch takes the lock of (patient, category) when author's write
// would start a new epoch, so concurrent first writes do not all start one.
// It returns the unlock function (a no-op when no lock was taken).
func (s *Service) lockIfNewEpoch(author Signer, patient, category string) (func(), error) {
	app := s.chain.App()
	me, err := app.Principal(author.ID, 0)
	if err != nil {
		return nil, err
	}
	cur, err := app.Epoch(patient, category)
	if err != nil {
		return nil, err
	}
	if cur.Epoch > 0 && slices.Contains(cur.Readers, me.Org) {
		return func() {}, nil
	}
	key := patient + "\x00" + category
	s.mu.Lock()
	m, ok := s.epochLocks[key]
	if !ok {
		m = &sync.Mutex{}
		s.epochLocks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock, nil
}

// PreparePut validates, encrypts and signs a record.put without submitting
// it: version of recordID, with the author's nonce. It starts a new epoch when
// the author's organization cannot read the current one.
func (s *Service) PreparePut(author Signer, nonce uint64, patient, category, recordID string, version uint64, resource []byte) ([]byte, error) {
	body, err := s.buildPut(author, patient, category, recordID, version, resource, nil)
	if err != nil {
		return nil, err
	}
	return tx.Sign(author.Key, s.chain.App().ChainID(), author.ID, nonce, tx.TypeRecordPut, body)
}

// pendingEpochs are epochs started earlier in the same batch: later entries
// for the same patient and category use them.
type pendingEpochs map[epochRef]seal.EpochKey

// buildPut validates, canonicalizes and seals one record version.
func (s *Service) buildPut(author Signer, patient, category, recordID string, version uint64, resource []byte, pending pendingEpochs) (*tx.RecordPut, error) {
	rtype, err := s.validator.Validate(resource)
	if err != nil {
		return nil, err
	}
	canonical, err := fhirjson.Canonical(resource)
	if err != nil {
		return nil, err
	}
	return s.sealPut(author, patient, category, recordID, rtype, version, canonical, pending)
}

// sealPut encrypts canonical as a version of a record of type rtype.
func (s *Service) sealPut(author Signer, patient, category, recordID, rtype string, version uint64, canonical []byte, pending pendingEpochs) (*tx.RecordPut, error) {
	defer clear(canonical)
	app := s.chain.App()
	if p, err := app.Principal(patient, 0); err != nil || p.Kind != carechain.KindPatient {
		return nil, fmt.Errorf("%w: %s is not a registered patient", ErrInvalid, patient)
	}
	me, err := app.Principal(author.ID, 0)
	if err != nil {
		return nil, err
	}
	cur, err := app.Epoch(patient, category)
	if err != nil {
		return nil, err
	}
	body := &tx.RecordPut{RecordID: recordID, Version: version, Patient: patient, Category: category, ResourceType: rtype, Epoch: cur.Epoch}
	var ek seal.EpochKey
	if k, ok := pending[epochRef{patient, category, cur.Epoch + 1}]; ok {
		ek, body.Epoch = k, cur.Epoch+1
	} else if cur.Epoch > 0 && slices.Contains(cur.Readers, me.Org) {
		if ek, err = s.epochKey(patient, category, cur.Epoch, me.Org); err != nil {
			return nil, err
		}
	} else {
		// Start the next epoch, wrapped to everyone who must read it.
		readers, err := app.RequiredReaders(patient, category, s.now().Unix())
		if err != nil {
			return nil, err
		}
		readers = sortedUnion(readers, append([]string{me.Org}, cur.Readers...))
		body.Epoch = cur.Epoch + 1
		if ek, body.NewEpoch, err = s.newEpoch(patient, category, body.Epoch, readers); err != nil {
			return nil, err
		}
		// The key is not cached here: the transaction may yet be rejected
		// (another writer may start this epoch first). Once committed, it is
		// unwrapped from the ledger like any other.
		if pending != nil {
			pending[epochRef{patient, category, body.Epoch}] = ek
		}
	}
	sealed, err := seal.Seal(canonical, seal.Binding{RecordID: recordID, Version: version, Patient: patient, Category: category, Epoch: body.Epoch}, ek)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(sealed.Ciphertext)
	body.Ciphertext, body.WrappedKey, body.CiphertextHash = sealed.Ciphertext, sealed.WrappedKey, sum[:]
	return body, nil
}

// Delete writes a version that deletes the record (its resource type and id
// only): reads of the record then report it gone; earlier versions stay
// readable to those allowed.
func (s *Service) Delete(ctx context.Context, author Signer, recordID string) (PutResult, error) {
	app := s.chain.App()
	head, err := app.Record(recordID, 0)
	if err != nil {
		return PutResult{}, err
	}
	stub, err := json.Marshal(map[string]string{"resourceType": head.ResourceType, "id": recordID})
	if err != nil {
		return PutResult{}, err
	}
	body, err := s.sealPut(author, head.Patient, head.Category, recordID, head.ResourceType, head.Latest+1, stub, nil)
	if err != nil {
		return PutResult{}, err
	}
	body.Deleted = true
	out, err := s.submit(ctx, author, tx.TypeRecordPut, body)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{RecordID: recordID, Version: head.Latest + 1, Height: out.Height}, nil
}

// PutItem is one entry of PutBatch.
type PutItem struct {
	Patient, Category, RecordID string
	Resource                    []byte
}

// PutBatch writes several record versions in one transaction: all of them
// are committed, or none. An invalid resource fails the batch before
// anything is submitted; the error names the entry.
func (s *Service) PutBatch(ctx context.Context, author Signer, items []PutItem) ([]PutResult, error) {
	app := s.chain.App()
	versions := map[string]uint64{}
	pending := pendingEpochs{}
	body := &tx.RecordBatch{}
	out := make([]PutResult, len(items))
	for i, it := range items {
		v, ok := versions[it.RecordID]
		if !ok {
			if head, err := app.Record(it.RecordID, 0); err == nil {
				v = head.Latest
			} else if !errors.Is(err, ledger.ErrNotFound) {
				return nil, err
			}
		}
		v++
		versions[it.RecordID] = v
		p, err := s.buildPut(author, it.Patient, it.Category, it.RecordID, v, it.Resource, pending)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		body.Puts = append(body.Puts, *p)
		out[i] = PutResult{RecordID: it.RecordID, Version: v}
	}
	res, err := s.submit(ctx, author, tx.TypeRecordBatch, body)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Height = res.Height
	}
	return out, nil
}

func sortedUnion(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// NewRecordID returns a fresh random record ID.
func NewRecordID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "rec-" + hex.EncodeToString(b)
}

// Keys is the keyring the service decrypts with.
func (s *Service) Keys() *Keyring { return s.keys }
