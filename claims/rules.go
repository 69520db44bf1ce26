// Package claims holds an insurance plan's adjudication rules and the
// adjudication itself: a pure, deterministic function of the rules version
// in force, the claim and the prior authorizations it refers to. The
// insurer's node runs it to decide a claim; any party that can decrypt the
// claim runs it again and must get the same result, so a wrong or
// arbitrary decision is provable.
//
// Rules are plan data, not health data: they are published on the ledger
// in plain (JSON), versioned, and read by every member. Amounts are in
// minor units of the plan's currency (cents) and quantities are whole
// units, so no floating point takes part in a decision.
package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
)

// Limits on a rules document: it is stored on the ledger and compiled by
// every node that admits it.
const (
	MaxRulesBytes  = 64 << 10
	MaxBenefits    = 500
	MaxConditions  = 16
	maxConditionLn = 1024
	// ConditionCostLimit bounds, in CEL cost units, one evaluation of a
	// condition; a condition past it denies the claim.
	ConditionCostLimit = 10_000
)

// ErrInvalidRules wraps every reason a rules document is refused.
var ErrInvalidRules = errors.New("invalid plan rules")

var (
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	planPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// ValidPlanID reports whether id is a plan id: 1 to 64 of [a-z0-9._-].
func ValidPlanID(id string) bool { return planPattern.MatchString(id) }

// Rules is one version of a plan's adjudication rules.
type Rules struct {
	// Currency is the ISO 4217 code all amounts are in.
	Currency string `json:"currency"`
	// Copay is what the patient pays first on each claim, in minor units.
	Copay int64 `json:"copay,omitempty"`
	// Coinsurance is the percentage (0-100) of what is eligible after the
	// co-pay that the patient pays.
	Coinsurance int64 `json:"coinsurance,omitempty"`
	// Benefits are the covered codes; a code not listed is not covered.
	Benefits []Benefit `json:"benefits"`
	// Conditions are CEL expressions over the claim that must all hold;
	// one that does not denies the claim with its reason.
	Conditions []Condition `json:"conditions,omitempty"`
	// AnnualMax, if above 0, is the most the plan pays (Result.Benefit)
	// for one patient in a calendar year, in minor units (usage.go).
	AnnualMax int64 `json:"annualMax,omitempty"`
}

// Benefit is a covered code.
type Benefit struct {
	System string `json:"system"`
	Code   string `json:"code"`
	// MaxUnitPrice caps the eligible price of one unit, in minor units.
	MaxUnitPrice int64 `json:"maxUnitPrice"`
	// MaxQuantity, if above 0, is the most units one claim may carry.
	MaxQuantity int64 `json:"maxQuantity,omitempty"`
	// PriorAuth says a claim for this code needs an approved prior
	// authorization.
	PriorAuth bool `json:"priorAuth,omitempty"`
	// MaxPerYear, if above 0, is the most units of this code the plan
	// covers for one patient in a calendar year (usage.go).
	MaxPerYear int64 `json:"maxPerYear,omitempty"`
}

// Condition is a CEL expression over the claim and the reason a claim
// that fails it is denied with. The expression sees claim.use (string),
// claim.total (int: minor units) and claim.items (list of maps with keys
// system, code (strings), quantity and unitPrice (ints)).
type Condition struct {
	Expr   string `json:"expr"`
	Reason string `json:"reason"`
}

// Benefit returns the benefit for a code, or nil if the rules do not cover it.
func (r *Rules) Benefit(system, code string) *Benefit {
	i := slices.IndexFunc(r.Benefits, func(b Benefit) bool { return b.System == system && b.Code == code })
	if i < 0 {
		return nil
	}
	return &r.Benefits[i]
}

// ParseRules decodes and checks a rules document: known fields only,
// amounts and percentages in range, each code once, every condition a
// CEL expression of type bool. Errors wrap ErrInvalidRules.
func ParseRules(doc []byte) (*Rules, error) {
	if len(doc) == 0 || len(doc) > MaxRulesBytes {
		return nil, fmt.Errorf("%w: the document is %d bytes, want 1 to %d", ErrInvalidRules, len(doc), MaxRulesBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var r Rules
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRules, err)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRules, err)
	}
	return &r, nil
}

func (r *Rules) check() error {
	switch {
	case !currencyPattern.MatchString(r.Currency):
		return fmt.Errorf("currency %q is not an ISO 4217 code", r.Currency)
	case r.Copay < 0 || r.Copay > maxAmount:
		return fmt.Errorf("copay %d is out of range", r.Copay)
	case r.Coinsurance < 0 || r.Coinsurance > 100:
		return fmt.Errorf("coinsurance %d is not a percentage (0-100)", r.Coinsurance)
	case r.AnnualMax < 0 || r.AnnualMax > maxAmount:
		return fmt.Errorf("annualMax %d is out of range", r.AnnualMax)
	case len(r.Benefits) == 0 || len(r.Benefits) > MaxBenefits:
		return fmt.Errorf("%d benefits, want 1 to %d", len(r.Benefits), MaxBenefits)
	case len(r.Conditions) > MaxConditions:
		return fmt.Errorf("%d conditions, at most %d", len(r.Conditions), MaxConditions)
	}
	for i, b := range r.Benefits {
		switch {
		case b.System == "" || b.Code == "" || len(b.System) > 256 || len(b.Code) > 64:
			return fmt.Errorf("benefits[%d]: a system and a code are required", i)
		case b.MaxUnitPrice <= 0 || b.MaxUnitPrice > maxAmount || b.MaxQuantity < 0 || b.MaxQuantity > maxQuantity ||
			b.MaxPerYear < 0 || b.MaxPerYear > maxQuantity:
			return fmt.Errorf("benefits[%d]: maxUnitPrice must be 1 to %d, maxQuantity and maxPerYear 0 to %d", i, maxAmount, maxQuantity)
		case r.Benefit(b.System, b.Code) != &r.Benefits[i]:
			return fmt.Errorf("benefits[%d]: %s|%s is listed twice", i, b.System, b.Code)
		}
	}
	for i, c := range r.Conditions {
		if strings.TrimSpace(c.Reason) == "" || len(c.Reason) > 256 {
			return fmt.Errorf("conditions[%d]: a reason of 1 to 256 bytes is required", i)
		}
		if _, err := compile(c.Expr); err != nil {
			return fmt.Errorf("conditions[%d]: %w", i, err)
		}
	}
	return nil
}

// Bounds on amounts and quantities, so sums of a claim's items cannot overflow.
const (
	maxAmount   = 1 << 40
	maxQuantity = 1 << 20
)

// conditionEnv is the CEL environment of rule conditions.
func conditionEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxConditionLn),
		cel.Variable("claim.use", cel.StringType),
		cel.Variable("claim.total", cel.IntType),
		cel.Variable("claim.items", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
	)
}

// compile parses and type-checks a condition, which must have type bool.
func compile(expr string) (cel.Program, error) {
	if expr == "" || len(expr) > maxConditionLn {
		return nil, fmt.Errorf("a condition is 1 to %d bytes", maxConditionLn)
	}
	env, err := conditionEnv()
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, err
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("condition has type %s, want bool", cel.FormatCELType(t))
	}
	return env.Program(ast, cel.CostLimit(ConditionCostLimit))
}
