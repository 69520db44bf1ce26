package records

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
)

// Record is a decrypted record version. One the patient wrote says so
// (RecordVersion.PatientAuthored): its Author is the patient.
type Record struct {
	carechain.RecordVersion
	Resource []byte // canonical FHIR JSON: health data, never log it
	// Links are the merges of a Patient record's patient (merge.go).
	Links PatientLinks
	// Supply is what the ledger says, at read time, of the serialized units
	// a MedicationDispense names (supplydispense.go); nil if none.
	Supply *DispensedSupply
}

// Read decrypts version (0: latest) of a record for requester, if the
// current consent state allows it for purpose. Every attempt is logged.
// A refusal is a *DeniedError with the reason.
func (s *Service) Read(ctx context.Context, requester, recordID string, version uint64, purpose consent.Purpose) (*Record, error) {
	v := s.latest()
	var log []Event
	rec, err := s.read(v, requester, recordID, version, purpose, &log)
	if len(log) == 0 {
		return rec, err // nothing of a patient's was touched: no access to log
	}
	if lerr := s.record(ctx, v, log...); lerr != nil && err == nil {
		return nil, lerr // allowed, but not durably logged: not served
	}
	return rec, err
}

// read decides and decrypts one version. Its access event is appended to
// log for the caller to record with the rest of its call's events (one
// journal sync for a whole search).
func (s *Service) read(v *ledger.View, requester, recordID string, version uint64, purpose consent.Purpose, log *[]Event) (*Record, error) {
	rv, err := v.VerifiedRecordVersion(recordID, version)
	if err != nil {
		return nil, err // nothing of a patient's was touched, or it was altered: no access to log
	}
	ev := readEvent(requester, rv, purpose)
	rec, d, err := s.decide(v, requester, rv, purpose)
	if err == nil && !d.emergency {
		// Break-glass reads go on while anchoring is behind; others stop
		// rather than be served with their event stuck on this node.
		if why := s.logBehind(); why != "" {
			rec, err = nil, fmt.Errorf("%w: %s", ErrLogUnavailable, why)
		}
	}
	ev.Decision, ev.Reason, ev.Emergency, ev.RequesterOrg = carechain.DecisionAllow, d.reason, d.emergency, d.org
	if err != nil {
		ev.Decision, ev.Reason = carechain.DecisionDeny, err.Error()
		var denied *DeniedError
		if errors.As(err, &denied) {
			ev.Reason = denied.Reason
		}
	}
	*log = append(*log, ev)
	return rec, err
}

// readEvent is the access event of requester's attempt to read rv, before
// its decision.
func readEvent(requester string, rv *carechain.RecordVersion, purpose consent.Purpose) Event {
	return Event{Requester: requester, Patient: rv.Patient, RecordID: rv.RecordID, Version: rv.Version, Category: rv.Category,
		ResourceType: rv.ResourceType, Purpose: string(purpose), Action: string(consent.ActionRead)}
}

type decision struct {
	reason    string
	emergency bool
	org       string
}

// decide checks consent and decrypts; refusals are *DeniedError.
func (s *Service) decide(v *ledger.View, requester string, rv *carechain.RecordVersion, purpose consent.Purpose) (*Record, decision, error) {
	d, reader, err := s.allowed(v, requester, rv, purpose)
	if err != nil {
		return nil, d, err
	}
	// The ledger's hash of the ciphertext is what the node must serve; a
	// mismatch means local data was altered.
	if sum := sha256.Sum256(rv.Ciphertext); !bytes.Equal(sum[:], rv.CiphertextHash) {
		return nil, d, fmt.Errorf("record %s version %d: ciphertext does not match its hash: refusing to serve altered data", rv.RecordID, rv.Version)
	}
	if isPartySealed(rv) {
		plain, err := s.openParty(rv, reader)
		if err != nil {
			return nil, d, fmt.Errorf("record %s version %d: %w", rv.RecordID, rv.Version, err)
		}
		return &Record{RecordVersion: *rv, Resource: plain}, d, nil
	}
	if s.bypass.Off() {
		return &Record{RecordVersion: *rv, Resource: bypassOpen(rv.Ciphertext)}, d, nil
	}
	ek, err := s.epochKey(v, rv.Patient, rv.Category, rv.Epoch, reader)
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
	rec := &Record{RecordVersion: *rv, Resource: plain}
	if rv.ResourceType == "Patient" {
		if rec.Links, err = patientLinks(v, rv.Patient); err != nil {
			return nil, d, err
		}
	}
	if rv.ResourceType == "MedicationDispense" {
		if rec.Supply, err = s.dispensedSupply(v, rec, reader); err != nil {
			return nil, d, err
		}
	}
	return rec, d, nil
}

// allowed decides whether requester may read rv for purpose, and names the
// reader whose key opens it. Refusals are *DeniedError.
func (s *Service) allowed(v *ledger.View, requester string, rv *carechain.RecordVersion, purpose consent.Purpose) (decision, string, error) {
	var d decision
	p, err := s.principals.get(requester, v.Height(), func() (*carechain.Principal, error) { return v.Principal(requester) })
	if err != nil {
		return d, "", &DeniedError{Reason: fmt.Sprintf("%s is not a registered principal", requester)}
	}
	d.org = p.Org
	if p.Status != carechain.StatusActive {
		return d, "", &DeniedError{Reason: fmt.Sprintf("the key of %s is revoked", requester)}
	}
	if purpose == "" {
		purpose = consent.PurposeTreatment
	}
	if !purpose.Valid() {
		return d, "", &DeniedError{Reason: fmt.Sprintf("unknown purpose %q", purpose)}
	}
	if isPartySealed(rv) {
		return s.partyAllowed(p, rv, d) // a message: its parties read it, and nobody else (messages.go)
	}
	grants, err := s.grants.get(rv.Patient, v.Height(), func() (ledger.Grants, error) { return v.Grants(rv.Patient) })
	if err != nil {
		return d, "", err
	}
	policy, err := s.policies.get(p.Org, v.Height(), func() (*consent.RolePolicy, error) { return v.RolePolicyInForce(p.Org) })
	if err != nil {
		return d, "", err
	}
	own := ""
	if rv.AuthorOrg != "" && p.Org == rv.AuthorOrg { // a patient's own version has none
		own = "the author's organization"
	}
	now := s.now().Unix()
	cd := s.evaluator.Decide(grants.Plain(), consent.Request{
		Requester: p, Patient: rv.Patient, RecordID: rv.RecordID, Category: rv.Category, ResourceType: rv.ResourceType,
		Action: consent.ActionRead, Purpose: purpose, Time: now, RecordedHeight: rv.Height, Credentials: v.ConsentCredentials(p.ID, now),
	}, policy, own)
	d.reason = cd.Reason
	d.emergency = purpose == consent.PurposeEmergency || grants.IsEmergency(cd.GrantID)
	if !cd.Allowed {
		return d, "", &DeniedError{Reason: cd.Reason}
	}
	return d, consent.ReaderOf(p), nil
}

// History decrypts every version of a record the requester may read, oldest
// first. Each version read is an access event.
func (s *Service) History(ctx context.Context, requester, recordID string, purpose consent.Purpose) ([]Record, error) {
	v := s.latest()
	var log []Event
	recs, err := s.history(v, requester, recordID, purpose, &log)
	if lerr := s.record(ctx, v, log...); lerr != nil {
		return nil, lerr
	}
	return recs, err
}

func (s *Service) history(v *ledger.View, requester, recordID string, purpose consent.Purpose, log *[]Event) ([]Record, error) {
	vs, err := v.RecordVersions(recordID)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, rv := range vs {
		r, err := s.read(v, requester, recordID, rv.Version, purpose, log)
		if err != nil {
			return out, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// Query selects a patient's records for ReadPatient.
type Query struct {
	Requester string
	Patient   string
	Purpose   consent.Purpose
	// Keep, if set, selects records by their head before anything is
	// decrypted (a resource type, not deleted, ...).
	Keep func(*carechain.RecordHead) bool
}

// ReadPatient decrypts the patient's records that q keeps and the requester
// may read, in record ID order: the one place searches, exports and
// $everything read from. Each attempt is an access event; a record the
// requester may not read is left out, not an error.
func (s *Service) ReadPatient(ctx context.Context, q Query) (out []Record, err error) {
	v := s.latest()
	heads, err := v.PatientRecords(q.Patient)
	if err != nil {
		return nil, err
	}
	var log []Event
	defer func() {
		if lerr := s.record(ctx, v, log...); lerr != nil {
			out, err = nil, lerr // read, but not durably logged: not served
		}
	}()
	for i := range heads {
		h := &heads[i]
		if q.Keep != nil && !q.Keep(h) {
			continue
		}
		r, err := s.read(v, q.Requester, h.RecordID, 0, q.Purpose, &log)
		var denied *DeniedError
		if errors.As(err, &denied) {
			continue // results hold only what the caller may read; the attempt is logged
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// List returns the metadata of a patient's records, for the patient or for a
// requester who may read at least one of them (then only those). It is logged.
func (s *Service) List(ctx context.Context, requester, patient string, purpose consent.Purpose) ([]carechain.RecordHead, error) {
	v := s.latest()
	heads, err := v.PatientRecords(patient)
	if err != nil {
		return nil, err
	}
	var out []carechain.RecordHead
	for _, h := range heads {
		rv, err := v.RecordVersion(h.RecordID, 0)
		if err != nil {
			return nil, err
		}
		if _, _, err := s.decide(v, requester, rv, purpose); err == nil {
			out = append(out, h)
		}
	}
	decision, reason := "allow", fmt.Sprintf("listed %d of %d records", len(out), len(heads))
	if len(out) == 0 && len(heads) > 0 {
		decision, reason = "deny", "no record of the patient is readable for this requester and purpose"
	}
	if err := s.record(ctx, v, Event{Requester: requester, Patient: patient, Purpose: string(purpose), Action: "list", Decision: decision, Reason: reason}); err != nil {
		return nil, err
	}
	if decision == "deny" {
		return nil, &DeniedError{Reason: reason}
	}
	return out, nil
}
