package records

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// Record is a decrypted record version.
type Record struct {
	ledger.RecordVersion
	Resource []byte // canonical FHIR JSON: health data, never log it
}

// Read decrypts version (0: latest) of a record for requester, if the
// current consent state allows it for purpose. Every attempt is logged.
// A refusal is a *DeniedError with the reason.
func (s *Service) Read(ctx context.Context, requester, recordID string, version uint64, purpose consent.Purpose) (*Record, error) {
	app := s.chain.App()
	ev := Event{Requester: requester, RecordID: recordID, Version: version, Purpose: purpose, Action: string(consent.ActionRead)}
	rv, err := app.VerifiedRecordVersion(recordID, version)
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, err // nothing of a patient's was touched: no patient to tell
		}
		return nil, err
	}
	ev.Patient, ev.Version, ev.Category, ev.ResourceType = rv.Patient, rv.Version, rv.Category, rv.ResourceType
	rec, d, err := s.decide(requester, rv, purpose)
	ev.Decision, ev.Reason, ev.Emergency, ev.RequesterOrg = "allow", d.Reason, d.emergency, d.org
	if err != nil {
		ev.Decision, ev.Reason = "deny", err.Error()
		var denied *DeniedError
		if errors.As(err, &denied) {
			ev.Reason = denied.Reason
		}
		s.record(ev)
		return nil, err
	}
	s.record(ev)
	return rec, nil
}

type decision struct {
	Reason    string
	emergency bool
	org       string
}

// decide checks consent and decrypts; errors are *DeniedError.
func (s *Service) decide(requester string, rv *ledger.RecordVersion, purpose consent.Purpose) (*Record, decision, error) {
	app := s.chain.App()
	var d decision
	p, err := app.Principal(requester, 0)
	if err != nil {
		return nil, d, &DeniedError{Reason: fmt.Sprintf("%s is not a registered principal", requester)}
	}
	d.org = p.Org
	if p.Status != carechain.StatusActive {
		return nil, d, &DeniedError{Reason: fmt.Sprintf("the key of %s is revoked", requester)}
	}
	if purpose != "" && !purpose.Valid() {
		return nil, d, &DeniedError{Reason: fmt.Sprintf("unknown purpose %q", purpose)}
	}
	reader := p.Org
	switch {
	case p.ID == rv.Patient:
		d.Reason, reader = "patient's own record", p.ID
	case p.Kind == carechain.KindPractitioner && p.Org == rv.AuthorOrg:
		d.Reason = "the author's organization"
	default:
		grants, err := app.Grants(rv.Patient)
		if err != nil {
			return nil, d, err
		}
		plain := make([]consent.Grant, len(grants))
		for i, g := range grants {
			plain[i] = g.Grant
		}
		cd := s.evaluator.Evaluate(plain, consent.Request{
			Requester: p, Patient: rv.Patient, RecordID: rv.RecordID, Category: rv.Category, ResourceType: rv.ResourceType,
			Action: consent.ActionRead, Purpose: purpose, Time: s.now().Unix(),
		})
		d.Reason = cd.Reason
		d.emergency = purpose == consent.PurposeEmergency || strings.HasPrefix(cd.GrantID, "e-")
		if !cd.Allowed {
			return nil, d, &DeniedError{Reason: cd.Reason}
		}
	}
	// The ledger's hash of the ciphertext is what the node must serve; a
	// mismatch means local data was altered.
	if sum := sha256.Sum256(rv.Ciphertext); !bytes.Equal(sum[:], rv.CiphertextHash) {
		return nil, d, fmt.Errorf("record %s version %d: ciphertext does not match its hash: refusing to serve altered data", rv.RecordID, rv.Version)
	}
	ek, err := s.epochKey(rv.Patient, rv.Category, rv.Epoch, reader)
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, d, &DeniedError{Reason: fmt.Sprintf("%s holds no key for this version (written after its access was revoked)", reader)}
		}
		return nil, d, &DeniedError{Reason: err.Error()}
	}
	plain, err := seal.Open(&seal.Sealed{Ciphertext: rv.Ciphertext, WrappedKey: rv.WrappedKey},
		seal.Binding{RecordID: rv.RecordID, Version: rv.Version, Patient: rv.Patient, Category: rv.Category, Epoch: rv.Epoch}, ek)
	if err != nil {
		return nil, d, fmt.Errorf("record %s version %d: %w", rv.RecordID, rv.Version, err)
	}
	return &Record{RecordVersion: *rv, Resource: plain}, d, nil
}

// History decrypts every version of a record the requester may read, oldest
// first. Each version read is an access event.
func (s *Service) History(ctx context.Context, requester, recordID string, purpose consent.Purpose) ([]Record, error) {
	vs, err := s.chain.App().RecordVersions(recordID)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, v := range vs {
		r, err := s.Read(ctx, requester, recordID, v.Version, purpose)
		if err != nil {
			return out, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// List returns the metadata of a patient's records, for the patient or for a
// requester who may read at least one of them (then only those). It is logged.
func (s *Service) List(ctx context.Context, requester, patient string, purpose consent.Purpose) ([]ledger.RecordHead, error) {
	app := s.chain.App()
	heads, err := app.PatientRecords(patient)
	if err != nil {
		return nil, err
	}
	var out []ledger.RecordHead
	for _, h := range heads {
		rv, err := app.RecordVersion(h.RecordID, 0)
		if err != nil {
			return nil, err
		}
		if _, _, err := s.decide(requester, rv, purpose); err == nil {
			out = append(out, h)
		}
	}
	decision, reason := "allow", fmt.Sprintf("listed %d of %d records", len(out), len(heads))
	if len(out) == 0 && len(heads) > 0 {
		decision, reason = "deny", "no record of the patient is readable for this requester and purpose"
	}
	s.record(Event{Requester: requester, Patient: patient, Purpose: purpose, Action: "list", Decision: decision, Reason: reason})
	if decision == "deny" {
		return nil, &DeniedError{Reason: reason}
	}
	return out, nil
}

// Event is one access attempt, as the patient sees it.
type Event struct {
	ID           string          `json:"id"`
	Node         string          `json:"node"`
	Time         time.Time       `json:"time"`
	Requester    string          `json:"requester"`
	RequesterOrg string          `json:"requester_org,omitempty"`
	Patient      string          `json:"patient"`
	Action       string          `json:"action"`
	RecordID     string          `json:"record_id,omitempty"`
	Version      uint64          `json:"version,omitempty"`
	Category     string          `json:"category,omitempty"`
	ResourceType string          `json:"resource_type,omitempty"`
	Purpose      consent.Purpose `json:"purpose,omitempty"`
	Decision     string          `json:"decision"` // allow or deny
	Reason       string          `json:"reason"`
	Emergency    bool            `json:"emergency,omitempty"`
	Height       int64           `json:"height,omitempty"` // where it was anchored
}

// record seals an event to the patient and queues it for anchoring.
func (s *Service) record(ev Event) {
	s.mu.Lock()
	s.seq++
	ev.ID = fmt.Sprintf("%s-%d-%d", s.node, s.now().UnixNano(), s.seq)
	s.mu.Unlock()
	ev.Node, ev.Time = s.node, s.now().UTC()
	sealed, err := s.sealEvent(ev)
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

const auditCategory = "audit"

func (s *Service) sealEvent(ev Event) ([]byte, error) {
	plain, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return s.sealToPatient(ev.Patient, auditCategory, ev.ID, plain)
}

// sealToPatient encrypts plain so only the patient can read it: under a
// fresh key wrapped to the patient's encryption key, bound to (context, id).
func (s *Service) sealToPatient(patient, context, id string, plain []byte) ([]byte, error) {
	kb, err := s.chain.App().EncryptionKey(patient)
	if err != nil || len(kb) == 0 {
		return nil, fmt.Errorf("%w: patient %s has no encryption key", ErrInvalid, patient)
	}
	pub, err := seal.ParsePublicKey(kb)
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
func AuditLog(app *ledger.App, patient string, key seal.Identity) ([]Event, error) {
	entries, err := app.AuditEntries(patient)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		plain, err := OpenSealed(key, patient, auditCategory, e.ID, e.Sealed)
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
	return AuditLog(s.chain.App(), patient, key)
}

// RecordRefused logs an attempt on a record that was refused before any
// consent check (no or a bad token): the patient sees it too.
func (s *Service) RecordRefused(requester, recordID, action, reason string) {
	head, err := s.chain.App().Record(recordID, 0)
	if err != nil {
		return // no such record: no patient to tell
	}
	s.record(Event{Requester: requester, Patient: head.Patient, Action: action, RecordID: recordID, Category: head.Category,
		ResourceType: head.ResourceType, Decision: "deny", Reason: reason})
}
