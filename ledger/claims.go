package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Claim rules. An insurer's admin publishes its plans' rules (claims.rules),
// one version after another; a version applies from the height that
// commits it. A provider's staff, in a role its organization's policy lets
// write billing records, submits a claim (claim.submit) to an insurer's
// plan that has rules: the ledger keeps the sealed claim and the plain
// facts its rules need (patient, insurer, plan, use, the prior
// authorizations it relies on, a commitment hash), refuses a commitment
// seen before (the same claim twice: CodeConflict), and fixes the rules
// version in force at the claim's height. A member of the insurer (its
// node, or a claims officer) posts the adjudication (claim.adjudicate),
// once, naming the sealed claim's hash and that rules version.
//
// What this puts on the ledger in plain: who claims from whom under which
// plan, when, whether for a prior authorization, and the outcome
// (approved, partial, denied); never codes, quantities or amounts, which
// are sealed to the patient, the insurer and the provider. None of these
// transaction types existed before: earlier blocks replay unchanged.

func init() {
	handle(tx.TypePlanRules, (*App).applyPlanRules)
	handle(tx.TypeClaimSubmit, (*App).applyClaimSubmit)
	handle(tx.TypeClaimAdjudicate, (*App).applyClaimAdjudicate)
}

// PlanRulesVersion is one version of a plan's rules, stored at
// "planrules-version/<org>/<plan>/<version>".
type PlanRulesVersion struct {
	Org     string `cbor:"1,keyasint" json:"org"`
	Plan    string `cbor:"2,keyasint" json:"plan"`
	Version uint64 `cbor:"3,keyasint" json:"version"`
	Rules   []byte `cbor:"4,keyasint" json:"rules"` // a claims.Rules JSON document
	Author  string `cbor:"5,keyasint" json:"author"`
	Height  int64  `cbor:"6,keyasint" json:"height"` // it applies from this height on
	Time    int64  `cbor:"7,keyasint" json:"time"`
	// Limits: the rules limit usage per year, so adjudications under them
	// carry usage commitments (claims/usage.go).
	Limits bool `cbor:"8,keyasint,omitempty" json:"limits,omitempty"`
}

// ClaimState is a submitted claim, stored at "claim/<id>".
type ClaimState struct {
	ID           string   `cbor:"1,keyasint"`
	Patient      string   `cbor:"2,keyasint"`
	Submitter    string   `cbor:"3,keyasint"` // the principal who signed it
	SubmitterOrg string   `cbor:"4,keyasint"`
	Insurer      string   `cbor:"5,keyasint"`
	Plan         string   `cbor:"6,keyasint"`
	Use          string   `cbor:"7,keyasint"`
	Commitment   []byte   `cbor:"8,keyasint"`
	PreAuths     []string `cbor:"9,keyasint,omitempty"`
	// RulesVersion is the version of the plan's rules in force at Height:
	// the one its adjudication must apply.
	RulesVersion uint64 `cbor:"10,keyasint"`
	Sealed       []byte `cbor:"11,keyasint"`
	SealedHash   []byte `cbor:"12,keyasint"`
	Height       int64  `cbor:"13,keyasint"`
	Time         int64  `cbor:"14,keyasint"`
}

// Adjudication is a claim's adjudication, stored at "adjudication/<claim>".
type Adjudication struct {
	Claim        string `cbor:"1,keyasint"`
	Insurer      string `cbor:"2,keyasint"`
	Signer       string `cbor:"3,keyasint"`
	ClaimHash    []byte `cbor:"4,keyasint"`
	RulesVersion uint64 `cbor:"5,keyasint"`
	Outcome      string `cbor:"6,keyasint"`
	Sealed       []byte `cbor:"7,keyasint"`
	SealedHash   []byte `cbor:"8,keyasint"`
	Height       int64  `cbor:"9,keyasint"`
	Time         int64  `cbor:"10,keyasint"`
	// Under rules with limits per year: the usage commitments it started
	// from (none for the year's first claim) and posted.
	PrevUsage []byte `cbor:"11,keyasint,omitempty"`
	Usage     []byte `cbor:"12,keyasint,omitempty"`
}

func planHeadKey(org, plan string) string { return "planrules/" + org + "/" + plan }
func planVersionKey(org, plan string, v uint64) string {
	return fmt.Sprintf("planrules-version/%s/%s/%020d", org, plan, v)
}
func claimKey(id string) string                 { return "claim/" + id }
func claimCommitKey(c []byte) string            { return "claimcommit/" + hex.EncodeToString(c) }
func adjudicationKey(id string) string          { return "adjudication/" + id }
func claimPendingKey(insurer, id string) string { return "claim-pending/" + insurer + "/" + id }
func patientClaimKey(patient, id string) string { return "patient-claim/" + patient + "/" + id }

// PlanRules returns version (0: the latest) of a plan's rules
// (ErrNotFound if none).
func (v *View) PlanRules(org, plan string, version uint64) (*PlanRulesVersion, error) {
	return planRules(v, org, plan, version)
}

func planRules(r reader, org, plan string, version uint64) (*PlanRulesVersion, error) {
	if version == 0 {
		if err := getCBOR(r, planHeadKey(org, plan), &version); err != nil {
			return nil, fmt.Errorf("rules of plan %s/%s: %w", org, plan, err)
		}
	}
	var pv PlanRulesVersion
	if err := getCBOR(r, planVersionKey(org, plan, version), &pv); err != nil {
		return nil, fmt.Errorf("rules of plan %s/%s version %d: %w", org, plan, version, err)
	}
	return &pv, nil
}

// Claim returns a submitted claim (ErrNotFound if none).
func (v *View) Claim(id string) (*ClaimState, error) {
	var c ClaimState
	if err := getCBOR(v, claimKey(id), &c); err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	return &c, nil
}

// Adjudication returns a claim's adjudication (ErrNotFound if none yet).
func (v *View) Adjudication(claim string) (*Adjudication, error) {
	var a Adjudication
	if err := getCBOR(v, adjudicationKey(claim), &a); err != nil {
		return nil, fmt.Errorf("adjudication of claim %s: %w", claim, err)
	}
	return &a, nil
}

// PendingClaims lists the ids of the claims to insurer not yet adjudicated.
func (v *View) PendingClaims(insurer string) ([]string, error) {
	prefix := claimPendingKey(insurer, "")
	var out []string
	err := scanKeys(v, prefix, func(k string) { out = append(out, k[len(prefix):]) })
	return out, err
}

// InsurerClaims lists the claims to insurer, pending or decided, by id.
// It reads every claim's state (the ledger keeps no index by insurer for
// decided claims): for work queues, not for consensus.
func (v *View) InsurerClaims(insurer string) ([]*ClaimState, error) {
	var ids []string
	if err := scanKeys(v, claimKey(""), func(k string) { ids = append(ids, k[len(claimKey("")):]) }); err != nil {
		return nil, err
	}
	var out []*ClaimState
	for _, id := range ids {
		c, err := v.Claim(id)
		if err != nil {
			return nil, err
		}
		if c.Insurer == insurer {
			out = append(out, c)
		}
	}
	return out, nil
}

// PatientClaims lists the ids of a patient's claims, by id.
func (v *View) PatientClaims(patient string) ([]string, error) {
	prefix := patientClaimKey(patient, "")
	var out []string
	err := scanKeys(v, prefix, func(k string) { out = append(out, k[len(prefix):]) })
	return out, err
}

func (a *App) applyPlanRules(b *store.Block, c *checked, p *tx.PlanRules) *Rejection {
	s := c.signer
	org, err := getOrg(b, s.Org)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if s.Kind != carechain.KindAdmin || org.Type != carechain.OrgInsurer {
		return reject(CodeUnauthorized, "%s may not publish plan rules: only an insurer's admin may", s.ID)
	}
	var latest uint64
	if err := getCBOR(b, planHeadKey(s.Org, p.Plan), &latest); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if p.Version != latest+1 {
		return reject(CodeStaleVersion, "plan %s/%s is at version %d: publish version %d", s.Org, p.Plan, latest, latest+1)
	}
	rules, err := claims.ParseRules(p.Rules)
	if err != nil {
		return reject(CodeInvalid, "%v", err)
	}
	pv := PlanRulesVersion{Org: s.Org, Plan: p.Plan, Version: p.Version, Rules: p.Rules, Author: s.ID, Height: b.Height(), Time: c.now,
		Limits: rules.HasLimits()}
	if err := setCBOR(b, planHeadKey(s.Org, p.Plan), p.Version); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	logKey := fmt.Sprintf("rules/%s/%s/%d", s.Org, p.Plan, p.Version)
	if err := setLogged(b, planVersionKey(s.Org, p.Plan, p.Version), pv, tlog.KindClaims, logKey); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyClaimSubmit(b *store.Block, c *checked, cs *tx.ClaimSubmit) *Rejection {
	if rej := maySubmitClaim(b, c.signer, cs); rej != nil {
		return rej
	}
	rules, err := planRules(b, cs.Insurer, cs.Plan, 0)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "%s publishes no rules for plan %s: no coverage to claim under", cs.Insurer, cs.Plan)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := getCBOR(b, claimKey(cs.ID), &ClaimState{}); err == nil {
		return reject(CodeConflict, "claim %s exists", cs.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	var dup string
	if err := getCBOR(b, claimCommitKey(cs.Commitment), &dup); err == nil {
		return reject(CodeConflict, "a duplicate claim: claim %s already claims the same services", dup)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	for _, ref := range cs.PreAuths {
		if rej := checkPreAuth(b, cs, ref); rej != nil {
			return rej
		}
	}
	sum := sha256.Sum256(cs.Sealed)
	st := ClaimState{ID: cs.ID, Patient: cs.Patient, Submitter: c.signer.ID, SubmitterOrg: c.signer.Org, Insurer: cs.Insurer,
		Plan: cs.Plan, Use: cs.Use, Commitment: cs.Commitment, PreAuths: cs.PreAuths, RulesVersion: rules.Version,
		Sealed: cs.Sealed, SealedHash: sum[:], Height: b.Height(), Time: c.now}
	if err := setLogged(b, claimKey(cs.ID), st, tlog.KindClaims, "claim/"+cs.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for _, kv := range []struct{ k, v string }{{claimCommitKey(cs.Commitment), cs.ID}, {claimPendingKey(cs.Insurer, cs.ID), cs.ID},
		{patientClaimKey(cs.Patient, cs.ID), cs.ID}} {
		if err := setCBOR(b, kv.k, kv.v); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

// maySubmitClaim checks the signer (staff whose role may write billing
// records), the patient (registered, with an encryption key) and the
// insurer (an insurer organization of the consortium).
func maySubmitClaim(b *store.Block, s *carechain.Principal, cs *tx.ClaimSubmit) *Rejection {
	if s.Kind != carechain.KindPractitioner {
		return reject(CodeUnauthorized, "%s may not submit claims: a provider's staff does", s.ID)
	}
	policy, err := rolePolicyOf(b, s.Org)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if ok, why := policy.Permits(s, consent.ActionWrite, "billing", consent.PurposeBilling, false); !ok {
		return reject(CodeUnauthorized, "%s may not submit claims: %s", s.ID, why)
	}
	p, err := getPrincipal(b, cs.Patient)
	if errors.Is(err, ErrNotFound) || err == nil && (p.Kind != carechain.KindPatient || len(p.EncryptionKey) == 0) {
		return reject(CodeInvalid, "%q is not a registered patient with an encryption key", cs.Patient)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	o, err := getOrg(b, cs.Insurer)
	if errors.Is(err, ErrNotFound) || err == nil && o.Type != carechain.OrgInsurer {
		return reject(CodeInvalid, "%q is not an insurer of the consortium", cs.Insurer)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// checkPreAuth checks that ref is a prior authorization of the same
// patient, insurer and plan, adjudicated and not denied.
func checkPreAuth(b *store.Block, cs *tx.ClaimSubmit, ref string) *Rejection {
	var pa ClaimState
	if err := getCBOR(b, claimKey(ref), &pa); errors.Is(err, ErrNotFound) || err == nil &&
		(pa.Use != claims.UsePreauthorization || pa.Patient != cs.Patient || pa.Insurer != cs.Insurer || pa.Plan != cs.Plan) {
		return reject(CodeInvalid, "%s is not a prior authorization of %s under %s/%s", ref, cs.Patient, cs.Insurer, cs.Plan)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	var adj Adjudication
	if err := getCBOR(b, adjudicationKey(ref), &adj); errors.Is(err, ErrNotFound) || err == nil && adj.Outcome == claims.OutcomeDenied {
		return reject(CodeInvalid, "prior authorization %s is not approved", ref)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyClaimAdjudicate(b *store.Block, c *checked, ad *tx.ClaimAdjudicate) *Rejection {
	var cl ClaimState
	if err := getCBOR(b, claimKey(ad.Claim), &cl); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "claim %s does not exist", ad.Claim)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	s := c.signer
	if s.Org != cl.Insurer || s.Kind != carechain.KindNode && !(s.Kind == carechain.KindPractitioner && s.HasRole(carechain.RoleClaimsOfficer)) {
		return reject(CodeUnauthorized, "%s may not adjudicate claim %s: its insurer %s's node or claims officers do", s.ID, cl.ID, cl.Insurer)
	}
	if err := getCBOR(b, adjudicationKey(ad.Claim), &Adjudication{}); err == nil {
		return reject(CodeConflict, "claim %s is already adjudicated", ad.Claim)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if string(ad.ClaimHash) != string(cl.SealedHash) || ad.RulesVersion != cl.RulesVersion {
		return reject(CodeInvalid, "claim %s is decided under rules version %d with hash %x", cl.ID, cl.RulesVersion, cl.SealedHash)
	}
	if rej := advanceUsage(b, &cl, ad); rej != nil {
		return rej
	}
	sum := sha256.Sum256(ad.Sealed)
	st := Adjudication{Claim: cl.ID, Insurer: cl.Insurer, Signer: s.ID, ClaimHash: ad.ClaimHash, RulesVersion: ad.RulesVersion,
		Outcome: ad.Outcome, Sealed: ad.Sealed, SealedHash: sum[:], Height: b.Height(), Time: c.now, PrevUsage: ad.PrevUsage, Usage: ad.Usage}
	if err := setLogged(b, adjudicationKey(cl.ID), st, tlog.KindClaims, "adjudication/"+cl.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := b.Delete(claimPendingKey(cl.Insurer, cl.ID)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
