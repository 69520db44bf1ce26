package consent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// ConditionCostLimit bounds, in CEL cost units, the work of one evaluation of
// a condition. A condition that exceeds it denies.
const ConditionCostLimit = 10_000

// conditionEnv is the CEL environment of grant conditions, immutable once built.
//
// The variables are qualified names, so `request.purpose` is a string, not a
// map lookup, and `request` alone is undeclared. CEL's standard library has no
// clock; deterministic{} removes the rest of what could differ between nodes.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxConditionLen),
		cel.Variable("request.purpose", cel.StringType),
		cel.Variable("request.action", cel.StringType),
		cel.Variable("request.category", cel.StringType),
		cel.Variable("request.resource_type", cel.StringType),
		cel.Variable("grantee.id", cel.StringType),
		cel.Variable("grantee.kind", cel.StringType),
		cel.Variable("grantee.org", cel.StringType),
		cel.Variable("grantee.roles", cel.ListType(cel.StringType)),
		cel.Variable("time", cel.TimestampType),
		cel.ASTValidators(cel.ValidateTimestampLiterals(), cel.ValidateDurationLiterals(), cel.ValidateRegexLiterals(), deterministic{}),
	)
})

// Condition is a compiled grant condition, safe for concurrent use.
type Condition struct{ prg cel.Program }

// CompileCondition parses and type-checks a grant condition, which must have
// type bool. Errors carry the CEL compiler's own message, to show the author.
//
// The condition sees these variables: request.purpose, request.action,
// request.category, request.resource_type, grantee.id, grantee.kind,
// grantee.org (strings), grantee.roles (list of strings) and time (the
// request's time, a timestamp in UTC). Grantee here is the requester.
func CompileCondition(expr string) (*Condition, error) {
	env, err := conditionEnv()
	if err != nil {
		return nil, fmt.Errorf("consent: building CEL environment: %w", err)
	}
	if len(expr) > maxConditionLen {
		return nil, fmt.Errorf("condition is %d bytes, more than %d", len(expr), maxConditionLen)
	}
	checked, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, err
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("condition has type %s, want bool", cel.FormatCELType(t))
	}
	prg, err := env.Program(checked, cel.CostLimit(ConditionCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &Condition{prg: prg}, nil
}

var errCostLimit = fmt.Errorf("exceeded the cost limit of %d", ConditionCostLimit)

// Eval evaluates the condition for req. An error means the condition could
// not be decided, which callers must treat as false.
func (c *Condition) Eval(req *Request) (bool, error) {
	if req.Requester == nil {
		return false, errors.New("request has no requester")
	}
	out, _, err := c.prg.Eval(activation{req})
	if cancel := (interpreter.EvalCancelledError{}); errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
		return false, errCostLimit
	} else if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result has type %s, want bool", out.Type().TypeName())
	}
	return b, nil
}

// activation hands the request to CEL without building a map per evaluation.
type activation struct{ req *Request }

func (activation) Parent() interpreter.Activation { return nil }

func (a activation) ResolveName(name string) (any, bool) {
	r, p := a.req, a.req.Requester
	switch name {
	case "request.purpose":
		return string(r.Purpose), true
	case "request.action":
		return string(r.Action), true
	case "request.category":
		return r.Category, true
	case "request.resource_type":
		return r.ResourceType, true
	case "grantee.id":
		return p.ID, true
	case "grantee.kind":
		return string(p.Kind), true
	case "grantee.org":
		return p.Org, true
	case "grantee.roles":
		roles := make([]string, len(p.Roles))
		for i, role := range p.Roles {
			roles[i] = string(role)
		}
		return roles, true
	case "time":
		return types.Timestamp{Time: time.Unix(r.Time, 0).UTC()}, true
	}
	return nil, false
}

// deterministic rejects what could make nodes disagree:
//   - iterating (all, exists, map, filter, ...) over anything but a list:
//     Go's map order is random, so `m.map(k, k)[0]`, or the cost an exists
//     spends before it stops, would vary;
//   - time zone names and offsets in timestamp accessors, such as
//     getHours("Europe/Paris"): they depend on each node's tz database.
type deterministic struct{}

func (deterministic) Name() string { return "carechain.consent.deterministic" }

func (deterministic) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, e := range ast.MatchDescendants(ast.NavigateAST(a), ast.AllMatcher()) {
		switch e.Kind() {
		case ast.ComprehensionKind:
			r := e.AsComprehension().IterRange()
			if t := a.GetType(r.ID()); t.Kind() != types.ListKind {
				iss.ReportErrorAtID(r.ID(), "iteration over %s is not allowed: only lists iterate in a deterministic order", cel.FormatCELType(t))
			}
		case ast.CallKind:
			if slices.ContainsFunc(a.GetOverloadIDs(e.ID()), func(id string) bool { return strings.HasSuffix(id, "_tz") }) {
				iss.ReportErrorAtID(e.ID(), "time zones are not allowed in %s(): timestamps are UTC", e.AsCall().FunctionName())
			}
		}
	}
}
