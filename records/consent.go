package records

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Consent: grants, revocations, delegates and emergency access, with the
// key wraps the ledger requires. Each call reads one snapshot and computes
// the readers the ledger will require with the ledger's own rules
// (View.RequiredReaders, View.ReadersWithout), so the two cannot disagree.

// Grant submits a consent for g.Patient (the signer, if empty), signed by
// the patient or a delegate they named. For read grants it unwraps, with the
// signer's key from the keyring, the current epoch keys of the granted
// categories and wraps them to the grantee's reader. It returns the grant ID.
func (s *Service) Grant(ctx context.Context, signer Signer, g consent.Grant) (string, error) {
	v := s.latest()
	if g.Patient == "" {
		g.Patient = signer.ID
	}
	body := &tx.ConsentGrant{Grant: g}
	reader := ""
	if slices.Contains(g.Actions, consent.ActionRead) {
		var err error
		if reader, err = v.ReaderOf(g.Grantee); err != nil {
			return "", err
		}
		cats, err := categories(v, g.Categories)
		if err != nil {
			return "", err
		}
		if body.Wraps, err = s.deliver(v, g.Patient, signer.ID, reader, cats); err != nil {
			return "", err
		}
	}
	out, err := s.submit(ctx, signer, tx.TypeConsentGrant, body)
	if err != nil {
		return "", err
	}
	if reader != "" {
		s.indexNow(ledger.Changes{Patients: []string{g.Patient}})
	}
	return ledger.GrantID(out.Hash), nil
}

// deliver wraps, for each of cats with an epoch that reader cannot read
// yet, its current key (unwrapped as holder) to reader.
func (s *Service) deliver(v *ledger.View, patient, holder, reader string, cats []string) ([]tx.CategoryWrap, error) {
	var wraps []tx.CategoryWrap
	for _, cat := range cats {
		cur, err := v.Epoch(patient, cat)
		if err != nil {
			return nil, err
		}
		if cur.Epoch == 0 || slices.Contains(cur.Readers, reader) {
			continue
		}
		ek, err := s.epochKey(v, patient, cat, cur.Epoch, holder)
		if err != nil {
			return nil, err
		}
		w, err := wrapTo(v, reader, ek, patient, cat, cur.Epoch)
		if err != nil {
			return nil, err
		}
		wraps = append(wraps, tx.CategoryWrap{Category: cat, Epoch: cur.Epoch, Wrapped: w})
	}
	return wraps, nil
}

// categories expands AnyCategory to the chain's categories.
func categories(v *ledger.View, cats []string) ([]string, error) {
	if !slices.Contains(cats, consent.AnyCategory) {
		return cats, nil
	}
	return v.Categories()
}

// rotations starts a new epoch for each of cats whose readers, once w is
// gone, differ from its current epoch's: the rotations the ledger requires.
// delivered, if set, are keys the same transaction delivers first (to
// reader), which the ledger counts among the current epoch's readers.
func (s *Service) rotations(v *ledger.View, patient string, cats []string, w ledger.Without, reader string, delivered []tx.CategoryWrap) ([]tx.NewEpoch, error) {
	now := s.now().Unix()
	var out []tx.NewEpoch
	for _, cat := range cats {
		cur, err := v.Epoch(patient, cat)
		if err != nil {
			return nil, err
		}
		if cur.Epoch == 0 {
			continue
		}
		if slices.ContainsFunc(delivered, func(d tx.CategoryWrap) bool { return d.Category == cat && d.Epoch == cur.Epoch }) {
			cur.Readers = consent.AddReaders(cur.Readers, reader)
		}
		want, err := v.ReadersWithout(patient, cat, now, w)
		if err != nil {
			return nil, err
		}
		if slices.Equal(want, cur.Readers) {
			continue
		}
		_, ne, err := s.newEpoch(v, patient, cat, cur.Epoch+1, want)
		if err != nil {
			return nil, err
		}
		out = append(out, *ne)
	}
	return out, nil
}

// Revoke revokes a patient's grant, signed by the patient or a delegate, and
// rotates the keys of every category whose readers shrink, so versions
// written from now on are unreadable to the revoked party.
func (s *Service) Revoke(ctx context.Context, signer Signer, patient, grantID string) error {
	v := s.latest()
	grants, err := v.Grants(patient)
	if err != nil {
		return err
	}
	g := grants.Find(grantID)
	if g == nil {
		return fmt.Errorf("%w: %s has no grant %s", ledger.ErrNotFound, patient, grantID)
	}
	cats, err := categories(v, g.Categories)
	if err != nil {
		return err
	}
	body := &tx.ConsentRevoke{GrantID: grantID}
	if signer.ID != patient {
		body.Patient = patient
	}
	if body.Rotations, err = s.rotations(v, patient, cats, ledger.Without{Grant: grantID}, "", nil); err != nil {
		return err
	}
	if _, err = s.submit(ctx, signer, tx.TypeConsentRevoke, body); err != nil {
		return err
	}
	s.indexNow(ledger.Changes{Patients: []string{patient}})
	return nil
}

// Replace replaces a patient's grant with g in one transaction: the old
// grant is revoked and g granted, or neither. Keys are delivered to g's
// grantee as Grant delivers them, and the categories of the old grant whose
// readers shrink are rotated as Revoke rotates them. It returns the new
// grant's ID.
func (s *Service) Replace(ctx context.Context, signer Signer, patient, grantID string, g consent.Grant) (string, error) {
	v := s.latest()
	grants, err := v.Grants(patient)
	if err != nil {
		return "", err
	}
	old := grants.Find(grantID)
	if old == nil {
		return "", fmt.Errorf("%w: %s has no grant %s", ledger.ErrNotFound, patient, grantID)
	}
	if g.Patient == "" {
		g.Patient = patient
	}
	body := &tx.ConsentReplace{Revoke: tx.ConsentRevoke{GrantID: grantID}, Grant: tx.ConsentGrant{Grant: g}}
	if signer.ID != patient {
		body.Revoke.Patient = patient
	}
	reader := ""
	if slices.Contains(g.Actions, consent.ActionRead) {
		if reader, err = v.ReaderOf(g.Grantee); err != nil {
			return "", err
		}
		cats, err := categories(v, g.Categories)
		if err != nil {
			return "", err
		}
		if body.Grant.Wraps, err = s.deliver(v, patient, signer.ID, reader, cats); err != nil {
			return "", err
		}
	}
	oldCats, err := categories(v, old.Categories)
	if err != nil {
		return "", err
	}
	w := ledger.Without{Grant: grantID, Replacement: &g}
	if body.Revoke.Rotations, err = s.rotations(v, patient, oldCats, w, reader, body.Grant.Wraps); err != nil {
		return "", err
	}
	out, err := s.submit(ctx, signer, tx.TypeConsentReplace, body)
	if err != nil {
		return "", err
	}
	s.indexNow(ledger.Changes{Patients: []string{patient}})
	return ledger.GrantID(out.Hash), nil
}

// Delegate names delegate (a person with their own key) to grant and revoke
// consent for patient, delivering them the current keys.
func (s *Service) Delegate(ctx context.Context, patient Signer, delegate string) error {
	v := s.latest()
	cats, err := v.Categories()
	if err != nil {
		return err
	}
	body := &tx.ConsentDelegate{Delegate: delegate}
	if body.Wraps, err = s.deliver(v, patient.ID, patient.ID, delegate, cats); err != nil {
		return err
	}
	_, err = s.submit(ctx, patient, tx.TypeConsentDelegate, body)
	return err
}

// RemoveDelegate removes a delegate and rotates the keys they held.
func (s *Service) RemoveDelegate(ctx context.Context, patient Signer, delegate string) error {
	v := s.latest()
	cats, err := v.Categories()
	if err != nil {
		return err
	}
	body := &tx.ConsentDelegate{Delegate: delegate, Revoke: true}
	if body.Rotations, err = s.rotations(v, patient.ID, cats, ledger.Without{Delegate: delegate}, "", nil); err != nil {
		return err
	}
	_, err = s.submit(ctx, patient, tx.TypeConsentDelegate, body)
	return err
}

// SetEmergencyRule submits a patient's break-glass rule, delivering the
// current epoch keys to the organizations it admits (escrow).
func (s *Service) SetEmergencyRule(ctx context.Context, patient Signer, rule consent.EmergencyRule) error {
	v := s.latest()
	cats, err := v.Categories()
	if err != nil {
		return err
	}
	orgs, err := v.Organizations()
	if err != nil {
		return err
	}
	body := &tx.EmergencySet{Rule: rule}
	for _, o := range orgs {
		if len(o.EncryptionKey) == 0 || !rule.Admits(o.Type) {
			continue
		}
		wraps, err := s.deliver(v, patient.ID, patient.ID, o.ID, slices.DeleteFunc(slices.Clone(cats), func(c string) bool { return !rule.Covers(c) }))
		if err != nil {
			return err
		}
		for _, w := range wraps {
			body.Wraps = append(body.Wraps, tx.EscrowWrap{Category: w.Category, Epoch: w.Epoch, Org: o.ID, Wrapped: w.Wrapped})
		}
	}
	_, err = s.submit(ctx, patient, tx.TypeEmergencySet, body)
	return err
}

// ClearEmergencyRule removes a patient's break-glass rule and rotates the
// keys of every category whose readers shrink once the organizations that
// held them in escrow for it need them no longer.
func (s *Service) ClearEmergencyRule(ctx context.Context, patient Signer) error {
	v := s.latest()
	cats, err := v.Categories()
	if err != nil {
		return err
	}
	body := &tx.EmergencyClear{}
	if body.Rotations, err = s.rotations(v, patient.ID, cats, ledger.Without{Emergency: true}, "", nil); err != nil {
		return err
	}
	_, err = s.submit(ctx, patient, tx.TypeEmergencyClear, body)
	return err
}

// InvokeEmergency asks for break-glass access to a patient's records. The
// ledger grants it under the patient's rule or refuses (ErrRejected). The
// attempt is in the patient's access log either way.
func (s *Service) InvokeEmergency(ctx context.Context, practitioner Signer, patient, reason string) error {
	v := s.latest()
	body := &tx.EmergencyInvoke{Patient: patient}
	var err error
	if reason != "" {
		body.SealedReason, err = sealToPatient(v, patient, emergencyReasonContext, practitioner.ID, []byte(reason))
	}
	if err == nil {
		_, err = s.submit(ctx, practitioner, tx.TypeEmergencyInvoke, body)
	}
	decision, why := carechain.DecisionAllow, "emergency access granted under the patient's rule"
	if err != nil {
		decision, why = carechain.DecisionDeny, err.Error()
	}
	lerr := s.record(ctx, v, Event{
		Requester: practitioner.ID, Patient: patient, Purpose: string(consent.PurposeEmergency), Action: "emergency-access",
		Decision: decision, Reason: why + "; stated reason: " + reason, Emergency: true,
	})
	return cmp.Or(err, lerr)
}
