package consent

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain"
)

// Request is an access being asked for.
type Request struct {
	Requester    *carechain.Principal `cbor:"1,keyasint" json:"requester"`
	Patient      string               `cbor:"2,keyasint" json:"patient"`
	RecordID     string               `cbor:"3,keyasint" json:"record_id,omitempty"`
	Category     string               `cbor:"4,keyasint" json:"category"`
	ResourceType string               `cbor:"5,keyasint" json:"resource_type,omitempty"`
	Action       Action               `cbor:"6,keyasint" json:"action"`
	Purpose      Purpose              `cbor:"7,keyasint" json:"purpose"`
	Time         int64                `cbor:"8,keyasint" json:"time"` // unix seconds; block time in consensus
	// RecordedHeight is the height at which the version read was recorded
	// (0: unknown, or not a read of a stored version). A withdrawn study
	// consent still covers versions recorded before the withdrawal.
	RecordedHeight int64 `cbor:"9,keyasint,omitempty" json:"recorded_height,omitempty"`
	// Credentials, if set, returns the requester's credentials judged at
	// Time. It runs only when a condition reads grantee.credentials, so a
	// condition that does not costs nothing more.
	Credentials func() ([]Credential, error) `cbor:"-" json:"-"`
}

// Credential is a requester's credential as a condition sees it.
// Conditions see only valid ones; Invalid, if not empty, says why one is
// not (revoked at a height, expired), for the reason of a refusal.
type Credential struct {
	ID, Kind, Value, Issuer string
	Invalid                 string
}

// Decision is the outcome of Evaluate. Reason is a sentence for the audit log
// and the patient: the rule that allowed, or why the request was denied.
// GrantID is the grant that allowed or, on denial, the grant that came
// closest, if any.
type Decision struct {
	Allowed bool   `cbor:"1,keyasint" json:"allowed"`
	GrantID string `cbor:"2,keyasint" json:"grant_id,omitempty"`
	Reason  string `cbor:"3,keyasint" json:"reason"`
}

// How close a grant came to allowing a request. When nothing allows, the
// reason reported is that of the closest miss: the most specific one.
const (
	missScope = iota
	missUse
	missCondition
	missPeriod
	missRevoked
	allowed
)

// Evaluate decides req against the patient's grants, compiling conditions
// afresh; an Evaluator caches them. See Evaluator.Evaluate.
func Evaluate(grants []Grant, req Request) Decision {
	return (*Evaluator)(nil).Evaluate(grants, req)
}

// Evaluator evaluates requests and keeps a bounded cache of compiled
// conditions. It is safe for concurrent use. A nil or zero Evaluator works and
// caches nothing.
type Evaluator struct {
	mu    sync.Mutex
	size  int
	cache map[string]*Condition
}

// NewEvaluator returns an Evaluator caching up to size compiled conditions.
func NewEvaluator(size int) *Evaluator {
	return &Evaluator{size: size, cache: make(map[string]*Condition, size)}
}

// Evaluate decides req against grants, the patient's grants in the order the
// ledger keeps them (by ID). It denies by default:
//
//   - The patient is always allowed their own records ("patient's own record").
//   - Otherwise the first grant, in the order given, that matches the
//     requester and covers the request's scope, action and purpose, and is
//     unrevoked, in its period and whose condition holds, allows it.
//   - If none does, the Reason explains the closest miss, preferring revoked,
//     then out of period, condition false, action or purpose not covered,
//     scope not covered, and finally no grant for the requester at all.
//
// Grants for other patients are ignored.
func (e *Evaluator) Evaluate(grants []Grant, req Request) Decision {
	p := req.Requester
	switch {
	case p == nil:
		return Decision{Reason: "request has no requester"}
	case req.Patient == "":
		return Decision{Reason: "request names no patient"}
	case p.ID == req.Patient:
		return Decision{Allowed: true, Reason: "patient's own record"}
	case !req.Action.Valid():
		return Decision{Reason: fmt.Sprintf("unknown action %q", req.Action)}
	case !req.Purpose.Valid():
		return Decision{Reason: fmt.Sprintf("unknown purpose %q", req.Purpose)}
	}
	best, bestMiss := Decision{Reason: fmt.Sprintf("%s has no grant from the patient", p.ID)}, -1
	for i := range grants {
		g := &grants[i]
		if g.Patient != req.Patient || !g.Grantee.Matches(p) {
			continue
		}
		miss, reason := e.check(g, &req)
		if miss == allowed {
			return Decision{Allowed: true, GrantID: g.ID, Reason: reason}
		}
		if miss > bestMiss {
			best, bestMiss = Decision{GrantID: g.ID, Reason: reason}, miss
		}
	}
	return best
}

// check decides one grant whose grantee matches; it returns allowed or the
// kind of miss, with the reason. Conditions run last: they are the costliest.
func (e *Evaluator) check(g *Grant, req *Request) (int, string) {
	switch {
	case len(g.Categories) > 0 && !slices.Contains(g.Categories, req.Category) && !slices.Contains(g.Categories, AnyCategory):
		return missScope, "no grant covers category " + req.Category
	case len(g.ResourceTypes) > 0 && !slices.Contains(g.ResourceTypes, req.ResourceType):
		return missScope, "no grant covers resource type " + req.ResourceType
	case g.RecordID != "" && g.RecordID != req.RecordID, len(g.Records) > 0 && !slices.Contains(g.Records, req.RecordID):
		return missScope, "no grant covers record " + req.RecordID
	case !slices.Contains(g.Actions, req.Action):
		return missUse, fmt.Sprintf("grant %s does not cover action %s", g.ID, req.Action)
	case !slices.Contains(g.Purposes, req.Purpose):
		return missUse, fmt.Sprintf("grant %s does not cover purpose %s", g.ID, req.Purpose)
	case g.Revoked && !g.coversBeforeWithdrawal(req):
		if g.WithdrawnHeight != 0 {
			return missRevoked, fmt.Sprintf("the patient withdrew from study %s at height %d (grant %s): what they record from then on is not shared", g.Study, g.WithdrawnHeight, g.ID)
		}
		return missRevoked, fmt.Sprintf("grant %s was revoked", g.ID)
	case req.Time < g.NotBefore:
		return missPeriod, fmt.Sprintf("grant %s is not valid before %s", g.ID, formatTime(g.NotBefore))
	case g.NotAfter != 0 && req.Time >= g.NotAfter:
		return missPeriod, fmt.Sprintf("grant %s expired at %s", g.ID, formatTime(g.NotAfter))
	}
	if g.Condition != "" {
		c, err := e.compile(g.Condition)
		if err != nil {
			return missCondition, fmt.Sprintf("condition of grant %s does not compile: %v", g.ID, err)
		}
		ok, creds, err := c.eval(req)
		if err != nil {
			return missCondition, fmt.Sprintf("condition of grant %s failed: %v", g.ID, err)
		}
		if !ok {
			return missCondition, fmt.Sprintf("condition of grant %s is false", g.ID) + credentialsNote(req.Requester.ID, creds)
		}
	}
	if g.Revoked {
		return allowed, fmt.Sprintf("grant %s allows %s for %s of what was recorded (height %d) before the patient withdrew from study %s at height %d",
			g.ID, req.Action, req.Purpose, req.RecordedHeight, g.Study, g.WithdrawnHeight)
	}
	return allowed, fmt.Sprintf("grant %s allows %s for %s", g.ID, req.Action, req.Purpose)
}

// coversBeforeWithdrawal reports whether g, a revoked grant, still covers
// req: a read of a version recorded before the patient withdrew from g's
// study.
func (g *Grant) coversBeforeWithdrawal(req *Request) bool {
	return g.WithdrawnHeight != 0 && req.Action == ActionRead && req.RecordedHeight != 0 && req.RecordedHeight < g.WithdrawnHeight
}

func formatTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// compile returns the compiled condition, from the cache if possible. Errors
// are not cached: a stored grant's condition compiled when it was stored.
func (e *Evaluator) compile(expr string) (*Condition, error) {
	if e == nil || e.size <= 0 {
		return CompileCondition(expr)
	}
	e.mu.Lock()
	c, ok := e.cache[expr]
	e.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := CompileCondition(expr)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cache) >= e.size {
		clear(e.cache) // crude but bounded; a working set that fits stays warm
	}
	e.cache[expr] = c
	return c, nil
}
