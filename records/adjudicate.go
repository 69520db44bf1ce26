package records

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Adjudication runs on the insurer's node (AdjudicatePending, RunAdjudicator):
// each claim addressed to the insurer and not yet decided is opened with
// the insurer's key (an access event, for billing), decided by
// claims.Adjudicate under the rules version the ledger fixed at the
// claim's height, and the result sealed to the claim's readers and posted
// (claim.adjudicate), signed by the node. Anyone who can open the claim
// runs it again (VerifyAdjudication) and must get the same bytes.

// AdjudicatePending decides every claim to the signer's organization that
// awaits a decision and returns how many it posted; a claim it cannot
// decide (its error names the claim) does not hold up the others.
func (s *Service) AdjudicatePending(ctx context.Context, signer Signer) (int, error) {
	v := s.latest()
	p, err := v.Principal(signer.ID)
	if err != nil {
		return 0, err
	}
	ids, err := v.PendingClaims(p.Org)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		// Each claim is decided at the latest state: under limits per
		// year, the patient's previous claim may have just moved its usage.
		if err := s.adjudicate(ctx, s.latest(), signer, id); err != nil {
			errs = append(errs, fmt.Errorf("adjudicating claim %s: %w", id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// adjudicate decides and posts claim id.
func (s *Service) adjudicate(ctx context.Context, v *ledger.View, signer Signer, id string) error {
	c, err := v.Claim(id)
	if err != nil {
		return err
	}
	res, log, err := s.rerun(v, signer.ID, c, nil)
	if lerr := s.record(ctx, v, log...); lerr != nil {
		return lerr
	}
	if err != nil {
		return err
	}
	prev, next, err := usageCommitments(res)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(res)
	if err != nil {
		return err
	}
	defer clear(plain)
	sealed, err := s.resealLike(v, c, plain)
	if err != nil {
		return err
	}
	_, err = s.submit(ctx, signer, tx.TypeClaimAdjudicate, &tx.ClaimAdjudicate{Claim: c.ID, ClaimHash: c.SealedHash,
		RulesVersion: c.RulesVersion, Outcome: res.Outcome, Sealed: sealed, PrevUsage: prev, Usage: next})
	if rejectedWith(err, ledger.CodeConflict) {
		return nil // another node of the insurer posted it first
	}
	return err
}

// resealLike seals an adjudication to the readers of claim c.
func (s *Service) resealLike(v *ledger.View, c *ledger.ClaimState, plain []byte) ([]byte, error) {
	submitter, err := v.Principal(c.Submitter)
	if err != nil {
		return nil, err
	}
	return s.sealToParties(v, plain, c.ID, adjudicationSealVersion, c.Patient, submitter.ID, c.Insurer)
}

// rerun decides claim c as requester would: open it, apply the rules
// version the ledger fixed for it, with the prior authorizations it names
// and, under limits per year, the patient's usage before it: for a
// verifier, the usage (and nonces) the insurer posted, whose commitments
// it checks apart (claims.CheckUsage); for the insurer deciding it
// (posted nil), the usage its last adjudication of the year committed to.
// It returns the access events of the claims it read.
func (s *Service) rerun(v *ledger.View, requester string, c *ledger.ClaimState, posted *claims.Result) (*claims.Result, []Event, error) {
	ev := claimEvent(requester, c, "Claim")
	reader, err := s.claimReader(v, requester, c)
	if err != nil {
		return nil, []Event{denied(ev, err)}, err
	}
	f, _, err := s.openClaim(c, reader)
	if err != nil {
		return nil, []Event{denied(ev, err)}, err
	}
	ev.Decision, ev.Reason = carechain.DecisionAllow, "a party to the claim"
	log := []Event{ev}
	pv, err := v.PlanRules(c.Insurer, c.Plan, c.RulesVersion)
	if err != nil {
		return nil, log, err
	}
	rules, err := claims.ParseRules(pv.Rules)
	if err != nil {
		return nil, log, err
	}
	auths, err := s.authorizations(v, requester, &f.Claim, &log)
	if err != nil {
		return nil, log, err
	}
	if !rules.HasLimits() || c.Use != claims.UseClaim {
		res := claims.Adjudicate(rules, pv.Version, claimHash(c), &f.Claim, auths, nil)
		return &res, log, nil
	}
	before, prevNonce, nonce := &claims.Usage{Year: ledger.ClaimYear(c)}, "", ""
	if posted != nil {
		if posted.UsageBefore != nil {
			before = posted.UsageBefore
		}
		prevNonce, nonce = posted.PrevNonce, posted.Nonce
	} else {
		if before, prevNonce, err = s.usageBefore(v, requester, c, &log); err != nil {
			return nil, log, err
		}
		n := make([]byte, claims.NonceSize)
		rand.Read(n) // never fails (crypto/rand)
		nonce = hex.EncodeToString(n)
	}
	res := claims.Adjudicate(rules, pv.Version, claimHash(c), &f.Claim, auths, before)
	res.PrevNonce, res.Nonce = prevNonce, nonce
	return &res, log, nil
}

// usageBefore is the patient's usage of c's plan in c's year before c, as
// the insurer's last adjudication that year committed to, and the nonce
// of that commitment ("" if none yet). Reading that adjudication is an
// access event, appended to log.
func (s *Service) usageBefore(v *ledger.View, requester string, c *ledger.ClaimState, log *[]Event) (*claims.Usage, string, error) {
	year := ledger.ClaimYear(c)
	head, err := v.UsageHead(c)
	if errors.Is(err, ledger.ErrNotFound) {
		return &claims.Usage{Year: year}, "", nil
	} else if err != nil {
		return nil, "", err
	}
	prev, err := v.Claim(head.Claim)
	if err != nil {
		return nil, "", err
	}
	adj, err := v.Adjudication(head.Claim)
	if err != nil {
		return nil, "", err
	}
	ev := claimEvent(requester, prev, "ClaimResponse")
	reader, err := s.claimReader(v, requester, prev)
	var res *claims.Result
	if err == nil {
		res, err = s.openResult(prev, adj, reader)
	}
	if err != nil {
		*log = append(*log, denied(ev, err))
		return nil, "", err
	}
	ev.Decision, ev.Reason = carechain.DecisionAllow, "the patient's usage of the plan this year"
	*log = append(*log, ev)
	if why := claims.CheckUsage(res, year, adj.PrevUsage, head.Commitment); why != "" {
		return nil, "", fmt.Errorf("claim %s: %s", prev.ID, why)
	}
	return res.UsageAfter, res.Nonce, nil
}

// usageCommitments are the commitments an adjudication posts: to the
// usage it started from (none for the year's first claim) and after it;
// both nil for a result without usage.
func usageCommitments(res *claims.Result) (prev, next []byte, err error) {
	if res.UsageAfter == nil {
		return nil, nil, nil
	}
	if res.PrevNonce != "" {
		if prev, err = claims.Commit(*res.UsageBefore, res.PrevNonce); err != nil {
			return nil, nil, err
		}
	}
	next, err = claims.Commit(*res.UsageAfter, res.Nonce)
	return prev, next, err
}

// claimEvent is the access event of requester's read of claim c (or of
// its adjudication, as typ ClaimResponse or ExplanationOfBenefit).
func claimEvent(requester string, c *ledger.ClaimState, typ string) Event {
	return Event{Requester: requester, Patient: c.Patient, RecordID: c.ID, Category: "billing", ResourceType: typ,
		Purpose: string(consent.PurposeBilling), Action: string(consent.ActionRead), Decision: carechain.DecisionDeny}
}

// denied is ev refused for err.
func denied(ev Event, err error) Event {
	ev.Decision, ev.Reason = carechain.DecisionDeny, err.Error()
	var d *DeniedError
	if errors.As(err, &d) {
		ev.Reason = d.Reason
	}
	return ev
}

// RunAdjudicator adjudicates the claims addressed to signer's organization
// every interval until ctx ends.
func (s *Service) RunAdjudicator(ctx context.Context, signer Signer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.AdjudicatePending(ctx, signer); err != nil && ctx.Err() == nil {
			s.log.Warn("claims not adjudicated", "err", err) // the error names a claim id, never its content
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ClaimDoc is a claim as a party reads it: the ledger's facts, the FHIR
// Claim, and its adjudication if it has one.
type ClaimDoc struct {
	State        *ledger.ClaimState
	Resource     []byte // canonical FHIR Claim: health data, never log it
	Facts        *ClaimFacts
	Adjudication *ledger.Adjudication // nil until decided
	Result       *claims.Result
}

// ReadClaim opens claim id for requester, as typ (Claim, ClaimResponse or
// ExplanationOfBenefit: what the access event names). A requester who is
// no party, or whose role does not read billing, is refused
// (*DeniedError); every attempt is logged.
func (s *Service) ReadClaim(ctx context.Context, requester, id, typ string) (*ClaimDoc, error) {
	v := s.latest()
	c, err := v.Claim(id)
	if err != nil {
		return nil, err
	}
	doc, err := s.readClaim(v, requester, c)
	ev := claimEvent(requester, c, typ)
	if err != nil {
		ev = denied(ev, err)
	} else {
		ev.Decision, ev.Reason = carechain.DecisionAllow, "a party to the claim"
	}
	if lerr := s.record(ctx, v, ev); lerr != nil && err == nil {
		return nil, lerr
	}
	return doc, err
}

// PatientClaims opens the claims of patient that requester may read, as
// typ (what the access events name), in id order: a claim requester may
// not read is left out, not an error. Every attempt is logged.
func (s *Service) PatientClaims(ctx context.Context, requester, patient, typ string) ([]*ClaimDoc, error) {
	v := s.latest()
	ids, err := v.PatientClaims(patient)
	if err != nil {
		return nil, err
	}
	states := make([]*ledger.ClaimState, len(ids))
	for i, id := range ids {
		if states[i], err = v.Claim(id); err != nil {
			return nil, err
		}
	}
	return s.readClaims(ctx, v, requester, typ, states)
}

// InsurerClaims opens the claims to requester's organization that
// requester may read (its claims officers), as typ: those awaiting a
// decision first, then the newest, at most limit. Every attempt is logged.
func (s *Service) InsurerClaims(ctx context.Context, requester, typ string, limit int) ([]*ClaimDoc, error) {
	v := s.latest()
	p, err := v.Principal(requester)
	if err != nil {
		return nil, err
	}
	states, err := v.InsurerClaims(p.Org)
	if err != nil {
		return nil, err
	}
	pending, err := v.PendingClaims(p.Org)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(states, func(a, b *ledger.ClaimState) int {
		if pa, pb := slices.Contains(pending, a.ID), slices.Contains(pending, b.ID); pa && !pb {
			return -1
		} else if pb && !pa {
			return 1
		}
		return cmp.Compare(b.Height, a.Height)
	})
	return s.readClaims(ctx, v, requester, typ, states[:min(len(states), limit)])
}

// readClaims opens claims as requester, leaving out those requester may
// not read; every attempt is logged.
func (s *Service) readClaims(ctx context.Context, v *ledger.View, requester, typ string, states []*ledger.ClaimState) ([]*ClaimDoc, error) {
	var out []*ClaimDoc
	var log []Event
	for _, c := range states {
		ev := claimEvent(requester, c, typ)
		doc, err := s.readClaim(v, requester, c)
		var d *DeniedError
		switch {
		case errors.As(err, &d):
			log = append(log, denied(ev, err))
			continue
		case err != nil:
			return nil, errors.Join(err, s.record(ctx, v, log...))
		}
		ev.Decision, ev.Reason = carechain.DecisionAllow, "a party to the claim"
		log = append(log, ev)
		out = append(out, doc)
	}
	if err := s.record(ctx, v, log...); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) readClaim(v *ledger.View, requester string, c *ledger.ClaimState) (*ClaimDoc, error) {
	reader, err := s.claimReader(v, requester, c)
	if err != nil {
		return nil, err
	}
	if why := s.logBehind(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrLogUnavailable, why)
	}
	f, plain, err := s.openClaim(c, reader)
	if err != nil {
		return nil, err
	}
	doc := &ClaimDoc{State: c, Resource: plain, Facts: f}
	adj, err := v.Adjudication(c.ID)
	if errors.Is(err, ledger.ErrNotFound) {
		return doc, nil
	} else if err != nil {
		return nil, err
	}
	doc.Adjudication = adj
	doc.Result, err = s.openResult(c, adj, reader)
	return doc, err
}

// Verification is the outcome of re-running an adjudication.
type Verification struct {
	Agrees     bool
	Posted     *claims.Result // what the insurer sealed and signed
	Recomputed *claims.Result // what the rules give here
	Signer     string         // who posted it
	Problem    string         // why it does not agree ("" if it does)
}

// ErrNotAdjudicated is a claim with no adjudication yet.
var ErrNotAdjudicated = carechain.NewError(carechain.KindNotFound, "the claim is not adjudicated yet")

// VerifyAdjudication re-runs the adjudication of claim id as requester (a
// party to it) and compares it, byte for byte, with what the insurer
// posted; the hash and rules version the ledger holds must match too.
func (s *Service) VerifyAdjudication(ctx context.Context, requester, id string) (*Verification, error) {
	v := s.latest()
	c, err := v.Claim(id)
	if err != nil {
		return nil, err
	}
	adj, err := v.Adjudication(id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("%w: claim %s", ErrNotAdjudicated, id)
	} else if err != nil {
		return nil, err
	}
	// The decision the insurer posted gives the usage (and nonces) to
	// re-run with; a requester who may not open it is refused, and
	// logged, by rerun.
	posted := &claims.Result{}
	if reader, err := s.claimReader(v, requester, c); err == nil {
		if posted, err = s.openResult(c, adj, reader); err != nil {
			return nil, err
		}
	}
	res, log, err := s.rerun(v, requester, c, posted)
	if lerr := s.record(ctx, v, log...); lerr != nil && err == nil {
		return nil, lerr
	}
	if err != nil {
		return nil, err
	}
	a, _ := json.Marshal(res)
	b, _ := json.Marshal(posted)
	ver := &Verification{Posted: posted, Recomputed: res, Signer: adj.Signer}
	switch {
	case string(a) != string(b):
		ver.Problem = "the plan's rules give a different decision"
	case adj.RulesVersion != c.RulesVersion || adj.Outcome != posted.Outcome:
		ver.Problem = "the ledger's rules version or outcome is not the sealed decision's"
	case res.UsageAfter != nil || len(adj.Usage) > 0:
		ver.Problem = claims.CheckUsage(posted, ledger.ClaimYear(c), adj.PrevUsage, adj.Usage)
	}
	ver.Agrees = ver.Problem == ""
	return ver, nil
}
