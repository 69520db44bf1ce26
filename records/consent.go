package records

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Consent: grants, revocations, delegates and emergency access, with the
// key wraps the ledger requires.

// Grant submits a consent for g.Patient (the signer, if empty), signed by
// the patient or a delegate they named. For read grants it unwraps, with the
// signer's key from the keyring, the current epoch keys of the granted
// categories and wraps them to the grantee's reader. It returns the grant ID.
func (s *Service) Grant(ctx context.Context, signer Signer, g consent.Grant) (string, error) {
	app := s.chain.App()
	if g.Patient == "" {
		g.Patient = signer.ID
	}
	patient := Signer{ID: g.Patient}
	body := &tx.ConsentGrant{Grant: g}
	if slices.Contains(g.Actions, consent.ActionRead) {
		reader, err := s.readerOf(g.Grantee)
		if err != nil {
			return "", err
		}
		cats, err := s.categories(patient.ID, g.Categories)
		if err != nil {
			return "", err
		}
		for _, cat := range cats {
			cur, err := app.Epoch(patient.ID, cat)
			if err != nil {
				return "", err
			}
			if cur.Epoch == 0 || slices.Contains(cur.Readers, reader) {
				continue
			}
			ek, err := s.epochKey(patient.ID, cat, cur.Epoch, signer.ID)
			if err != nil {
				return "", err
			}
			w, err := s.wrapTo(reader, ek, patient.ID, cat, cur.Epoch)
			if err != nil {
				return "", err
			}
			body.Wraps = append(body.Wraps, tx.CategoryWrap{Category: cat, Epoch: cur.Epoch, Wrapped: w})
		}
	}
	out, err := s.submit(ctx, signer, tx.TypeConsentGrant, body)
	if err != nil {
		return "", err
	}
	// The ledger names the grant after the transaction hash.
	return "g-" + hex.EncodeToString(out.Hash[:6]), nil
}

func (s *Service) readerOf(g consent.Grantee) (string, error) {
	if g.Org != "" {
		return g.Org, nil
	}
	p, err := s.chain.App().Principal(g.Principal, 0)
	if err != nil {
		return "", err
	}
	if p.Kind == carechain.KindPatient {
		return p.ID, nil
	}
	return p.Org, nil
}

// categories expands AnyCategory to the chain's categories.
func (s *Service) categories(patient string, cats []string) ([]string, error) {
	if !slices.Contains(cats, consent.AnyCategory) {
		return cats, nil
	}
	return s.chain.App().Categories()
}

// Revoke revokes a patient's grant, signed by the patient or a delegate, and
// rotates the keys of every category whose readers shrink, so versions
// written from now on are unreadable to the revoked party.
func (s *Service) Revoke(ctx context.Context, signer Signer, patientID, grantID string) error {
	app := s.chain.App()
	patient := Signer{ID: patientID}
	grants, err := app.Grants(patient.ID)
	if err != nil {
		return err
	}
	idx := slices.IndexFunc(grants, func(g ledger.StoredGrant) bool { return g.ID == grantID })
	if idx < 0 {
		return fmt.Errorf("%s has no grant %s", patient.ID, grantID)
	}
	cats, err := s.categories(patient.ID, grants[idx].Categories)
	if err != nil {
		return err
	}
	body := &tx.ConsentRevoke{GrantID: grantID}
	if signer.ID != patientID {
		body.Patient = patientID
	}
	now := s.now().Unix()
	for _, cat := range cats {
		cur, err := app.Epoch(patient.ID, cat)
		if err != nil {
			return err
		}
		if cur.Epoch == 0 {
			continue
		}
		want, err := s.readersWithout(patient.ID, cat, grants, grantID, now)
		if err != nil {
			return err
		}
		if slices.Equal(want, cur.Readers) {
			continue
		}
		_, ne, err := s.newEpoch(patient.ID, cat, cur.Epoch+1, want)
		if err != nil {
			return err
		}
		body.Rotations = append(body.Rotations, *ne)
	}
	_, err = s.submit(ctx, signer, tx.TypeConsentRevoke, body)
	return err
}

// readersWithout is the readers a category must have once grantID is revoked.
func (s *Service) readersWithout(patient, cat string, grants []ledger.StoredGrant, grantID string, now int64) ([]string, error) {
	all, err := s.chain.App().RequiredReaders(patient, cat, now)
	if err != nil {
		return nil, err
	}
	revoked := grants[slices.IndexFunc(grants, func(g ledger.StoredGrant) bool { return g.ID == grantID })]
	gone, err := s.readerOf(revoked.Grantee)
	if err != nil {
		return nil, err
	}
	// Keep the reader if anything else still requires it.
	for _, g := range grants {
		if g.ID == grantID || g.Revoked || (g.NotAfter != 0 && g.NotAfter <= now) || !slices.Contains(g.Actions, consent.ActionRead) {
			continue
		}
		if !slices.Contains(g.Categories, cat) && !slices.Contains(g.Categories, consent.AnyCategory) {
			continue
		}
		if rd, err := s.readerOf(g.Grantee); err == nil && rd == gone {
			return all, nil
		}
	}
	escrow, err := s.chain.App().EscrowOrgs(patient, cat)
	if err != nil {
		return nil, err
	}
	if gone == patient || slices.Contains(escrow, gone) || s.isAuthor(patient, cat, gone) {
		return all, nil
	}
	return slices.DeleteFunc(all, func(r string) bool { return r == gone }), nil
}

func (s *Service) isAuthor(patient, cat, org string) bool {
	heads, err := s.chain.App().PatientRecords(patient)
	if err != nil {
		return false
	}
	for _, h := range heads {
		if h.Category != cat {
			continue
		}
		vs, err := s.chain.App().RecordVersions(h.RecordID)
		if err != nil {
			continue
		}
		for _, v := range vs {
			if v.AuthorOrg == org {
				return true
			}
		}
	}
	return false
}

// Delegate names delegate (a person with their own key) to grant and revoke
// consent for patient, delivering them the current keys.
func (s *Service) Delegate(ctx context.Context, patient Signer, delegate string) error {
	app := s.chain.App()
	cats, err := app.Categories()
	if err != nil {
		return err
	}
	body := &tx.ConsentDelegate{Delegate: delegate}
	for _, cat := range cats {
		cur, err := app.Epoch(patient.ID, cat)
		if err != nil {
			return err
		}
		if cur.Epoch == 0 || slices.Contains(cur.Readers, delegate) {
			continue
		}
		ek, err := s.epochKey(patient.ID, cat, cur.Epoch, patient.ID)
		if err != nil {
			return err
		}
		w, err := s.wrapTo(delegate, ek, patient.ID, cat, cur.Epoch)
		if err != nil {
			return err
		}
		body.Wraps = append(body.Wraps, tx.CategoryWrap{Category: cat, Epoch: cur.Epoch, Wrapped: w})
	}
	_, err = s.submit(ctx, patient, tx.TypeConsentDelegate, body)
	return err
}

// RemoveDelegate removes a delegate and rotates the keys they held.
func (s *Service) RemoveDelegate(ctx context.Context, patient Signer, delegate string) error {
	app := s.chain.App()
	cats, err := app.Categories()
	if err != nil {
		return err
	}
	body := &tx.ConsentDelegate{Delegate: delegate, Revoke: true}
	now := s.now().Unix()
	for _, cat := range cats {
		cur, err := app.Epoch(patient.ID, cat)
		if err != nil {
			return err
		}
		if cur.Epoch == 0 || !slices.Contains(cur.Readers, delegate) {
			continue
		}
		want, err := app.RequiredReaders(patient.ID, cat, now)
		if err != nil {
			return err
		}
		want = slices.DeleteFunc(want, func(r string) bool { return r == delegate })
		_, ne, err := s.newEpoch(patient.ID, cat, cur.Epoch+1, want)
		if err != nil {
			return err
		}
		body.Rotations = append(body.Rotations, *ne)
	}
	_, err = s.submit(ctx, patient, tx.TypeConsentDelegate, body)
	return err
}

// SetEmergencyRule submits a patient's break-glass rule, delivering the
// current epoch keys to the organizations it admits (escrow).
func (s *Service) SetEmergencyRule(ctx context.Context, patient Signer, rule consent.EmergencyRule) error {
	app := s.chain.App()
	cats, err := app.Categories()
	if err != nil {
		return err
	}
	body := &tx.EmergencySet{Rule: rule}
	orgs, err := app.Organizations(0)
	if err != nil {
		return err
	}
	for _, cat := range cats {
		cur, err := app.Epoch(patient.ID, cat)
		if err != nil {
			return err
		}
		if cur.Epoch == 0 || (len(rule.Categories) > 0 && !slices.Contains(rule.Categories, cat)) {
			continue
		}
		for _, o := range orgs {
			if len(o.EncryptionKey) == 0 || (len(rule.OrgTypes) > 0 && !slices.Contains(rule.OrgTypes, o.Type)) || slices.Contains(cur.Readers, o.ID) {
				continue
			}
			ek, err := s.epochKey(patient.ID, cat, cur.Epoch, patient.ID)
			if err != nil {
				return err
			}
			w, err := s.wrapTo(o.ID, ek, patient.ID, cat, cur.Epoch)
			if err != nil {
				return err
			}
			body.Wraps = append(body.Wraps, tx.EscrowWrap{Category: cat, Epoch: cur.Epoch, Org: o.ID, Wrapped: w})
		}
	}
	_, err = s.submit(ctx, patient, tx.TypeEmergencySet, body)
	return err
}

// InvokeEmergency asks for break-glass access to a patient's records. The
// ledger grants it under the patient's rule or refuses (ErrRejected). The
// attempt is in the patient's access log either way.
func (s *Service) InvokeEmergency(ctx context.Context, practitioner Signer, patient, reason string) error {
	body := &tx.EmergencyInvoke{Patient: patient}
	var err error
	if reason != "" {
		body.SealedReason, err = s.sealToPatient(patient, "emergency-reason", practitioner.ID, []byte(reason))
	}
	if err == nil {
		_, err = s.submit(ctx, practitioner, tx.TypeEmergencyInvoke, body)
	}
	decision, why := "allow", "emergency access granted under the patient's rule"
	if err != nil {
		decision, why = "deny", err.Error()
	}
	s.record(Event{
		Requester: practitioner.ID, Patient: patient, Purpose: consent.PurposeEmergency, Action: "emergency-access",
		Decision: decision, Reason: why + "; stated reason: " + reason, Emergency: true,
	})
	return err
}
