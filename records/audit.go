package records

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Event is one access attempt, as the patient sees it.
type Event = carechain.AccessEvent

// record seals events to their patients (keys as of v), journals them
// together (one sync) and queues them for anchoring, each naming the
// client of ctx (WithClient), if any. An error means they could not be
// kept durably (ErrLogUnavailable): the caller must not serve what they
// describe.
func (s *Service) record(ctx context.Context, v *ledger.View, events ...Event) error {
	if s.bypass.Off() {
		return nil
	}
	sealed := make([]tx.SealedEvent, 0, len(events))
	for _, ev := range events {
		if ev.Client == "" {
			ev.Client = clientOf(ctx)
		}
		s.mu.Lock()
		s.seq++
		ev.ID = fmt.Sprintf("%s-%d-%d", s.node, s.now().UnixNano(), s.seq)
		s.mu.Unlock()
		ev.Node, ev.Time = s.node, s.now().UTC()
		b, err := s.sealEvent(v, ev)
		if err != nil {
			// Without the patient's key there is nobody to seal to; say so
			// without any detail of the request.
			s.log.Warn("access event not anchored", "event", ev.ID, "err", err)
			continue
		}
		sealed = append(sealed, tx.SealedEvent{ID: ev.ID, Patient: ev.Patient, Time: ev.Time.UnixMilli(), Sealed: b})
	}
	if err := s.enqueue(sealed...); err != nil {
		s.log.Error("access events not journaled: reads stop", "events", len(sealed), "err", err)
		return err
	}
	return nil
}

// sealedEvent is the encrypted form of an Event: the event JSON under a
// fresh key, which is wrapped to the patient.
type sealedEvent struct {
	Wrapped    []byte `cbor:"1,keyasint"`
	Ciphertext []byte `cbor:"2,keyasint"`
	WrappedKey []byte `cbor:"3,keyasint"`
}

// Contexts of what is sealed to a patient; each binds its ciphertexts, so
// one kind cannot be passed off as another.
const (
	auditContext           = "audit"
	emergencyReasonContext = "emergency-reason"
	requestReasonContext   = "access-request-reason"
)

// sealEvent seals ev to its patient under the patient's audit key
// (auditkeys.go).
func (s *Service) sealEvent(v *ledger.View, ev Event) ([]byte, error) {
	plain, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	k, wrapped, err := s.auditKeys.get(v, ev.Patient)
	if err != nil {
		return nil, err
	}
	return sealUnder(k, wrapped, ev.Patient, auditContext, ev.ID, plain)
}

// sealToPatient encrypts plain so only the patient can read it: under a
// fresh key wrapped to the patient's encryption key, bound to (context, id).
func sealToPatient(v *ledger.View, patient, context, id string, plain []byte) ([]byte, error) {
	k, wrapped, err := newPatientKey(v, patient, context)
	if err != nil {
		return nil, err
	}
	return sealUnder(k, wrapped, patient, context, id, plain)
}

// newPatientKey is a fresh key and its wrap to the patient's encryption key
// as of v, bound to (patient, context).
func newPatientKey(v encryptionKeys, patient, context string) (seal.EpochKey, []byte, error) {
	pub, err := encryptionKey(v, patient)
	if err != nil {
		return seal.EpochKey{}, nil, err
	}
	k, err := seal.NewEpochKey()
	if err != nil {
		return seal.EpochKey{}, nil, err
	}
	w, err := seal.WrapEpochKey(pub, k, patient, context, 1)
	if err != nil {
		return seal.EpochKey{}, nil, err
	}
	return k, w, nil
}

// sealUnder encrypts plain under a fresh data key wrapped under k, whose
// wrap to the patient is wrapped, bound to (patient, context, id): what
// OpenSealed opens.
func sealUnder(k seal.EpochKey, wrapped []byte, patient, context, id string, plain []byte) ([]byte, error) {
	sl, err := seal.Seal(plain, seal.Binding{RecordID: id, Version: 1, Patient: patient, Category: context, Epoch: 1}, k)
	if err != nil {
		return nil, err
	}
	return tx.Marshal(sealedEvent{Wrapped: wrapped, Ciphertext: sl.Ciphertext, WrappedKey: sl.WrappedKey})
}

// OpenSealed decrypts what sealToPatient sealed, with the patient's key.
func OpenSealed(key seal.Identity, patient, context, id string, sealed []byte) ([]byte, error) {
	return (&sealedOpener{key: key}).open(patient, context, id, sealed)
}

// sealedOpener opens what was sealed to a patient with the patient's key,
// unwrapping each distinct wrap once: a node seals a patient's events under
// one audit key for a while (auditkeys.go), so a log of many events holds
// few wraps, and each unwrap is an HPKE decapsulation.
type sealedOpener struct {
	key  seal.Identity
	keys map[string]seal.EpochKey // by context, patient and wrap
}

func (o *sealedOpener) open(patient, context, id string, sealed []byte) ([]byte, error) {
	var se sealedEvent
	if err := tx.Unmarshal(sealed, &se); err != nil {
		return nil, err
	}
	ref := context + "\x00" + patient + "\x00" + string(se.Wrapped)
	k, ok := o.keys[ref]
	if !ok {
		var err error
		if k, err = seal.UnwrapEpochKey(o.key, se.Wrapped, patient, context, 1); err != nil {
			return nil, err
		}
		if o.keys == nil {
			o.keys = make(map[string]seal.EpochKey)
		}
		o.keys[ref] = k
	}
	return seal.Open(&seal.Sealed{Ciphertext: se.Ciphertext, WrappedKey: se.WrappedKey},
		seal.Binding{RecordID: id, Version: 1, Patient: patient, Category: context, Epoch: 1}, k)
}

// Pending is the number of access events not yet anchored, counting each
// open window of repeated refusals as the one event it will become.
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) + len(s.refusals)
}

// anchorBudget bounds the encoded events of one audit.anchor: the
// transaction limit less room for the envelope, signer, node and signature.
const anchorBudget = carechain.MaxTxBytes - 8<<10

// nextBatch is how many events from the head of pending fit one anchor: at
// most tx.MaxAuditEvents, within anchorBudget bytes, and at least one.
func nextBatch(pending []queued) int {
	size := 0
	for i := range pending {
		// An event's encoding: its fields plus a little CBOR framing.
		e := &pending[i].ev
		size += len(e.ID) + len(e.Patient) + len(e.Sealed) + 32
		if i == tx.MaxAuditEvents || (i > 0 && size > anchorBudget) {
			return i
		}
	}
	return len(pending)
}

// anchorsInFlight is how many batches Flush has in the mempool at once, so
// several can commit in one block instead of one block each.
const anchorsInFlight = 8

// Flush anchors every pending access event, in batches that fit a
// transaction, each signed by anchorer (this node's principal) over its
// Merkle root. Batches go to the mempool a few at a time and are then
// waited for together. A batch the ledger refuses is put back, with every
// batch after it, and Flush returns the error: no event is dropped.
func (s *Service) Flush(ctx context.Context, anchorer Signer) error {
	s.closeWindows(s.now(), false)
	for {
		s.mu.Lock()
		var batches [][]queued
		for len(batches) < anchorsInFlight && len(s.pending) > 0 {
			n := nextBatch(s.pending)
			batches = append(batches, s.pending[:n:n])
			s.pending = s.pending[n:]
		}
		s.mu.Unlock()
		if len(batches) == 0 {
			return nil
		}
		if err := s.anchorBatches(ctx, anchorer, batches); err != nil {
			return err
		}
	}
}

// anchorBatches broadcasts batches in order, then waits for each. Those
// that commit leave the journal; those that do not go back to the head of
// the pending events, in order, and the first error is returned.
func (s *Service) anchorBatches(ctx context.Context, anchorer Signer, batches [][]queued) error {
	waits := make([]func(context.Context) (ledger.Outcome, error), len(batches))
	errs := make([]error, len(batches))
	for i, batch := range batches {
		if i > 0 && errs[i-1] != nil {
			errs[i] = errs[i-1] // not sent: a gap would only be refused
			continue
		}
		body := &tx.AuditAnchor{Node: anchorer.ID, Events: make([]tx.SealedEvent, len(batch))}
		for k := range batch {
			body.Events[k] = batch[k].ev
		}
		if errs[i] = body.SignAuditBatch(anchorer.Key, s.chain.Latest().ChainID()); errs[i] != nil {
			continue
		}
		var out ledger.Outcome
		out, waits[i], errs[i] = s.broadcast(ctx, anchorer, tx.TypeAuditAnchor, body)
		if errs[i] == nil && out.Code != ledger.CodeOK {
			errs[i] = fmt.Errorf("%s: %w", tx.TypeAuditAnchor, out.Rejection())
		}
	}
	var back []queued
	var first error
	for i := range batches {
		if errs[i] == nil {
			if waits[i] == nil {
				errs[i] = fmt.Errorf("%s: not committed", tx.TypeAuditAnchor)
			} else if out, err := waits[i](ctx); err != nil {
				errs[i] = err
			} else if !out.Accepted() {
				errs[i] = fmt.Errorf("%s: %w", tx.TypeAuditAnchor, out.Rejection())
			}
		}
		if errs[i] != nil {
			first = cmp.Or(first, errs[i])
			back = append(back, batches[i]...)
			continue
		}
		s.anchoring.succeeded(s.now())
		if err := s.anchored(batches[i]); err != nil {
			s.log.Warn("journal", "err", err)
		}
	}
	if len(back) == 0 {
		return nil
	}
	s.anchoring.failed()
	s.mu.Lock()
	s.pending = append(back, s.pending...)
	s.mu.Unlock()
	return fmt.Errorf("anchor %d access events: %w", len(back), first)
}

// RunAnchors flushes the access events every interval until ctx ends, then once more.
func (s *Service) RunAnchors(ctx context.Context, anchorer Signer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.closeWindows(s.now(), true)
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.Flush(fctx, anchorer); err != nil {
				s.log.Warn("final anchor", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := s.Flush(ctx, anchorer); err != nil {
				s.log.Warn("anchor", "err", err)
			}
		}
	}
}

// AuditLog returns a patient's anchored access events, newest first,
// decrypted with the patient's key. It needs no node's keys: any node's
// ledger state and the patient's own key suffice. Each entry is checked
// against the anchoring node's signed batch; one that does not verify or
// decrypt is listed as unverifiable (with who anchored it, and where) and
// never hides the rest of the log.
func AuditLog(v *ledger.View, patient string, key seal.Identity) ([]Event, error) {
	entries, err := v.AuditEntries(patient)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(entries))
	batches := map[string]*ledger.AuditBatch{}
	opener := &sealedOpener{key: key}
	for i := range entries {
		e := &entries[i]
		ev, err := openEntry(v, e, batches, patient, opener)
		if err != nil {
			ev = Event{ID: e.ID, Patient: patient, Node: e.Node, Time: time.UnixMilli(e.Time).UTC(), Unverifiable: true, Decision: carechain.DecisionDeny,
				Reason: fmt.Sprintf("unverifiable entry anchored by %s at height %d: %v", e.Node, e.Height, err)}
		}
		ev.Height = e.Height
		out = append(out, ev)
	}
	return out, nil
}

// openEntry checks an entry against its node's signed batch and decrypts it.
func openEntry(v *ledger.View, e *ledger.AuditEntry, batches map[string]*ledger.AuditBatch, patient string, opener *sealedOpener) (Event, error) {
	if err := verifyEntry(v, e, batches); err != nil {
		return Event{}, err
	}
	plain, err := opener.open(patient, auditContext, e.ID, e.Sealed)
	if err != nil {
		return Event{}, fmt.Errorf("does not decrypt with the patient's key: %w", err)
	}
	defer clear(plain)
	var ev Event
	if err := json.Unmarshal(plain, &ev); err != nil {
		return Event{}, fmt.Errorf("not an access event: %w", err)
	}
	if ev.ID != e.ID || ev.Patient != patient {
		return Event{}, fmt.Errorf("sealed event %s of %s is filed as %s of %s", ev.ID, ev.Patient, e.ID, patient)
	}
	return ev, nil
}

// verifyEntry checks that e is in its batch and the batch root is signed by
// the anchoring node's key (as of the batch's height, or the one before, in
// case the node rotated its key in that block).
func verifyEntry(v *ledger.View, e *ledger.AuditEntry, batches map[string]*ledger.AuditBatch) error {
	b, ok := batches[e.Batch]
	if !ok {
		var err error
		if b, err = v.AuditBatch(e.Batch); err != nil {
			return fmt.Errorf("batch %s: %w", e.Batch, err)
		}
		batches[e.Batch] = b
	}
	enc, err := tx.Marshal(&e.SealedEvent)
	if err != nil {
		return err
	}
	if b.Node != e.Node || b.Height != e.Height {
		return fmt.Errorf("entry and batch %s disagree on node or height", e.Batch)
	}
	if err := tlog.VerifyBatchPath(tlog.BatchLeafHash(enc), e.Index, b.Size, e.Path, b.Root); err != nil {
		return err
	}
	msg := tx.AuditBatchMessage(v.ChainID(), b.Node, b.Root)
	for _, h := range []int64{b.Height, b.Height - 1} {
		at, err := v.At(h)
		if err != nil {
			continue
		}
		if p, err := at.Principal(b.Node); err == nil && tx.VerifySignature(p.PublicKey, msg, b.Sig) {
			return nil
		}
	}
	return fmt.Errorf("the batch signature does not verify under the key of %s", b.Node)
}

// AuditLog returns a patient's access log decrypted with the patient's key
// held on this node (custodial), newest first.
func (s *Service) AuditLog(patient string) ([]Event, error) {
	key, ok := s.keys.identity(patient)
	if !ok {
		return nil, &DeniedError{Reason: "this node holds no key for " + patient + "; read the log with the patient's own key"}
	}
	v := s.latest()
	return AuditLog(v, patient, key)
}

type clientKey struct{}

// WithClient is ctx naming the registered client (a SMART app or backend
// client) a request comes through: the access events it causes name it
// beside the requester, the person or principal its token is for.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}
