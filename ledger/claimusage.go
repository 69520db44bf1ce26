package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Limits per year (claims/usage.go). For each patient, insurer, plan and
// calendar year the ledger keeps the head of the insurer's chain of usage
// commitments, at "claim-usage/<insurer>/<plan>/<patient>/<year>": the
// latest commitment and the claim whose adjudication posted it. An
// adjudication of a claim (not a prior authorization) under rules with
// limits must start from the head (else CodeStaleVersion: another claim of
// the patient was decided first; decide again) and moves it; any other
// adjudication carries no commitment. Rules published before limits
// existed have none, so earlier blocks replay unchanged.

// UsageHead is the head of a usage commitment chain.
type UsageHead struct {
	Commitment []byte `cbor:"1,keyasint"`
	Claim      string `cbor:"2,keyasint"`
}

func usageKey(insurer, plan, patient string, year int) string {
	return fmt.Sprintf("claim-usage/%s/%s/%s/%d", insurer, plan, patient, year)
}

// ClaimYear is the calendar year (UTC) a claim counts in: that of its
// submission on the ledger.
func ClaimYear(c *ClaimState) int { return time.Unix(c.Time, 0).UTC().Year() }

// UsageHead returns the head of the usage chain of a claim's patient,
// insurer and plan in the claim's year (ErrNotFound: none yet).
func (v *View) UsageHead(c *ClaimState) (*UsageHead, error) {
	var h UsageHead
	if err := getCBOR(v, usageKey(c.Insurer, c.Plan, c.Patient, ClaimYear(c)), &h); err != nil {
		return nil, fmt.Errorf("usage of %s under %s/%s: %w", c.Patient, c.Insurer, c.Plan, err)
	}
	return &h, nil
}

// advanceUsage checks an adjudication's usage commitments against the
// rules of its claim and the chain's head, and moves the head.
func advanceUsage(b *store.Block, cl *ClaimState, ad *tx.ClaimAdjudicate) *Rejection {
	pv, err := planRules(b, cl.Insurer, cl.Plan, cl.RulesVersion)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	limited := pv.Limits && cl.Use == claims.UseClaim
	switch {
	case !limited && len(ad.Usage) > 0:
		return reject(CodeInvalid, "claim %s is decided without limits per year: its adjudication carries no usage commitment", cl.ID)
	case !limited:
		return nil
	case len(ad.Usage) == 0:
		return reject(CodeInvalid, "plan %s/%s limits usage per year: the adjudication of claim %s must commit to the patient's usage", cl.Insurer, cl.Plan, cl.ID)
	}
	key := usageKey(cl.Insurer, cl.Plan, cl.Patient, ClaimYear(cl))
	var head UsageHead
	if err := getCBOR(b, key, &head); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if !bytes.Equal(head.Commitment, ad.PrevUsage) {
		return reject(CodeStaleVersion, "the usage of %s under %s/%s in %d has moved on (claim %s was decided since): decide claim %s again",
			cl.Patient, cl.Insurer, cl.Plan, ClaimYear(cl), head.Claim, cl.ID)
	}
	if err := setCBOR(b, key, UsageHead{Commitment: ad.Usage, Claim: cl.ID}); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
