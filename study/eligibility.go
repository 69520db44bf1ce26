package study

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"cel.dev/cel-go/cel"
)

// Eligibility criteria as CEL. A protocol's Criteria are named boolean CEL
// expressions over one patient's data (Subject): all must hold for the
// patient to be eligible. They are checked where the data is decrypted (the
// site's node or the patient's own CLI, see Eligible), never on the ledger,
// which receives only the yes and the protocol version whose criteria said
// it. Naming each criterion lets a refusal say which one failed.

// Bounds on criteria.
const (
	MaxCriteria = 32
	// CriteriaCostLimit bounds, in CEL cost units, one evaluation.
	CriteriaCostLimit = 100_000
)

// Criterion is one named eligibility rule.
type Criterion struct {
	ID   string `cbor:"1,keyasint" json:"id"`
	Expr string `cbor:"2,keyasint" json:"expr"`
}

// Subject is what the criteria see of a patient: age (whole years at the
// evaluation's date), sex (FHIR administrative gender), conditions (codes of
// their Condition resources) and observations (the latest numeric value of
// each Observation code).
type Subject struct {
	Age          int64
	Sex          string
	Conditions   []string
	Observations map[string]float64
}

// criteriaEnv is the CEL environment of eligibility criteria.
var criteriaEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxCriteriaLen),
		cel.Variable("age", cel.IntType),
		cel.Variable("sex", cel.StringType),
		cel.Variable("conditions", cel.ListType(cel.StringType)),
		cel.Variable("observations", cel.MapType(cel.StringType, cel.DoubleType)),
	)
})

// compileCriterion compiles one criterion, which must have type bool.
func compileCriterion(expr string) (cel.Program, error) {
	env, err := criteriaEnv()
	if err != nil {
		return nil, fmt.Errorf("study: building CEL environment: %w", err)
	}
	checked, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, err
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("has type %s, want bool", cel.FormatCELType(t))
	}
	return env.Program(checked, cel.CostLimit(CriteriaCostLimit))
}

// checkCriteria refuses criteria that are too many, badly named or do not
// compile.
func checkCriteria(cs []Criterion) error {
	if len(cs) > MaxCriteria {
		return fmt.Errorf("a protocol has at most %d criteria", MaxCriteria)
	}
	for i, c := range cs {
		if !idPattern.MatchString(c.ID) || slices.ContainsFunc(cs[:i], func(o Criterion) bool { return o.ID == c.ID }) {
			return fmt.Errorf("criterion %d: id %q must be 1-64 of [a-z0-9._-] and unique", i, c.ID)
		}
		if c.Expr == "" || len(c.Expr) > MaxCriteriaLen {
			return fmt.Errorf("criterion %s: an expression of 1 to %d bytes is required", c.ID, MaxCriteriaLen)
		}
		if _, err := compileCriterion(c.Expr); err != nil {
			return fmt.Errorf("criterion %s: %w", c.ID, err)
		}
	}
	return nil
}

// IneligibleError says which criterion a patient fails.
type IneligibleError struct {
	Criterion, Expr string
	// Err is set when the criterion could not be evaluated (missing data).
	Err error
}

func (e *IneligibleError) Error() string {
	if e.Expr == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return fmt.Sprintf("criterion %s (%s) cannot be evaluated: %v", e.Criterion, e.Expr, e.Err)
	}
	return fmt.Sprintf("criterion %s (%s) is not met", e.Criterion, e.Expr)
}

// Eligible evaluates p's criteria over s, in order: nil when all hold,
// otherwise an *IneligibleError naming the first that does not. A protocol
// without criteria admits no one (an *IneligibleError naming none): its
// eligibility is text only.
func (p *Protocol) Eligible(s Subject) error {
	if len(p.Criteria) == 0 {
		return &IneligibleError{Err: errors.New("the protocol in force has no eligibility criteria in CEL: its sponsor amends it to add them (--criterion)")}
	}
	obs := s.Observations
	if obs == nil {
		obs = map[string]float64{}
	}
	vars := map[string]any{"age": s.Age, "sex": s.Sex, "conditions": append([]string{}, s.Conditions...), "observations": obs}
	for _, c := range p.Criteria {
		prg, err := compileCriterion(c.Expr)
		if err != nil {
			return &IneligibleError{Criterion: c.ID, Expr: c.Expr, Err: err}
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			return &IneligibleError{Criterion: c.ID, Expr: c.Expr, Err: err}
		}
		if ok, _ := out.Value().(bool); !ok {
			return &IneligibleError{Criterion: c.ID, Expr: c.Expr}
		}
	}
	return nil
}
