package fhirrest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// A patient's own settings, as FHIR operations on their Patient, each with a
// Parameters body; only the patient themself calls them (403 otherwise),
// signed with their key on this node (passphrase login):
//
//	POST /fhir/Patient/{id}/$emergency-rule    sets the break-glass rule:
//	    role (valueCode, 1 or more), orgType (valueCode, any; none: every type),
//	    category (valueCode, any; none: every category),
//	    duration (valueDuration, UCUM s, min, h or d; at most 7 days),
//	    requireReason (valueBoolean)
//	  or clears it: clear (valueBoolean true), alone
//	POST /fhir/Patient/{id}/$delegate          delegate (valueReference Patient/<id>)
//	POST /fhir/Patient/{id}/$remove-delegate   delegate (valueReference Patient/<id>)
//
// Each answers 200 with an informational OperationOutcome saying what it
// did, once its transaction has committed.

// parameters is a FHIR Parameters resource, with the value types the
// operations here take.
type parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []parameter `json:"parameter"`
}

func (ps *parameters) resourceType() string { return ps.ResourceType }

type parameter struct {
	Name           string     `json:"name"`
	ValueCode      *string    `json:"valueCode"`
	ValueBoolean   *bool      `json:"valueBoolean"`
	ValueString    *string    `json:"valueString"`
	ValueReference *reference `json:"valueReference"`
	ValueDuration  *struct {
		Value float64 `json:"value"`
		Code  string  `json:"code"`
	} `json:"valueDuration"`
}

// badParameter is a Parameters body refused for its parameter name.
func badParameter(name string, err error) error {
	path := "Parameters.parameter"
	if name != "" {
		path += ":" + name
	}
	return &requestError{kind: carechain.KindMalformed, code: "value", path: path, err: err}
}

// patientOperation serves a patient's operation: it checks the caller is the
// patient of the URL, reads the Parameters, and runs op signed with the
// patient's key.
func (s *server) patientOperation(op func(context.Context, records.Signer, []parameter) (string, error)) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		if p, ok := patientOf(r.PathValue("id")); !ok || p != c.principal.ID {
			s.fail(w, http.StatusForbidden, "forbidden", errors.New("only the patient themself sets their emergency rule and delegates"))
			return
		}
		ps, err := readParameters(w, r)
		if err != nil {
			s.failErr(w, err)
			return
		}
		signer, ok := s.signer(w, c)
		if !ok {
			return
		}
		done, err := op(r.Context(), signer, ps)
		if err != nil {
			s.failErr(w, err)
			return
		}
		writeFHIR(w, http.StatusOK, &outcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "information", Code: "informational", Diagnostics: done}}})
	}
}

// readParameters reads a Parameters body.
func readParameters(w http.ResponseWriter, r *http.Request) ([]parameter, error) {
	var ps parameters
	if err := readTyped(w, r, carechain.MaxSmallRequestBytes, "Parameters", &ps, "body is not a FHIR Parameters"); err != nil {
		return nil, err
	}
	return ps.Parameter, nil
}

// setEmergencyRule is $emergency-rule: set the rule the parameters give, or
// clear it.
func (s *server) setEmergencyRule(ctx context.Context, patient records.Signer, ps []parameter) (string, error) {
	rule, clear, err := emergencyRuleOf(ps)
	if err != nil {
		return "", err
	}
	if clear {
		return "emergency rule cleared", s.Records.ClearEmergencyRule(ctx, patient)
	}
	return "emergency rule set", s.Records.SetEmergencyRule(ctx, patient, rule)
}

// emergencyRuleOf maps $emergency-rule's parameters to a rule, or to clear.
func emergencyRuleOf(ps []parameter) (rule consent.EmergencyRule, clear bool, err error) {
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] && (p.Name == "duration" || p.Name == "requireReason" || p.Name == "clear") {
			return rule, false, badParameter(p.Name, errors.New("given more than once"))
		}
		seen[p.Name] = true
		var bad error
		switch {
		case p.Name == "role" && p.ValueCode != nil:
			rule.Roles = append(rule.Roles, carechain.Role(*p.ValueCode))
		case p.Name == "orgType" && p.ValueCode != nil:
			rule.OrgTypes = append(rule.OrgTypes, carechain.OrgType(*p.ValueCode))
		case p.Name == "category" && p.ValueCode != nil:
			rule.Categories = append(rule.Categories, *p.ValueCode)
		case p.Name == "requireReason" && p.ValueBoolean != nil:
			rule.RequireReason = *p.ValueBoolean
		case p.Name == "clear" && p.ValueBoolean != nil:
			clear = *p.ValueBoolean
		case p.Name == "duration" && p.ValueDuration != nil:
			rule.DurationSeconds, bad = durationSeconds(p.ValueDuration.Value, p.ValueDuration.Code)
		default:
			bad = errors.New("unknown parameter, or not of its type (role, orgType, category: valueCode; duration: valueDuration; requireReason, clear: valueBoolean)")
		}
		if bad != nil {
			return rule, false, badParameter(p.Name, bad)
		}
	}
	if clear {
		if len(ps) != 1 {
			return rule, false, badParameter("clear", errors.New("clear=true comes alone"))
		}
		return rule, true, nil
	}
	if err := rule.Validate(); err != nil {
		return rule, false, badParameter("", err)
	}
	return rule, false, nil
}

// durationSeconds is a FHIR Duration in UCUM seconds, minutes, hours or days
// as whole seconds.
func durationSeconds(value float64, code string) (int64, error) {
	unit := map[string]time.Duration{"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[code]
	if unit == 0 {
		return 0, fmt.Errorf("duration code %q: want s, min, h or d", code)
	}
	secs := value * unit.Seconds()
	if secs < 1 || secs > consent.MaxEmergencyDuration {
		return 0, fmt.Errorf("duration %v %s: want 1 s to 7 days", value, code)
	}
	return int64(secs), nil
}

// delegateOf is the one delegate parameter of $delegate and $remove-delegate.
func delegateOf(ps []parameter) (string, error) {
	if len(ps) != 1 || ps[0].Name != "delegate" || ps[0].ValueReference == nil {
		return "", badParameter("delegate", errors.New("want one parameter delegate, a valueReference to Patient/<id>"))
	}
	d, ok := patientOf(ps[0].ValueReference.Reference)
	if !ok {
		return "", badParameter("delegate", fmt.Errorf("delegate %q is not Patient/<id>", ps[0].ValueReference.Reference))
	}
	return d, nil
}

func (s *server) addDelegate(ctx context.Context, patient records.Signer, ps []parameter) (string, error) {
	d, err := delegateOf(ps)
	if err != nil {
		return "", err
	}
	return "delegate " + d + " named", s.Records.Delegate(ctx, patient, d)
}

func (s *server) removeDelegate(ctx context.Context, patient records.Signer, ps []parameter) (string, error) {
	d, err := delegateOf(ps)
	if err != nil {
		return "", err
	}
	return "delegate " + d + " removed", s.Records.RemoveDelegate(ctx, patient, d)
}
