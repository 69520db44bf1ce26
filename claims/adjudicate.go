package claims

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Uses of a claim (FHIR Claim.use).
const (
	UseClaim            = "claim"
	UsePreauthorization = "preauthorization"
)

// Outcomes of an adjudication.
const (
	OutcomeApproved = "approved" // every item approved
	OutcomePartial  = "partial"  // some items approved
	OutcomeDenied   = "denied"   // nothing approved
)

// ValidOutcome reports whether o is one of the outcomes.
func ValidOutcome(o string) bool {
	return o == OutcomeApproved || o == OutcomePartial || o == OutcomeDenied
}

// MaxItems bounds a claim's items.
const MaxItems = 100

// Claim is what adjudication reads of a FHIR Claim.
type Claim struct {
	ID       string `json:"id"`
	Use      string `json:"use"`
	Patient  string `json:"patient"`
	Insurer  string `json:"insurer"`
	Plan     string `json:"plan"`
	Currency string `json:"currency"`
	Items    []Item `json:"items"`
	// PreAuthRefs are the ids of the prior authorizations (claims of use
	// preauthorization) this claim relies on.
	PreAuthRefs []string `json:"preAuthRefs,omitempty"`
}

// Item is one line of a claim.
type Item struct {
	Sequence  int64  `json:"sequence"`
	System    string `json:"system"`
	Code      string `json:"code"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice"` // minor units
}

// Check refuses a claim adjudication cannot read: a use, items (1 to
// MaxItems), quantities and prices in range.
func (c *Claim) Check() error {
	if c.Use != UseClaim && c.Use != UsePreauthorization {
		return fmt.Errorf("use %q: want claim or preauthorization", c.Use)
	}
	if len(c.Items) == 0 || len(c.Items) > MaxItems {
		return fmt.Errorf("%d items, want 1 to %d", len(c.Items), MaxItems)
	}
	for i, it := range c.Items {
		if it.Quantity <= 0 || it.Quantity > maxQuantity || it.UnitPrice < 0 || it.UnitPrice > maxAmount {
			return fmt.Errorf("item[%d]: quantity must be 1 to %d and unit price 0 to %d minor units", i, maxQuantity, maxAmount)
		}
		if it.System == "" || it.Code == "" {
			return fmt.Errorf("item[%d]: a coded productOrService (system and code) is required", i)
		}
	}
	return nil
}

// Authorization is an approved prior authorization: its claim's id and the
// codes ("system|code") its adjudication approved.
type Authorization struct {
	Claim string   `json:"claim"`
	Codes []string `json:"codes"`
}

// AuthorizationOf is what an adjudicated prior authorization approves.
func AuthorizationOf(c *Claim, r *Result) Authorization {
	a := Authorization{Claim: c.ID}
	for _, ir := range r.Items {
		if !ir.Approved {
			continue
		}
		if i := slices.IndexFunc(c.Items, func(it Item) bool { return it.Sequence == ir.Sequence }); i >= 0 {
			a.Codes = append(a.Codes, c.Items[i].System+"|"+c.Items[i].Code)
		}
	}
	return a
}

// Result is an adjudication. Its JSON encoding is what the insurer seals
// and what a re-run must reproduce byte for byte.
type Result struct {
	Claim        string `json:"claim"`
	Use          string `json:"use"`
	Plan         string `json:"plan"`
	RulesVersion uint64 `json:"rulesVersion"`
	// ClaimHash is the SHA-256 (hex) of the sealed claim adjudicated.
	ClaimHash string `json:"claimHash"`
	Outcome   string `json:"outcome"`
	// Reasons are why the whole claim was denied, if it was.
	Reasons  []string     `json:"reasons,omitempty"`
	Items    []ItemResult `json:"items"`
	Currency string       `json:"currency"`
	// Totals, in minor units: what was claimed, what the rules make
	// eligible, what the insurer pays (Benefit) and what the patient owes.
	Submitted   int64 `json:"submitted"`
	Eligible    int64 `json:"eligible"`
	Benefit     int64 `json:"benefit"`
	PatientPays int64 `json:"patientPays"`
	// PreAuths are the prior authorizations the claim relied on.
	PreAuths []string `json:"preAuths,omitempty"`
	// Notes explain an amount, e.g. a benefit capped by the annual maximum.
	Notes []string `json:"notes,omitempty"`
	// Under rules with limits per year (usage.go): the patient's usage of
	// the plan in the claim's year before and after this claim, and the
	// nonces (hex) of the ledger's commitments to each (PrevNonce is
	// empty for the year's first claim).
	UsageBefore *Usage `json:"usageBefore,omitempty"`
	UsageAfter  *Usage `json:"usageAfter,omitempty"`
	PrevNonce   string `json:"prevNonce,omitempty"`
	Nonce       string `json:"nonce,omitempty"`
}

// ItemResult is the adjudication of one item.
type ItemResult struct {
	Sequence  int64  `json:"sequence"`
	Approved  bool   `json:"approved"`
	Reason    string `json:"reason,omitempty"`
	Submitted int64  `json:"submitted"`
	Eligible  int64  `json:"eligible"`
}

// Adjudicate decides c under rules (version version of c.Plan), given the
// approved prior authorizations c refers to and, for a claim (not a prior
// authorization) under rules with limits per year, the patient's usage
// of the plan that year before it (nil: limits are not applied, as when a
// provider checks a claim before submitting it). It is deterministic: the
// same inputs give the same Result on every node.
func Adjudicate(rules *Rules, version uint64, claimHash string, c *Claim, auths []Authorization, usage *Usage) Result {
	res := Result{Claim: c.ID, Use: c.Use, Plan: c.Plan, RulesVersion: version, ClaimHash: claimHash, Currency: rules.Currency}
	for _, a := range auths {
		if slices.Contains(c.PreAuthRefs, a.Claim) {
			res.PreAuths = append(res.PreAuths, a.Claim)
		}
	}
	if c.Currency != rules.Currency {
		res.Reasons = append(res.Reasons, fmt.Sprintf("the claim is in %s; plan %s pays in %s", c.Currency, c.Plan, rules.Currency))
	}
	for _, cond := range rules.Conditions {
		if ok, err := evalCondition(cond.Expr, c); err != nil || !ok {
			res.Reasons = append(res.Reasons, cond.Reason)
		}
	}
	limited := usage != nil && c.Use == UseClaim && rules.HasLimits()
	used := map[string]int64{}
	if limited {
		maps.Copy(used, usage.Units)
	}
	approved := 0
	for _, it := range c.Items {
		ir := adjudicateItem(rules, c, it, auths)
		if key := it.System + "|" + it.Code; limited && ir.Approved {
			if why := limitItem(rules.Benefit(it.System, it.Code), it, used[key], c.Plan, usage.Year); why != "" {
				ir.Approved, ir.Eligible, ir.Reason = false, 0, why
			} else {
				used[key] += it.Quantity
			}
		}
		if len(res.Reasons) > 0 && ir.Approved {
			ir.Approved, ir.Eligible, ir.Reason = false, 0, "the claim as a whole is denied"
		}
		if ir.Approved {
			approved++
		}
		res.Submitted += ir.Submitted
		res.Eligible += ir.Eligible
		res.Items = append(res.Items, ir)
	}
	copay := min(res.Eligible, rules.Copay)
	patientShare := copay + (res.Eligible-copay)*rules.Coinsurance/100
	res.Benefit = res.Eligible - patientShare
	res.PatientPays = res.Submitted - res.Benefit
	if limited {
		applyUsage(rules, c, &res, usage)
	}
	switch approved {
	case len(c.Items):
		res.Outcome = OutcomeApproved
	case 0:
		res.Outcome = OutcomeDenied
	default:
		res.Outcome = OutcomePartial
	}
	return res
}

// adjudicateItem decides one item on its own.
func adjudicateItem(rules *Rules, c *Claim, it Item, auths []Authorization) ItemResult {
	ir := ItemResult{Sequence: it.Sequence, Submitted: it.UnitPrice * it.Quantity}
	b := rules.Benefit(it.System, it.Code)
	switch {
	case b == nil:
		ir.Reason = fmt.Sprintf("%s|%s is not covered by plan %s", it.System, it.Code, c.Plan)
	case b.MaxQuantity > 0 && it.Quantity > b.MaxQuantity:
		ir.Reason = fmt.Sprintf("%d units of %s|%s: plan %s covers at most %d per claim", it.Quantity, it.System, it.Code, c.Plan, b.MaxQuantity)
	case b.PriorAuth && c.Use == UseClaim && !authorized(auths, c.PreAuthRefs, it.System+"|"+it.Code):
		ir.Reason = fmt.Sprintf("%s|%s needs a prior authorization: the claim refers to no approved one for it", it.System, it.Code)
	default:
		ir.Approved, ir.Eligible = true, min(it.UnitPrice, b.MaxUnitPrice)*it.Quantity
	}
	return ir
}

// authorized reports whether one of the authorizations that refs names
// approves code.
func authorized(auths []Authorization, refs []string, code string) bool {
	return slices.ContainsFunc(auths, func(a Authorization) bool {
		return slices.Contains(refs, a.Claim) && slices.Contains(a.Codes, code)
	})
}

var errCostLimit = errors.New("the condition exceeded its cost limit")

// evalCondition evaluates a rules condition over c. An error denies.
func evalCondition(expr string, c *Claim) (bool, error) {
	prg, err := compile(expr)
	if err != nil {
		return false, err
	}
	items := make([]map[string]any, len(c.Items))
	var total int64
	for i, it := range c.Items {
		items[i] = map[string]any{"system": it.System, "code": it.Code, "quantity": it.Quantity, "unitPrice": it.UnitPrice}
		total += it.Quantity * it.UnitPrice
	}
	out, _, err := prg.Eval(map[string]any{"claim.use": c.Use, "claim.total": total, "claim.items": items})
	if cancel := (interpreter.EvalCancelledError{}); errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
		return false, errCostLimit
	} else if err != nil {
		return false, err
	}
	if out.Type() != types.BoolType {
		return false, fmt.Errorf("the condition gave a %s", out.Type().TypeName())
	}
	return out.Value().(bool), nil
}
