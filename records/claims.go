package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// Claims. A Claim is sealed to its parties (seal.SealToParties): the
// patient, the submitting organization and the insurer, and is not a
// record: it lives in the ledger's claim state (ledger/claims.go) with the
// plain facts the rules need. Its adjudication, a claims.Result, is sealed
// to the same readers. The binding of both is the claim's id and patient,
// version 1 for the claim and 2 for the adjudication, so neither can be
// passed off as the other. The parties' staff read them in a role their
// organization's policy lets read billing records for billing; the
// patient reads their own; every read is an access event.

// Versions of the seal binding of a claim and of its adjudication.
const (
	claimSealVersion        = 1
	adjudicationSealVersion = 2
)

// ErrClaimRefused wraps a claim refused before it is submitted: no
// coverage, or what the plan's public rules would deny outright.
var ErrClaimRefused = carechain.NewError(carechain.KindInvalid, "claim refused")

// PublishRules publishes the next version of plan's rules, signed by an
// insurer's admin, and returns it.
func (s *Service) PublishRules(ctx context.Context, admin Signer, plan string, rules []byte) (*ledger.PlanRulesVersion, error) {
	p, err := s.latest().Principal(admin.ID)
	if err != nil {
		return nil, err
	}
	version := uint64(1)
	if cur, err := s.latest().PlanRules(p.Org, plan, 0); err == nil {
		version = cur.Version + 1
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	body := &tx.PlanRules{Plan: plan, Version: version, Rules: rules}
	if err := body.Validate(); err != nil {
		return nil, carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, admin, tx.TypePlanRules, body); err != nil {
		return nil, err
	}
	return s.latest().PlanRules(p.Org, plan, version)
}

// SubmittedClaim is a claim written to the ledger.
type SubmittedClaim struct {
	ID     string
	Height int64
}

// SubmitClaim validates a FHIR Claim, reads the Coverage it names (as
// author, for billing: a logged, consent-checked read), checks it against
// the plan's rules in force now, and submits it sealed to the patient, the
// author's organization and the insurer. A claim the rules would deny
// outright (a code they do not cover, a missing prior authorization) is
// refused with the reasons (ErrClaimRefused); the same claim twice is a
// ledger conflict.
func (s *Service) SubmitClaim(ctx context.Context, author Signer, id string, resource []byte) (*SubmittedClaim, error) {
	res, err := s.validator.Parse(resource)
	if err != nil {
		return nil, err
	}
	canonical := res.Canonical()
	defer clear(canonical)
	f, err := ParseClaim(canonical)
	if err != nil {
		return nil, err
	}
	cov, err := s.CoverageOf(ctx, author.ID, f.Coverage, f.Claim.Patient)
	if err != nil {
		return nil, err
	}
	if f.Insurer != "" && f.Insurer != cov.Insurer {
		return nil, fmt.Errorf("%w: Claim.insurer is Organization/%s, but Coverage/%s is paid by %s", ErrClaimRefused, f.Insurer, f.Coverage, cov.Insurer)
	}
	f.Claim.ID, f.Claim.Insurer, f.Claim.Plan = id, cov.Insurer, cov.Plan
	v := s.latest()
	var log []Event
	err = s.precheck(v, author.ID, &f.Claim, &log)
	if lerr := s.record(ctx, v, log...); lerr != nil && err == nil {
		err = lerr
	}
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealToParties(v, canonical, id, claimSealVersion, f.Claim.Patient, author.ID, cov.Insurer)
	if err != nil {
		return nil, err
	}
	body := &tx.ClaimSubmit{ID: id, Patient: f.Claim.Patient, Insurer: cov.Insurer, Plan: cov.Plan, Use: f.Claim.Use,
		Commitment: ClaimCommitment(f), PreAuths: f.Claim.PreAuthRefs, Sealed: sealed}
	if err := body.Validate(); err != nil {
		return nil, carechain.E(carechain.KindInvalid, err)
	}
	out, err := s.submit(ctx, author, tx.TypeClaimSubmit, body)
	if err != nil {
		return nil, err
	}
	return &SubmittedClaim{ID: id, Height: out.Height}, nil
}

// ClaimCommitment is the hash the ledger refuses twice: over the patient,
// the plan, the use and the billable lines (codes, quantities, prices,
// dates, encounters), not over the claim's id or creation time, so the
// same services claimed again are caught.
func ClaimCommitment(f *ClaimFacts) []byte {
	h := sha256.New()
	for _, part := range append([]string{"carechain/claim-commitment/v1", f.Claim.Patient, f.Claim.Insurer, f.Claim.Plan, f.Claim.Use}, f.Billable...) {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return h.Sum(nil)
}

// CoverageOf reads Coverage coverage as requester, for billing (a logged,
// consent-checked read), and checks that it is active, covers patient, and
// names an insurer's plan with rules on the ledger; else ErrClaimRefused
// says there is no coverage.
func (s *Service) CoverageOf(ctx context.Context, requester, coverage, patient string) (*Coverage, error) {
	f := &ClaimFacts{Coverage: coverage, Claim: claims.Claim{Patient: patient}}
	rec, err := s.Read(ctx, requester, f.Coverage, 0, consent.PurposeBilling)
	if err != nil {
		var denied *DeniedError
		if errors.As(err, &denied) || errors.Is(err, ledger.ErrNotFound) {
			return nil, fmt.Errorf("%w: no coverage: Coverage/%s is not a Coverage %s may read for billing", ErrClaimRefused, f.Coverage, requester)
		}
		return nil, err
	}
	defer clear(rec.Resource)
	if rec.ResourceType != "Coverage" || rec.Deleted {
		return nil, fmt.Errorf("%w: no coverage: Coverage/%s is not a Coverage", ErrClaimRefused, f.Coverage)
	}
	cov, err := ParseCoverage(rec.Resource)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClaimRefused, err)
	}
	switch {
	case cov.Patient != f.Claim.Patient:
		return nil, fmt.Errorf("%w: no coverage: Coverage/%s is not the coverage of %s", ErrClaimRefused, f.Coverage, f.Claim.Patient)
	case cov.Status != "active":
		return nil, fmt.Errorf("%w: no coverage: Coverage/%s is %s, not active", ErrClaimRefused, f.Coverage, cov.Status)
	}
	if _, err := s.latest().PlanRules(cov.Insurer, cov.Plan, 0); errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("%w: no coverage: %s publishes no rules for plan %s", ErrClaimRefused, cov.Insurer, cov.Plan)
	} else if err != nil {
		return nil, err
	}
	return cov, nil
}

// precheck runs the adjudication under the rules in force now and refuses
// a claim it would deny, item by item.
func (s *Service) precheck(v *ledger.View, requester string, c *claims.Claim, log *[]Event) error {
	pv, err := v.PlanRules(c.Insurer, c.Plan, 0)
	if err != nil {
		return err
	}
	rules, err := claims.ParseRules(pv.Rules)
	if err != nil {
		return err
	}
	auths, err := s.authorizations(v, requester, c, log)
	if err != nil {
		return err
	}
	res := claims.Adjudicate(rules, pv.Version, "", c, auths, nil)
	var why []string
	why = append(why, res.Reasons...)
	for i, ir := range res.Items {
		if !ir.Approved {
			why = append(why, fmt.Sprintf("Claim.item[%d]: %s", i, ir.Reason))
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %s", ErrClaimRefused, strings.Join(why, "; "))
	}
	return nil
}

// authorizations opens the prior authorizations c refers to, and their
// adjudications, as requester: those not adjudicated, or that requester
// may not open, approve nothing. Each read is an access event, appended to
// log.
func (s *Service) authorizations(v *ledger.View, requester string, c *claims.Claim, log *[]Event) ([]claims.Authorization, error) {
	var out []claims.Authorization
	for _, ref := range c.PreAuthRefs {
		pa, err := v.Claim(ref)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		ev := claimEvent(requester, pa, "ClaimResponse")
		reader, err := s.claimReader(v, requester, pa)
		if err != nil {
			*log = append(*log, denied(ev, err))
			continue
		}
		paClaim, res, err := s.openClaimAndResult(v, pa, reader)
		if err != nil {
			*log = append(*log, denied(ev, err))
			continue
		}
		ev.Decision, ev.Reason = carechain.DecisionAllow, "a prior authorization the claim names"
		*log = append(*log, ev)
		if res != nil && res.Use == claims.UsePreauthorization {
			out = append(out, claims.AuthorizationOf(paClaim, res))
		}
	}
	return out, nil
}

// sealToParties seals plain to the claim's readers: the patient, the
// author's reader (their organization) and the insurer.
func (s *Service) sealToParties(v *ledger.View, plain []byte, id string, version uint64, patient, author, insurer string) ([]byte, error) {
	me, err := v.Principal(author)
	if err != nil {
		return nil, err
	}
	readers := map[string]seal.Recipient{}
	for _, rd := range []string{patient, consent.ReaderOf(me), insurer} {
		k, err := v.EncryptionKey(rd)
		if err != nil {
			return nil, fmt.Errorf("%w: %s has no encryption key: %w", ErrInvalid, rd, err)
		}
		if readers[rd], err = seal.ParsePublicKey(k); err != nil {
			return nil, fmt.Errorf("encryption key of %s: %w", rd, err)
		}
	}
	ps, err := seal.SealToParties(plain, partyBinding(id, version, patient), readers)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ps)
}

// openSealed opens a claim's or an adjudication's sealed JSON as reader.
func (s *Service) openSealed(sealed []byte, id string, version uint64, patient, reader string) ([]byte, error) {
	var ps seal.PartySealed
	if err := json.Unmarshal(sealed, &ps); err != nil {
		return nil, fmt.Errorf("claim %s: the sealed content is malformed: %w", id, err)
	}
	key, ok := s.keys.identity(reader)
	if !ok {
		return nil, seal.ErrDecrypt
	}
	return seal.OpenAsParty(&ps, partyBinding(id, version, patient), reader, key)
}

// claimReader decides whether requester may read claim c and names the
// reader whose key opens it: the patient themselves, or staff of the
// submitting organization or the insurer in a role that reads billing
// records for billing. Refusals are *DeniedError.
func (s *Service) claimReader(v *ledger.View, requester string, c *ledger.ClaimState) (string, error) {
	p, err := v.Principal(requester)
	if err != nil || p.Status != carechain.StatusActive {
		return "", &DeniedError{Reason: fmt.Sprintf("%s is not an active principal", requester)}
	}
	switch {
	case p.Kind == carechain.KindPatient:
		if p.ID != c.Patient {
			return "", &DeniedError{Reason: fmt.Sprintf("%s is not a party to claim %s", p.ID, c.ID)}
		}
		return p.ID, nil
	case p.Org != c.SubmitterOrg && p.Org != c.Insurer:
		return "", &DeniedError{Reason: fmt.Sprintf("%s is not a party to claim %s", p.Org, c.ID)}
	case p.Kind == carechain.KindNode:
		return p.Org, nil // the insurer's node adjudicates
	}
	policy, err := v.RolePolicyInForce(p.Org)
	if err != nil {
		return "", err
	}
	if ok, why := policy.Permits(p, consent.ActionRead, "billing", consent.PurposeBilling, false); !ok {
		return "", &DeniedError{Reason: why}
	}
	return p.Org, nil
}

// openClaimAndResult opens claim c and, if it is adjudicated, its result,
// as reader; each is checked against the hash the ledger holds.
func (s *Service) openClaimAndResult(v *ledger.View, c *ledger.ClaimState, reader string) (*claims.Claim, *claims.Result, error) {
	f, _, err := s.openClaim(c, reader)
	if err != nil {
		return nil, nil, err
	}
	adj, err := v.Adjudication(c.ID)
	if errors.Is(err, ledger.ErrNotFound) {
		return &f.Claim, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	res, err := s.openResult(c, adj, reader)
	return &f.Claim, res, err
}

// openClaim opens and parses claim c as reader, with the facts the ledger
// holds (id, insurer, plan) set; it returns the canonical Claim too.
func (s *Service) openClaim(c *ledger.ClaimState, reader string) (*ClaimFacts, []byte, error) {
	if sum := sha256.Sum256(c.Sealed); !slices.Equal(sum[:], c.SealedHash) {
		return nil, nil, fmt.Errorf("claim %s does not match its hash: refusing altered data", c.ID)
	}
	plain, err := s.openSealed(c.Sealed, c.ID, claimSealVersion, c.Patient, reader)
	if err != nil {
		return nil, nil, err
	}
	f, err := ParseClaim(plain)
	if err != nil {
		return nil, nil, err
	}
	f.Claim.ID, f.Claim.Insurer, f.Claim.Plan = c.ID, c.Insurer, c.Plan
	return f, plain, nil
}

// openResult opens an adjudication's result as reader.
func (s *Service) openResult(c *ledger.ClaimState, adj *ledger.Adjudication, reader string) (*claims.Result, error) {
	if sum := sha256.Sum256(adj.Sealed); !slices.Equal(sum[:], adj.SealedHash) {
		return nil, fmt.Errorf("the adjudication of claim %s does not match its hash: refusing altered data", c.ID)
	}
	plain, err := s.openSealed(adj.Sealed, c.ID, adjudicationSealVersion, c.Patient, reader)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var r claims.Result
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("the adjudication of claim %s is malformed: %w", c.ID, err)
	}
	return &r, nil
}

// claimHash is the hex SHA-256 of a sealed claim, as results carry it.
func claimHash(c *ledger.ClaimState) string { return hex.EncodeToString(c.SealedHash) }
