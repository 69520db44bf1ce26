package records

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// Event is one access attempt, as the patient sees it.
type Event = carechain.AccessEvent

// record seals an event to the patient (their key as of v) and queues it
// for anchoring.
func (s *Service) record(v *ledger.View, ev Event) {
	s.mu.Lock()
	s.seq++
	ev.ID = fmt.Sprintf("%s-%d-%d", s.node, s.now().UnixNano(), s.seq)
	s.mu.Unlock()
	ev.Node, ev.Time = s.node, s.now().UTC()
	sealed, err := s.sealEvent(v, ev)
	if err != nil {
		// Without the patient's key there is nobody to seal to; say so
		// without any detail of the request.
		s.log.Warn("access event not anchored", "event", ev.ID, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, tx.SealedEvent{ID: ev.ID, Patient: ev.Patient, Time: ev.Time.UnixMilli(), Sealed: sealed})
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
)

func (s *Service) sealEvent(v *ledger.View, ev Event) ([]byte, error) {
	plain, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return sealToPatient(v, ev.Patient, auditContext, ev.ID, plain)
}

// sealToPatient encrypts plain so only the patient can read it: under a
// fresh key wrapped to the patient's encryption key, bound to (context, id).
func sealToPatient(v *ledger.View, patient, context, id string, plain []byte) ([]byte, error) {
	pub, err := encryptionKey(v, patient)
	if err != nil {
		return nil, err
	}
	k, err := seal.NewEpochKey()
	if err != nil {
		return nil, err
	}
	w, err := seal.WrapEpochKey(pub, k, patient, context, 1)
	if err != nil {
		return nil, err
	}
	sl, err := seal.Seal(plain, seal.Binding{RecordID: id, Version: 1, Patient: patient, Category: context, Epoch: 1}, k)
	if err != nil {
		return nil, err
	}
	return tx.Marshal(sealedEvent{Wrapped: w, Ciphertext: sl.Ciphertext, WrappedKey: sl.WrappedKey})
}

// OpenSealed decrypts what sealToPatient sealed, with the patient's key.
func OpenSealed(key seal.Identity, patient, context, id string, sealed []byte) ([]byte, error) {
	var se sealedEvent
	if err := tx.Unmarshal(sealed, &se); err != nil {
		return nil, err
	}
	k, err := seal.UnwrapEpochKey(key, se.Wrapped, patient, context, 1)
	if err != nil {
		return nil, err
	}
	return seal.Open(&seal.Sealed{Ciphertext: se.Ciphertext, WrappedKey: se.WrappedKey},
		seal.Binding{RecordID: id, Version: 1, Patient: patient, Category: context, Epoch: 1}, k)
}

// Pending is the number of access events not yet anchored.
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Flush anchors the pending access events in one audit.anchor signed by
// anchorer (a staff identity of this node's organization).
func (s *Service) Flush(ctx context.Context, anchorer Signer) error {
	s.mu.Lock()
	batch := s.pending
	if len(batch) > tx.MaxAuditEvents {
		batch = batch[:tx.MaxAuditEvents]
	}
	s.pending = s.pending[len(batch):]
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	_, err := s.submit(ctx, anchorer, tx.TypeAuditAnchor, &tx.AuditAnchor{Node: s.node, Events: batch})
	if err != nil {
		// Put them back in front, to try again: no event is dropped.
		s.mu.Lock()
		s.pending = append(batch, s.pending...)
		s.mu.Unlock()
		return fmt.Errorf("anchor %d access events: %w", len(batch), err)
	}
	return nil
}

// RunAnchors flushes the access events every interval until ctx ends, then once more.
func (s *Service) RunAnchors(ctx context.Context, anchorer Signer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
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
// ledger state and the patient's own key suffice.
func AuditLog(v *ledger.View, patient string, key seal.Identity) ([]Event, error) {
	entries, err := v.AuditEntries(patient)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		plain, err := OpenSealed(key, patient, auditContext, e.ID, e.Sealed)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		var ev Event
		if err := json.Unmarshal(plain, &ev); err != nil {
			return nil, err
		}
		ev.Height = e.Height
		out = append(out, ev)
	}
	return out, nil
}

// AuditLog returns a patient's access log decrypted with the patient's key
// held on this node (custodial), newest first.
func (s *Service) AuditLog(patient string) ([]Event, error) {
	key, ok := s.keys.get(patient)
	if !ok {
		return nil, &DeniedError{Reason: "this node holds no key for " + patient + "; read the log with the patient's own key"}
	}
	v := s.latest()
	return AuditLog(v, patient, key)
}

// RecordRefused logs an attempt on a record that was refused before any
// consent check (no or a bad token): the patient sees it too.
func (s *Service) RecordRefused(requester, recordID, action, reason string) {
	v := s.latest()
	head, err := v.Record(recordID)
	if err != nil {
		return // no such record: no patient to tell
	}
	s.record(v, Event{Requester: requester, Patient: head.Patient, Action: action, RecordID: recordID, Category: head.Category,
		ResourceType: head.ResourceType, Decision: carechain.DecisionDeny, Reason: reason})
}
