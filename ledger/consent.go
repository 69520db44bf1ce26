package ledger

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Consent state transitions: grants, revocations (with key rotation),
// delegates and emergency access.

func init() {
	handle(tx.TypeConsentGrant, (*App).applyConsentGrant)
	handle(tx.TypeConsentRevoke, (*App).applyConsentRevoke)
	handle(tx.TypeConsentReplace, (*App).applyConsentReplace)
	handle(tx.TypeConsentDelegate, (*App).applyConsentDelegate)
	handle(tx.TypeEmergencySet, (*App).applyEmergencySet)
	handle(tx.TypeEmergencyInvoke, (*App).applyEmergencyInvoke)
	handle(tx.TypeEmergencyClear, (*App).applyEmergencyClear)
}

// GrantID is the ID the ledger gives the grant of the consent.grant
// transaction with hash h.
func GrantID(h [32]byte) string { return "g-" + hex.EncodeToString(h[:6]) }

// emergencyGrantID names the grant of an emergency.invoke. The prefix only
// keeps IDs apart; StoredGrant.Emergency is what marks such a grant.
func emergencyGrantID(h [32]byte) string { return "e-" + hex.EncodeToString(h[:6]) }

func delegateKey(patient, delegate string) string { return "delegate/" + patient + "/" + delegate }

// actsFor reports whether signer may manage patient's consents: the patient,
// or a delegate the patient named.
func actsFor(r reader, signer *carechain.Principal, patient string) *Rejection {
	if signer.Kind == carechain.KindPatient && signer.ID == patient {
		return nil
	}
	if _, err := r.Get(delegateKey(patient, signer.ID)); err == nil {
		return nil
	}
	return reject(CodeUnauthorized, "only %s or a delegate they named manages their consents", patient)
}

func (a *App) applyConsentGrant(b *store.Block, c *checked, body *tx.ConsentGrant) *Rejection {
	return addGrant(b, c, body)
}

// addGrant stores the grant of body, with the ID of c's transaction, and
// the keys it delivers.
func addGrant(b *store.Block, c *checked, body *tx.ConsentGrant) *Rejection {
	g := body.Grant
	if rej := actsFor(b, c.signer, g.Patient); rej != nil {
		return rej
	}
	rd, err := readerOf(b, g.Grantee)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "grantee %s is not registered", g.Grantee)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if g.Grantee.Org != "" {
		if _, err := getOrg(b, g.Grantee.Org); err != nil {
			return reject(CodeInvalid, "organization %q does not exist", g.Grantee.Org)
		}
	}
	if rej := checkNotRemoved(b, rd); rej != nil {
		return rej
	}
	reads := slices.Contains(g.Actions, consent.ActionRead)
	if reads && len(g.Categories) == 0 {
		return reject(CodeInvalid, "a read grant names its categories (or %q): keys are delivered per category", consent.AnyCategory)
	}
	g.ID = GrantID(c.Hash)
	if rej := checkStudyConsent(b, &g); rej != nil {
		return rej
	}
	if reads {
		cats, err := patientCategories(b, g.Patient, g.Categories)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if rej := deliverWraps(b, g.Patient, rd, cats, body.Wraps); rej != nil {
			return rej
		}
	} else if len(body.Wraps) > 0 {
		return reject(CodeInvalid, "a grant without read carries no keys")
	}
	if err := setLogged(b, grantKey(g.Patient, g.ID), StoredGrant{Grant: g, Height: b.Height()}, tlog.KindConsent, g.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// deliverWraps stores, for each category with an epoch that reader cannot
// read yet, the wrap of its current key to reader; it requires exactly those wraps.
func deliverWraps(b *store.Block, patient, reader string, cats []string, wraps []tx.CategoryWrap) *Rejection {
	if rej := checkNotRemoved(b, reader); rej != nil {
		return rej
	}
	if k, err := readerKey(b, reader); err != nil || len(k) == 0 {
		return reject(CodeInvalid, "reader %s has no encryption key", reader)
	}
	byCat := map[string]tx.CategoryWrap{}
	for _, w := range wraps {
		byCat[w.Category] = w
	}
	used := 0
	for _, cat := range cats {
		cur, err := getEpoch(b, patient, cat)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if cur.Epoch == 0 || slices.Contains(cur.Readers, reader) {
			continue
		}
		w, ok := byCat[cat]
		if !ok || w.Epoch != cur.Epoch {
			return reject(CodeInvalid, "missing the key of %s/%s epoch %d wrapped to %s", patient, cat, cur.Epoch, reader)
		}
		used++
		if rej := checkWrapCurrent(b, reader, w.Wrapped); rej != nil {
			return rej
		}
		if err := b.Set(wrapKey(patient, cat, cur.Epoch, reader), w.Wrapped); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		cur.Readers = consent.AddReaders(cur.Readers, reader)
		if err := setCBOR(b, epochKey(patient, cat), cur); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	if used != len(wraps) {
		return reject(CodeInvalid, "%d wraps given, %d needed", len(wraps), used)
	}
	return nil
}

// patientCategories expands a category list (possibly AnyCategory) to
// categories, sorted; AnyCategory means the patient's categories with epochs.
func patientCategories(r reader, patient string, cats []string) ([]string, error) {
	if !slices.Contains(cats, consent.AnyCategory) {
		out := slices.Clone(cats)
		slices.Sort(out)
		return out, nil
	}
	var out []string
	prefix := "epoch/" + patient + "/"
	err := scanKeys(r, prefix, func(key string) { out = append(out, strings.TrimPrefix(key, prefix)) })
	return out, err
}

func (a *App) applyConsentRevoke(b *store.Block, c *checked, body *tx.ConsentRevoke) *Rejection {
	sg, rej := revokeGrant(b, c, body)
	if rej != nil {
		return rej
	}
	// Every category whose readers shrink starts a new epoch.
	cats, err := patientCategories(b, sg.Patient, sg.Categories)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return rotateShrunk(b, sg.Patient, cats, body.Rotations, c.now, "revoking "+body.GrantID)
}

// revokeGrant marks the grant body names revoked, if the signer manages the
// patient's consents, and returns it. The rotations are the caller's to apply.
func revokeGrant(b *store.Block, c *checked, body *tx.ConsentRevoke) (*StoredGrant, *Rejection) {
	patient := body.Patient
	if patient == "" {
		patient = c.signer.ID
	}
	if rej := actsFor(b, c.signer, patient); rej != nil {
		return nil, rej
	}
	var sg StoredGrant
	if err := getCBOR(b, grantKey(patient, body.GrantID), &sg); errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInvalid, "%s has no grant %s", patient, body.GrantID)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if sg.Revoked {
		return nil, reject(CodeInvalid, "grant %s is already revoked", body.GrantID)
	}
	if err := storeRevoked(b, patient, &sg, c.now); err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	return &sg, nil
}

// storeRevoked marks sg, a grant of patient, revoked at now and stores it,
// logged as revoked. Revoking a study consent is withdrawing from the
// study at this height (studyconsent.go).
func storeRevoked(b *store.Block, patient string, sg *StoredGrant, now int64) error {
	sg.Revoked, sg.RevokedAt = true, now
	if sg.Study != "" {
		sg.WithdrawnHeight = b.Height()
	}
	return setLogged(b, grantKey(patient, sg.ID), *sg, tlog.KindConsent, sg.ID+"/revoked")
}

// applyConsentReplace revokes a grant and makes its replacement in one
// step. The new grant delivers its keys first, so the rotations the old
// grant's categories need are to the readers required with the new grant
// in force: a replacement that covers as much needs none.
func (a *App) applyConsentReplace(b *store.Block, c *checked, body *tx.ConsentReplace) *Rejection {
	old, rej := revokeGrant(b, c, &body.Revoke)
	if rej != nil {
		return rej
	}
	if old.Emergency {
		return reject(CodeInvalid, "grant %s is emergency access, which the patient's rule made: revoke it rather than replace it", old.ID)
	}
	if body.Grant.Grant.Patient != old.Patient {
		return reject(CodeInvalid, "the replacement of a grant of %s must be a grant of %s", old.Patient, old.Patient)
	}
	if rej := addGrant(b, c, &body.Grant); rej != nil {
		return rej
	}
	cats, err := patientCategories(b, old.Patient, old.Categories)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return rotateShrunk(b, old.Patient, cats, body.Revoke.Rotations, c.now, "replacing "+old.ID)
}

// rotateShrunk requires, for each of cats whose required readers no longer
// match its epoch's readers, exactly one rotation to a new epoch wrapped to
// the required readers, and applies them.
func rotateShrunk(b *store.Block, patient string, cats []string, rotations []tx.NewEpoch, now int64, what string) *Rejection {
	rot := map[string]*tx.NewEpoch{}
	for i := range rotations {
		rot[rotations[i].Category] = &rotations[i]
	}
	used := 0
	for _, cat := range cats {
		cur, err := getEpoch(b, patient, cat)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if cur.Epoch == 0 {
			continue
		}
		want, err := requiredReaders(b, patient, cat, now)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if slices.Equal(want, cur.Readers) {
			continue
		}
		ne, ok := rot[cat]
		if !ok {
			return reject(CodeInvalid, "%s shrinks the readers of %s: rotate it to epoch %d wrapped to %v", what, cat, cur.Epoch+1, want)
		}
		used++
		if rej := startEpoch(b, patient, cur, ne, want); rej != nil {
			return rej
		}
	}
	if used != len(rotations) {
		return reject(CodeInvalid, "%d rotations given, %d needed", len(rotations), used)
	}
	return nil
}

func (a *App) applyConsentDelegate(b *store.Block, c *checked, body *tx.ConsentDelegate) *Rejection {
	if c.signer.Kind != carechain.KindPatient {
		return reject(CodeUnauthorized, "only the patient names or removes their delegates")
	}
	patient := c.signer.ID
	d, err := getPrincipal(b, body.Delegate)
	if err != nil || d.Kind != carechain.KindPatient || d.ID == patient {
		return reject(CodeInvalid, "delegate %s must be another registered person with their own key", body.Delegate)
	}
	cats, err := patientCategories(b, patient, []string{consent.AnyCategory})
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	_, getErr := b.Get(delegateKey(patient, body.Delegate))
	if body.Revoke {
		if getErr != nil {
			return reject(CodeInvalid, "%s is not a delegate of %s", body.Delegate, patient)
		}
		if err := b.Delete(delegateKey(patient, body.Delegate)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if err := logLeaf(b, tlog.KindConsent, "delegate/"+identityLogKey(body.Delegate, b.Height())+"/revoked", delegateKey(patient, body.Delegate), nil); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		return rotateShrunk(b, patient, cats, body.Rotations, c.now, "removing delegate "+body.Delegate)
	}
	if getErr == nil {
		return reject(CodeInvalid, "%s is already a delegate of %s", body.Delegate, patient)
	}
	if err := setLogged(b, delegateKey(patient, body.Delegate), body.Delegate, tlog.KindConsent, "delegate/"+identityLogKey(body.Delegate, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return deliverWraps(b, patient, body.Delegate, cats, body.Wraps)
}

func (a *App) applyEmergencySet(b *store.Block, c *checked, body *tx.EmergencySet) *Rejection {
	if c.signer.Kind != carechain.KindPatient {
		return reject(CodeUnauthorized, "only the patient sets their emergency rule")
	}
	patient := c.signer.ID
	if err := setLogged(b, emergencyKey(patient), body.Rule, tlog.KindConsent, "emergency-rule/"+identityLogKey(patient, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	cats, err := patientCategories(b, patient, []string{consent.AnyCategory})
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	byOrg := map[string][]tx.CategoryWrap{}
	for _, w := range body.Wraps {
		byOrg[w.Org] = append(byOrg[w.Org], tx.CategoryWrap{Category: w.Category, Epoch: w.Epoch, Wrapped: w.Wrapped})
	}
	delivered := 0
	for _, cat := range cats {
		orgs, err := escrowOrgs(b, patient, cat)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		for _, o := range orgs {
			var ws []tx.CategoryWrap
			for _, w := range byOrg[o] {
				if w.Category == cat {
					ws = append(ws, w)
				}
			}
			if rej := deliverWraps(b, patient, o, []string{cat}, ws); rej != nil {
				return rej
			}
			delivered += len(ws)
		}
	}
	if delivered != len(body.Wraps) {
		return reject(CodeInvalid, "%d escrow wraps given, %d needed", len(body.Wraps), delivered)
	}
	return nil
}

// applyEmergencyClear removes the signer's emergency rule. The
// organizations that held keys in escrow for it need them no longer, so
// every category whose readers shrink starts a new epoch.
func (a *App) applyEmergencyClear(b *store.Block, c *checked, body *tx.EmergencyClear) *Rejection {
	if c.signer.Kind != carechain.KindPatient {
		return reject(CodeUnauthorized, "only the patient clears their emergency rule")
	}
	patient := c.signer.ID
	var rule consent.EmergencyRule
	if err := getCBOR(b, emergencyKey(patient), &rule); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "%s has set no emergency rule", patient)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := b.Delete(emergencyKey(patient)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := logLeaf(b, tlog.KindConsent, "emergency-rule/"+identityLogKey(patient, b.Height())+"/cleared", emergencyKey(patient), nil); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	cats, err := patientCategories(b, patient, []string{consent.AnyCategory})
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return rotateShrunk(b, patient, cats, body.Rotations, c.now, "clearing the emergency rule")
}

func (a *App) applyEmergencyInvoke(b *store.Block, c *checked, body *tx.EmergencyInvoke) *Rejection {
	var rule consent.EmergencyRule
	if err := getCBOR(b, emergencyKey(body.Patient), &rule); errors.Is(err, ErrNotFound) {
		return reject(CodeDenied, "%s has set no emergency rule", body.Patient)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	org, err := getOrg(b, c.signer.Org)
	if err != nil {
		return reject(CodeUnauthorized, "%s belongs to no organization", c.signer.ID)
	}
	if policy, err := rolePolicyOf(b, c.signer.Org); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if !policy.MayBreakGlass(c.signer) {
		return reject(CodeDenied, "emergency access for %s refused: the role policy of %s lets none of its roles %v break the glass", c.signer.ID, c.signer.Org, c.signer.Roles)
	}
	given := "" // the rule sees only whether a reason was given: its text is sealed to the patient
	if len(body.SealedReason) > 0 {
		given = "(sealed to the patient)"
	}
	g, err := rule.Authorize(c.signer, org.Type, given, c.now)
	if err != nil {
		return reject(CodeDenied, "emergency access for %s refused: %v", c.signer.ID, err)
	}
	g.ID = emergencyGrantID(c.Hash)
	g.Patient = body.Patient
	if err := setLogged(b, grantKey(body.Patient, g.ID), StoredGrant{Grant: *g, Emergency: true, SealedReason: body.SealedReason, Height: b.Height()}, tlog.KindConsent, g.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
