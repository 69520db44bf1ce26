package claims

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// Limits per period. A plan's rules may cap, per patient and calendar year
// (UTC, of the claim's submission on the ledger), the units of a code
// (Benefit.MaxPerYear) and what the plan pays (Rules.AnnualMax). Deciding
// a claim under such rules needs what the patient has used of the plan that
// year, which lives in earlier claims that a party to this claim (another
// hospital) may not be able to read. So the insurer keeps a chain of
// commitments on the ledger, one per patient, plan and year: each
// adjudication under limits names the commitment it starts from and posts
// the next, SHA-256 over the usage after the claim and a random nonce
// (Commit). The sealed Result carries the usage before and after and both
// nonces, so any party to the claim checks (CheckUsage) that the insurer
// started from the usage it had committed to, and that it committed to
// what this claim added; the patient, a party to every link, can check the
// whole chain. Prior authorizations neither read nor use the limits.

// Usage is what a patient used of a plan in one calendar year: the units
// approved per code ("system|code") and the benefit paid, in minor units.
type Usage struct {
	Year  int              `json:"year"`
	Units map[string]int64 `json:"units,omitempty"`
	Paid  int64            `json:"paid"`
}

// HasLimits reports whether the rules limit anything per year.
func (r *Rules) HasLimits() bool {
	return r.AnnualMax > 0 || slices.ContainsFunc(r.Benefits, func(b Benefit) bool { return b.MaxPerYear > 0 })
}

// NonceSize is the size of a usage commitment's nonce.
const NonceSize = 32

// Commit is the commitment to usage u with nonce (hex, NonceSize bytes):
// SHA-256 over a domain tag, u's JSON and the nonce. The nonce hides u,
// whose few small numbers could otherwise be guessed.
func Commit(u Usage, nonce string) ([]byte, error) {
	n, err := hex.DecodeString(nonce)
	if err != nil || len(n) != NonceSize {
		return nil, fmt.Errorf("a usage nonce is %d bytes in hex", NonceSize)
	}
	doc, err := json.Marshal(u) // map keys sorted: deterministic
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte("carechain claim usage v1\x00"))
	h.Write(doc)
	h.Write([]byte{0})
	h.Write(n)
	return h.Sum(nil), nil
}

// CheckUsage checks a result's usage against the ledger's commitments:
// prev, the one its adjudication started from (empty: none yet that
// year), and next, the one it posted. It returns why they disagree, or "".
func CheckUsage(r *Result, year int, prev, next []byte) string {
	if r.UsageBefore == nil || r.UsageAfter == nil {
		return "the adjudication carries no usage, though the plan limits usage per year"
	}
	if r.UsageBefore.Year != year || r.UsageAfter.Year != year {
		return fmt.Sprintf("the usage is of %d, the claim of %d", r.UsageBefore.Year, year)
	}
	if len(prev) == 0 {
		if r.PrevNonce != "" || r.UsageBefore.Paid != 0 || len(r.UsageBefore.Units) != 0 {
			return "the insurer claims earlier usage in the year, but had committed to none"
		}
	} else if c, err := Commit(*r.UsageBefore, r.PrevNonce); err != nil || !bytes.Equal(c, prev) {
		return "the usage before this claim is not what the insurer had committed to on the ledger"
	}
	if c, err := Commit(*r.UsageAfter, r.Nonce); err != nil || !bytes.Equal(c, next) {
		return "the usage after this claim is not what the insurer committed to on the ledger"
	}
	return ""
}

// limitItem applies a benefit's yearly limit to an item, given the units
// of its code used so far (this claim's earlier items included); it
// returns the reason it is refused, or "".
func limitItem(b *Benefit, it Item, used int64, plan string, year int) string {
	if b.MaxPerYear == 0 || used+it.Quantity <= b.MaxPerYear {
		return ""
	}
	return fmt.Sprintf("%d units of %s|%s: plan %s covers %d a year, and %d were used in %d", it.Quantity, it.System, it.Code, plan,
		b.MaxPerYear, used, year)
}

// applyUsage caps res's benefit at what is left of the annual maximum
// and sets the usage after the claim.
func applyUsage(rules *Rules, c *Claim, res *Result, before *Usage) {
	after := Usage{Year: before.Year, Paid: before.Paid, Units: map[string]int64{}}
	for k, n := range before.Units {
		after.Units[k] = n
	}
	if rules.AnnualMax > 0 {
		left := max(0, rules.AnnualMax-before.Paid)
		if res.Benefit > left {
			res.Notes = append(res.Notes, fmt.Sprintf("plan %s pays at most %d a year; %d was paid before this claim", c.Plan, rules.AnnualMax, before.Paid))
			res.Benefit = left
			res.PatientPays = res.Submitted - res.Benefit
		}
	}
	after.Paid += res.Benefit
	for i, ir := range res.Items {
		if ir.Approved {
			it := c.Items[i]
			after.Units[it.System+"|"+it.Code] += it.Quantity
		}
	}
	if len(after.Units) == 0 {
		after.Units = nil
	}
	res.UsageBefore, res.UsageAfter = before, &after
}
