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
		cel.Variable("grantee.credentials", cel.ListType(cel.MapType(cel.StringType, cel.StringType))),
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
// grantee.org (strings), grantee.roles (list of strings),
// grantee.credentials (list of maps with string fields id, kind, value and
// issuer: the requester's credentials valid at the request's time, that
// is issued, not revoked and not expired) and time (the request's time, a
// timestamp in UTC). Grantee here is the requester. For example:
//
//	grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")
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
	ok, _, err := c.eval(req)
	return ok, err
}

// eval is Eval, also returning the requester's credentials if the
// condition read them (nil if it did not), to explain a refusal.
func (c *Condition) eval(req *Request) (bool, []Credential, error) {
	if req.Requester == nil {
		return false, nil, errors.New("request has no requester")
	}
	act := &activation{req: req}
	out, _, err := c.prg.Eval(act)
	if act.credErr != nil {
		return false, nil, fmt.Errorf("reading the requester's credentials: %w", act.credErr)
	}
	if cancel := (interpreter.EvalCancelledError{}); errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
		return false, act.creds, errCostLimit
	} else if err != nil {
		return false, act.creds, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, act.creds, fmt.Errorf("result has type %s, want bool", out.Type().TypeName())
	}
	return b, act.creds, nil
}

// activation hands the request to CEL without building a map per
// evaluation. It reads the requester's credentials only if the condition
// names them, and keeps them (creds) to explain a refusal.
type activation struct {
	req     *Request
	creds   []Credential
	credErr error
}

func (*activation) Parent() interpreter.Activation { return nil }

// credentials is grantee.credentials: the valid ones, in the order given (by id).
func (a *activation) credentials() []map[string]string {
	if a.req.Credentials != nil && a.creds == nil && a.credErr == nil {
		a.creds, a.credErr = a.req.Credentials()
		if a.creds == nil {
			a.creds = []Credential{}
		}
	}
	out := []map[string]string{}
	for _, c := range a.creds {
		if c.Invalid == "" {
			out = append(out, map[string]string{"id": c.ID, "kind": c.Kind, "value": c.Value, "issuer": c.Issuer})
		}
	}
	return out
}

func (a *activation) ResolveName(name string) (any, bool) {
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
	case "grantee.credentials":
		return a.credentials(), true
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

// credentialsNote explains a false condition that read the requester's
// credentials: which they hold and why those not valid are not.
func credentialsNote(requester string, creds []Credential) string {
	if creds == nil {
		return ""
	}
	if len(creds) == 0 {
		return fmt.Sprintf(" (%s holds no credential)", requester)
	}
	notes := make([]string, len(creds))
	for i, c := range creds {
		notes[i] = c.Invalid
		if c.Invalid == "" {
			notes[i] = fmt.Sprintf("credential %s (%s %s, issued by %s) is valid", c.ID, c.Kind, c.Value, c.Issuer)
		}
	}
	return " (" + strings.Join(notes, "; ") + ")"
}
