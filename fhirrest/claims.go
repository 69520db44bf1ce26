package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Insurance claims (records/claims.go, ledger/claims.go). A Claim is POSTed
// by a provider's billing staff and read back by its parties; the
// insurer's node adjudicates it, and its parties read the decision as a
// ClaimResponse and an ExplanationOfBenefit of the same id, and re-run it
// with ClaimResponse/{id}/$verify. A plan's rules are an InsurancePlan
// (id "<insurer>.<plan>") that every member reads, published by the
// insurer's admin with InsurancePlan/$publish-rules. A
// CoverageEligibilityRequest is answered at once, from the Coverage and the
// plan's public rules, and stored nowhere.

// claimRoutes are the routes of claims, added by Register; each is more
// specific than the generic /fhir/{type} routes.
func (s *server) claimRoutes(handle func(string, http.HandlerFunc)) {
	handle("POST /fhir/Claim", s.authed(s.createClaim))
	for _, t := range []string{"Claim", "ClaimResponse", "ExplanationOfBenefit"} {
		handle("GET /fhir/"+t, s.authed(s.searchClaimsAs(t)))
	}
	handle("GET /fhir/Claim/{id}", s.authed(s.readClaimAs("Claim")))
	handle("GET /fhir/ClaimResponse/{id}", s.authed(s.readClaimAs("ClaimResponse")))
	handle("GET /fhir/ExplanationOfBenefit/{id}", s.authed(s.readClaimAs("ExplanationOfBenefit")))
	handle("POST /fhir/CoverageEligibilityRequest", s.authed(s.eligibility))
	handle("GET /fhir/InsurancePlan/{id}", s.authed(s.readPlan))
}

// claimTypes are the types claimRoutes serve, and the interactions of each
// (the CapabilityStatement's).
var claimTypes = map[string][]capInteraction{
	"Claim": {{Code: "create", Documentation: "Sealed to the patient, the submitting organization and the insurer (Coverage/<id> in insurance[0].coverage names the insurer, payor, and the plan, class of type plan). Refused (422) with the reasons when there is no coverage or the plan's rules would deny it (a code not covered, a missing prior authorization: insurance[0].preAuthRef); the same claim twice is a 409."},
		{Code: "read", Documentation: "By its parties: the patient, and staff of the submitting organization or the insurer whose role reads billing records."}},
	"ClaimResponse":              {{Code: "read", Documentation: "The insurer's adjudication of the Claim of the same id, 404 until it is posted; extensions carry the hash of the claim and the rules version it applied."}},
	"ExplanationOfBenefit":       {{Code: "read", Documentation: "The Claim of the same id and its adjudication: what insurance pays and what the patient owes."}},
	"CoverageEligibilityRequest": {{Code: "create", Documentation: "Answered at once with a CoverageEligibilityResponse (200) from the Coverage and the plan's rules; nothing is stored."}},
	"InsurancePlan":              {{Code: "read", Documentation: "id <insurer>.<plan>: the plan's latest rules (extension " + rulesExtension + ", a JSON document), public to members."}},
}

// claimSearchDoc documents the search of the claim types.
const claimSearchDoc = "Of one patient (patient=Patient/<id>; a patient's own by default): the claims the caller may read, each read logged; of ClaimResponse and ExplanationOfBenefit, those adjudicated. No other parameter."

// claimSearchTypes are the claim types searched by patient.
var claimSearchTypes = map[string]bool{"Claim": true, "ClaimResponse": true, "ExplanationOfBenefit": true}

// claimOperations are the operations of claims.
func (s *server) claimOperations() []operation {
	return []operation{
		{route: "POST /fhir/ClaimResponse/{id}/$verify", typ: "ClaimResponse", cap: capOperation{Name: "verify", Definition: "urn:carechain:operation:verify-adjudication"}, handler: s.verifyClaim},
		{route: "POST /fhir/InsurancePlan/$publish-rules", typ: "InsurancePlan", cap: capOperation{Name: "publish-rules", Definition: "urn:carechain:operation:publish-rules"}, handler: s.publishRules},
	}
}

func (s *server) createClaim(w http.ResponseWriter, r *http.Request, c caller) {
	sg, ok := s.signer(w, c)
	if !ok {
		return
	}
	res, err := readResource(w, r, "Claim")
	if err != nil {
		s.failErr(w, err)
		return
	}
	var claim map[string]any
	if err := json.Unmarshal(res.Canonical(), &claim); err != nil {
		s.failErr(w, err)
		return
	}
	id := records.NewRecordID()
	claim["id"] = id
	body, err := json.Marshal(claim)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if _, err := s.Records.SubmitClaim(r.Context(), sg, id, body); err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", s.abs("/fhir/Claim/"+id))
	writeFHIR(w, http.StatusCreated, claim)
}

// readClaimAs serves claim {id} as typ.
func (s *server) readClaimAs(typ string) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		doc, err := s.Records.ReadClaim(r.Context(), c.principal.ID, r.PathValue("id"), typ)
		var denied *records.DeniedError
		switch {
		case errors.Is(err, ledger.ErrNotFound), errors.As(err, &denied):
			// a claim the caller may not read is answered as absent
			s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("%s/%s is not known", typ, r.PathValue("id")))
			return
		case err != nil:
			s.failErr(w, err)
			return
		case typ != "Claim" && doc.Result == nil:
			s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("claim %s is not adjudicated yet", doc.State.ID))
			return
		}
		out, err := claimView(typ, doc)
		if err != nil {
			s.failErr(w, err)
			return
		}
		writeFHIR(w, http.StatusOK, out)
	}
}

// searchClaimsAs serves a search of typ by patient.
func (s *server) searchClaimsAs(typ string) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		for k := range r.URL.Query() {
			if k != "patient" {
				s.fail(w, http.StatusBadRequest, "not-supported", fmt.Errorf("search parameter %q is not supported on %s (patient only; see /fhir/metadata)", k, typ))
				return
			}
		}
		patient, ok := records.PrincipalOfReference(r.URL.Query().Get("patient"))
		if r.URL.Query().Get("patient") == "" && c.principal.Kind == carechain.KindPatient {
			patient, ok = c.principal.ID, true
		}
		if !ok || !strings.HasPrefix(patient, carechain.PatientPrefix) {
			s.fail(w, http.StatusBadRequest, "required", fmt.Errorf("a search of %s needs patient=Patient/<id>", typ))
			return
		}
		docs, err := s.Records.PatientClaims(r.Context(), c.principal.ID, patient, typ)
		if err != nil {
			s.failErr(w, err)
			return
		}
		b := bundle{ResourceType: "Bundle", Type: "searchset", Total: new(int)}
		for _, doc := range docs {
			if typ != "Claim" && doc.Result == nil {
				continue
			}
			out, err := claimView(typ, doc)
			if err != nil {
				s.failErr(w, err)
				return
			}
			body, err := json.Marshal(out)
			if err != nil {
				s.failErr(w, err)
				return
			}
			b.Entry = append(b.Entry, bundleEntry{FullURL: s.abs("/fhir/" + typ + "/" + doc.State.ID), Resource: body, Search: &entrySearch{Mode: "match"}})
		}
		*b.Total = len(b.Entry)
		writeFHIR(w, http.StatusOK, b)
	}
}

func (s *server) verifyClaim(w http.ResponseWriter, r *http.Request, c caller) {
	ver, err := s.Records.VerifyAdjudication(r.Context(), c.principal.ID, r.PathValue("id"))
	var denied *records.DeniedError
	if errors.Is(err, ledger.ErrNotFound) || errors.As(err, &denied) {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("ClaimResponse/%s is not known", r.PathValue("id")))
		return
	} else if err != nil {
		s.failErr(w, err)
		return
	}
	params := []map[string]any{
		{"name": "agrees", "valueBoolean": ver.Agrees},
		{"name": "signer", "valueString": ver.Signer},
		{"name": "posted-outcome", "valueString": ver.Posted.Outcome},
		{"name": "recomputed-outcome", "valueString": ver.Recomputed.Outcome},
		{"name": "posted-benefit", "valueMoney": minorMoney(ver.Posted.Benefit, ver.Posted.Currency)},
		{"name": "recomputed-benefit", "valueMoney": minorMoney(ver.Recomputed.Benefit, ver.Recomputed.Currency)},
	}
	if ver.Problem != "" {
		params = append(params, map[string]any{"name": "problem", "valueString": ver.Problem})
	}
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Parameters", "parameter": params})
}

// minorMoney is a FHIR Money of minor units.
func minorMoney(minor int64, currency string) map[string]any {
	return map[string]any{"value": records.Decimal(minor), "currency": currency}
}

// rulesExtension carries a plan's rules (JSON) in its InsurancePlan.
const rulesExtension = "urn:carechain:insurance-plan-rules"

func (s *server) readPlan(w http.ResponseWriter, r *http.Request, c caller) {
	org, plan, ok := strings.Cut(r.PathValue("id"), ".")
	pv, err := c.view.PlanRules(org, plan, 0)
	if !ok || errors.Is(err, ledger.ErrNotFound) {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("InsurancePlan/%s is not known: its id is <insurer>.<plan>", r.PathValue("id")))
		return
	} else if err != nil {
		s.failErr(w, err)
		return
	}
	writeFHIR(w, http.StatusOK, insurancePlan(pv))
}

func (s *server) publishRules(w http.ResponseWriter, r *http.Request, c caller) {
	sg, ok := s.signer(w, c)
	if !ok {
		return
	}
	var p parametersBody
	if err := readTyped(w, r, MaxBody, "Parameters", &p, "the body must be a Parameters resource with plan and rules (valueString)"); err != nil {
		s.failErr(w, err)
		return
	}
	plan, rules := p.str("plan"), p.str("rules")
	if plan == "" || rules == "" {
		s.fail(w, http.StatusBadRequest, "required", errors.New("the Parameters need plan and rules (the rules JSON document), each a valueString"))
		return
	}
	pv, err := s.Records.PublishRules(r.Context(), sg, plan, []byte(rules))
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", s.abs("/fhir/InsurancePlan/"+pv.Org+"."+pv.Plan))
	writeFHIR(w, http.StatusOK, insurancePlan(pv))
}

// parametersBody is a Parameters resource of string parameters.
type parametersBody struct {
	ResourceType string `json:"resourceType"`
	Parameter    []struct {
		Name        string `json:"name"`
		ValueString string `json:"valueString"`
	} `json:"parameter"`
}

func (p *parametersBody) resourceType() string { return p.ResourceType }

func (p *parametersBody) str(name string) string {
	for _, x := range p.Parameter {
		if x.Name == name {
			return x.ValueString
		}
	}
	return ""
}

// insurancePlan is the InsurancePlan of a plan's rules version.
func insurancePlan(pv *ledger.PlanRulesVersion) map[string]any {
	return map[string]any{
		"resourceType": "InsurancePlan", "id": pv.Org + "." + pv.Plan, "status": "active",
		"meta":       map[string]any{"versionId": fmt.Sprint(pv.Version), "lastUpdated": instant(pv.Time)},
		"identifier": []map[string]any{{"system": "urn:carechain:plan:" + pv.Org, "value": pv.Plan}},
		"name":       pv.Plan,
		"ownedBy":    map[string]any{"reference": "Organization/" + pv.Org},
		"extension": []map[string]any{{"url": rulesExtension, "valueString": string(pv.Rules)},
			{"url": "urn:carechain:applies-from-height", "valueInteger": pv.Height}},
	}
}

// parseRulesOf is the rules of a plan version, which the ledger admitted.
func parseRulesOf(pv *ledger.PlanRulesVersion) (*claims.Rules, error) {
	rules, err := claims.ParseRules(pv.Rules)
	if err != nil {
		return nil, carechain.E(carechain.KindInternal, err)
	}
	return rules, nil
}
