package fhirrest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/records"
)

// The FHIR views of a claim and its adjudication: a ClaimResponse and an
// ExplanationOfBenefit, built from the Claim and the claims.Result the
// insurer sealed, the same way on every node.

// instant is unix seconds as a FHIR instant.
func instant(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// Adjudication categories (http://terminology.hl7.org/CodeSystem/adjudication).
const adjudicationSystem = "http://terminology.hl7.org/CodeSystem/adjudication"

// Extensions a ClaimResponse carries: the inputs of its adjudication.
const (
	claimHashExtension    = "urn:carechain:claim-hash"
	rulesVersionExtension = "urn:carechain:rules-version"
)

func category(code string) map[string]any {
	return map[string]any{"coding": []map[string]any{{"system": adjudicationSystem, "code": code}}}
}

func adjudicationOf(code string, minor int64, currency string) map[string]any {
	return map[string]any{"category": category(code), "amount": minorMoney(minor, currency)}
}

// claimView is doc as typ: the Claim itself, or its adjudication as a
// ClaimResponse or an ExplanationOfBenefit.
func claimView(typ string, doc *records.ClaimDoc) (map[string]any, error) {
	var claim map[string]any
	if err := json.Unmarshal(doc.Resource, &claim); err != nil {
		return nil, fmt.Errorf("claim %s: %w", doc.State.ID, err)
	}
	if typ == "Claim" {
		claim["meta"] = map[string]any{"lastUpdated": instant(doc.State.Time)}
		return claim, nil
	}
	res := doc.Result
	out := map[string]any{
		"resourceType": typ, "id": doc.State.ID, "status": "active",
		"meta": map[string]any{"lastUpdated": instant(doc.Adjudication.Time)},
		"type": claim["type"], "use": res.Use, "patient": claim["patient"],
		"created": instant(doc.Adjudication.Time), "insurer": map[string]any{"reference": "Organization/" + doc.State.Insurer},
		"outcome":     map[bool]string{true: "partial", false: "complete"}[res.Outcome == claims.OutcomePartial],
		"disposition": disposition(res),
		"item":        itemsOf(typ, claim, res),
		"total": []map[string]any{adjudicationOf("submitted", res.Submitted, res.Currency), adjudicationOf("eligible", res.Eligible, res.Currency),
			adjudicationOf("benefit", res.Benefit, res.Currency), adjudicationOf("copay", res.PatientPays, res.Currency)},
		"extension": []map[string]any{{"url": claimHashExtension, "valueString": res.ClaimHash},
			{"url": rulesVersionExtension, "valueString": fmt.Sprintf("%s/%s|%d", doc.State.Insurer, res.Plan, res.RulesVersion)}},
	}
	if len(res.Reasons)+len(res.Notes) > 0 {
		var notes []map[string]any
		for i, r := range append(slices.Clone(res.Reasons), res.Notes...) {
			notes = append(notes, map[string]any{"number": i + 1, "text": r})
		}
		out["processNote"] = notes
	}
	if res.Use == claims.UsePreauthorization && res.Outcome != claims.OutcomeDenied {
		out["preAuthRef"] = doc.State.ID
		if typ == "ExplanationOfBenefit" {
			out["preAuthRef"] = []string{doc.State.ID}
		}
	}
	if typ == "ClaimResponse" {
		out["request"] = map[string]any{"reference": "Claim/" + doc.State.ID}
		out["payment"] = map[string]any{"amount": minorMoney(res.Benefit, res.Currency), "type": map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/ex-paymenttype", "code": "complete"}}}}
		return out, nil
	}
	out["claim"] = map[string]any{"reference": "Claim/" + doc.State.ID}
	out["claimResponse"] = map[string]any{"reference": "ClaimResponse/" + doc.State.ID}
	out["provider"] = claim["provider"]
	out["insurance"] = []map[string]any{{"focal": true, "coverage": map[string]any{"reference": "Coverage/" + doc.Facts.Coverage}}}
	out["payment"] = map[string]any{"amount": minorMoney(res.Benefit, res.Currency)}
	if u := res.UsageAfter; u != nil {
		out["benefitBalance"] = []map[string]any{benefitBalance(u, res.Currency)}
	}
	return out, nil
}

// benefitBalance is the patient's usage of the plan in the claim's year
// after it, as an ExplanationOfBenefit shows it: the benefit paid and the
// units used per limited code.
func benefitBalance(u *claims.Usage, currency string) map[string]any {
	fin := []map[string]any{{"type": map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": "benefit"}},
		"text": fmt.Sprintf("benefit paid in %d", u.Year)}, "usedMoney": minorMoney(u.Paid, currency)}}
	for _, code := range slices.Sorted(maps.Keys(u.Units)) {
		fin = append(fin, map[string]any{"type": map[string]any{"text": fmt.Sprintf("units of %s used in %d", code, u.Year)}, "usedUnsignedInt": u.Units[code]})
	}
	return map[string]any{
		"category":  map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/ex-benefitcategory", "code": "1", "display": "Medical Care"}}},
		"term":      map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/benefit-term", "code": "annual"}}},
		"financial": fin,
	}
}

// disposition says the outcome in words, with the reasons of a denial.
func disposition(res *claims.Result) string {
	d := res.Outcome
	var why []string
	why = append(why, res.Reasons...)
	for _, ir := range res.Items {
		if !ir.Approved && ir.Reason != "" {
			why = append(why, fmt.Sprintf("item %d: %s", ir.Sequence, ir.Reason))
		}
	}
	if len(why) > 0 {
		d += ": " + strings.Join(why, "; ")
	}
	return d
}

// itemsOf are the adjudicated items: a ClaimResponse's name their claim
// item by sequence, an ExplanationOfBenefit's repeat its service.
func itemsOf(typ string, claim map[string]any, res *claims.Result) []map[string]any {
	claimItems, _ := claim["item"].([]any)
	var out []map[string]any
	for _, ir := range res.Items {
		adj := []map[string]any{adjudicationOf("submitted", ir.Submitted, res.Currency), adjudicationOf("eligible", ir.Eligible, res.Currency)}
		if !ir.Approved {
			adj = append(adj, map[string]any{"category": category("eligible"), "reason": map[string]any{"text": ir.Reason}})
		}
		it := map[string]any{"adjudication": adj}
		if typ == "ClaimResponse" {
			it["itemSequence"] = ir.Sequence
		} else {
			it["sequence"] = ir.Sequence
			for _, ci := range claimItems {
				if m, _ := ci.(map[string]any); m != nil && fmt.Sprint(m["sequence"]) == fmt.Sprint(ir.Sequence) {
					it["productOrService"] = m["productOrService"]
				}
			}
		}
		out = append(out, it)
	}
	return out
}

type eligibilityJSON struct {
	ResourceType string   `json:"resourceType"`
	Purpose      []string `json:"purpose"`
	Patient      struct {
		Reference string `json:"reference"`
	} `json:"patient"`
	Insurance []struct {
		Coverage struct {
			Reference string `json:"reference"`
		} `json:"coverage"`
	} `json:"insurance"`
	Item []struct {
		ProductOrService map[string]any `json:"productOrService"`
	} `json:"item"`
}

// eligibility answers a CoverageEligibilityRequest from the Coverage (read
// by the caller for billing, logged) and the plan's rules in force.
func (s *server) eligibility(w http.ResponseWriter, r *http.Request, c caller) {
	res, err := readResource(w, r, "CoverageEligibilityRequest")
	if err != nil {
		s.failErr(w, err)
		return
	}
	var req eligibilityJSON
	if err := json.Unmarshal(res.Canonical(), &req); err != nil || len(req.Insurance) != 1 {
		s.fail(w, http.StatusBadRequest, "required", fmt.Errorf("the request names one Coverage (insurance[0].coverage)"), "CoverageEligibilityRequest.insurance")
		return
	}
	patient, _ := records.PrincipalOfReference(req.Patient.Reference)
	coverage := strings.TrimPrefix(req.Insurance[0].Coverage.Reference, "Coverage/")
	cov, err := s.Records.CoverageOf(r.Context(), c.principal.ID, coverage, patient)
	if err != nil {
		s.failErr(w, err)
		return
	}
	pv, err := c.view.PlanRules(cov.Insurer, cov.Plan, 0)
	if err != nil {
		s.failErr(w, err)
		return
	}
	rules, err := parseRulesOf(pv)
	if err != nil {
		s.failErr(w, err)
		return
	}
	var items []map[string]any
	for _, it := range req.Item {
		items = append(items, eligibilityItem(rules, it.ProductOrService))
	}
	writeFHIR(w, http.StatusOK, map[string]any{
		"resourceType": "CoverageEligibilityResponse", "status": "active", "purpose": req.Purpose,
		"patient": map[string]any{"reference": req.Patient.Reference}, "created": s.Now().UTC().Format(time.RFC3339),
		"request": map[string]any{"display": "the CoverageEligibilityRequest answered here (not stored)"},
		"outcome": "complete", "disposition": fmt.Sprintf("plan %s/%s, rules version %d", cov.Insurer, cov.Plan, pv.Version),
		"insurer": map[string]any{"reference": "Organization/" + cov.Insurer},
		"insurance": []map[string]any{{"coverage": map[string]any{"reference": "Coverage/" + coverage}, "inforce": true,
			"item": items}},
	})
}

// eligibilityItem is what the rules say of one requested service.
func eligibilityItem(rules *claims.Rules, pos map[string]any) map[string]any {
	out := map[string]any{"productOrService": pos}
	coding, _ := pos["coding"].([]any)
	var system, code string
	if len(coding) > 0 {
		m, _ := coding[0].(map[string]any)
		system, code = fmt.Sprint(m["system"]), fmt.Sprint(m["code"])
	}
	b := rules.Benefit(system, code)
	if b == nil {
		out["excluded"] = true
		out["description"] = fmt.Sprintf("%s|%s is not covered by the plan", system, code)
		return out
	}
	out["excluded"] = false
	out["authorizationRequired"] = b.PriorAuth
	benefitType := func(code string) map[string]any {
		return map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": code}}}
	}
	benefits := []map[string]any{{"type": benefitType("benefit"), "allowedMoney": minorMoney(b.MaxUnitPrice, rules.Currency)}}
	if rules.Copay > 0 {
		benefits = append(benefits, map[string]any{"type": benefitType("copay-maximum"), "allowedMoney": minorMoney(rules.Copay, rules.Currency)})
	}
	if b.MaxQuantity > 0 {
		benefits = append(benefits, map[string]any{"type": benefitType("visit"), "allowedUnsignedInt": b.MaxQuantity})
	}
	out["benefit"] = benefits
	return out
}
