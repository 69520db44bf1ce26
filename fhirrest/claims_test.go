package fhirrest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// setupClaims is a FHIR API on a real node of a hospital, hosp-a (its
// registration clerk hosp-a/clerk, physician hosp-a/dr-a), and an insurer,
// carewell (admin carewell/admin, claims officer carewell/claims), with
// patient/p registered by hosp-a. The node holds both organizations' keys.
func setupClaims(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, keys: map[string]ed25519.PrivateKey{}}
	n, kr := e.startNode([]envOrg{{"hosp-a", carechain.OrgHospital}, {"carewell", carechain.OrgInsurer}}, []envReg{
		{"hosp-a/admin", tx.Register{ID: "hosp-a/clerk", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RoleRegistrationClerk}}},
		{"hosp-a/admin", tx.Register{ID: "hosp-a/dr-a", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}}},
		{"carewell/admin", tx.Register{ID: "carewell/claims", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RoleClaimsOfficer}}},
	})
	svc, err := records.New(n, kr, records.Options{Node: "fhir"})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.cust = &records.Custodian{}
	for _, id := range []string{"hosp-a/clerk", "hosp-a/dr-a", "carewell/admin", "carewell/claims"} {
		e.cust.Add(id, e.keys[id])
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.opts = fhirrest.Options{App: n.App(), Records: svc, Custodian: e.cust, BaseURL: e.srv.URL}
	fhirrest.Register(mux, e.opts)
	return e
}

const (
	cpt      = "http://www.ama-assn.org/go/cpt"
	officeV  = "99213" // an office visit: covered up to 100.00 a unit, 2 units a claim
	ctHead   = "70450" // a CT of the head: covered up to 500.00, with a prior authorization
	acupunct = "97810" // not covered
)

// goldRules are plan gold's rules with the office visit capped at cap (minor units).
func goldRules(capOffice int64) string {
	return fmt.Sprintf(`{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[
	 {"system":%q,"code":%q,"maxUnitPrice":%d,"maxQuantity":2},
	 {"system":%q,"code":%q,"maxUnitPrice":50000,"priorAuth":true}],
	 "conditions":[{"expr":"claim.items.all(i, i.quantity <= 10)","reason":"at most 10 units of one service per claim"}]}`,
		cpt, officeV, capOffice, cpt, ctHead)
}

func publishParams(plan, rules string) []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []map[string]any{
		{"name": "plan", "valueString": plan}, {"name": "rules", "valueString": rules}}})
	return b
}

// claimBody is a Claim of patient/p under coverage: use, items as
// code/quantity/price triples, on date, with prior authorizations.
func claimBody(use, coverage, date string, preAuth []string, items ...any) []byte {
	var its []map[string]any
	for i := 0; i+2 < len(items); i += 3 {
		its = append(its, map[string]any{"sequence": i/3 + 1,
			"productOrService": map[string]any{"coding": []map[string]any{{"system": cpt, "code": items[i]}}},
			"quantity":         map[string]any{"value": items[i+1]}, "servicedDate": date,
			"unitPrice": map[string]any{"value": json.Number(items[i+2].(string)), "currency": "EUR"}})
	}
	ins := map[string]any{"sequence": 1, "focal": true, "coverage": map[string]any{"reference": "Coverage/" + coverage}}
	if len(preAuth) > 0 {
		ins["preAuthRef"] = preAuth
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Claim", "status": "active", "use": use,
		"type":    map[string]any{"coding": []map[string]any{{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
		"patient": map[string]any{"reference": "Patient/p"}, "created": date,
		"provider": map[string]any{"reference": "Organization/hosp-a"}, "priority": map[string]any{"coding": []map[string]any{{"code": "normal"}}},
		"insurer":   map[string]any{"reference": "Organization/carewell"},
		"insurance": []any{ins}, "item": its})
	return b
}

// validR4 fails unless r's body is a valid R4 resource of typ.
func validR4(t *testing.T, r response, typ string) {
	t.Helper()
	res, err := fhirjson.Parse(r.rawBody)
	if err != nil || res.Type() != typ {
		t.Fatalf("not a valid %s: %v\n%s", typ, err, r.rawBody)
	}
}

// total is the amount of a ClaimResponse's or ExplanationOfBenefit's total of category code.
func total(t *testing.T, body map[string]any, code string) string {
	t.Helper()
	for _, x := range body["total"].([]any) {
		m := x.(map[string]any)
		if strings.Contains(fmt.Sprint(m["category"]), "code:"+code+" ") || strings.Contains(fmt.Sprint(m["category"]), "code:"+code+"]") {
			return fmt.Sprint(m["amount"].(map[string]any)["value"])
		}
	}
	t.Fatalf("no total %s in %v", code, body["total"])
	return ""
}

func (e *env) adjudicate(want int) {
	e.t.Helper()
	sg, _ := e.cust.Signer("carewell/claims")
	n, err := e.svc.AdjudicatePending(context.Background(), sg)
	if err != nil || n != want {
		e.t.Fatalf("adjudicated %d, want %d: %v", n, want, err)
	}
}

func TestClaimsThroughFHIR(t *testing.T) {
	e := setupClaims(t)
	admin, clerk, officer, dr, pat := e.token("carewell/admin"), e.token("hosp-a/clerk"), e.token("carewell/claims"), e.token("hosp-a/dr-a"), e.token("patient/p")

	// rules: refused unless an insurer's admin publishes rules whose conditions compile
	e.do("POST", "/fhir/InsurancePlan/$publish-rules", admin, publishParams("gold", `{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"conditions":[{"expr":"claim.items.size() +","reason":"r"}]}`)).outcome(t, 422, "conditions[0]")
	e.do("POST", "/fhir/InsurancePlan/$publish-rules", clerk, publishParams("gold", goldRules(10000))).outcome(t, 422, "only an insurer's admin")
	if r := e.do("POST", "/fhir/InsurancePlan/$publish-rules", admin, publishParams("gold", goldRules(10000))); r.status != 200 {
		t.Fatalf("publish: %d %s", r.status, r.rawBody)
	}
	r := e.do("GET", "/fhir/InsurancePlan/carewell.gold", dr, nil)
	validR4(t, r, "InsurancePlan")
	if !strings.Contains(string(r.rawBody), `\"maxUnitPrice\":10000`) {
		t.Fatalf("InsurancePlan without its rules: %s", r.rawBody)
	}

	// coverage, and what it covers
	r = e.do("POST", "/fhir/Coverage", clerk, []byte(`{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p"},
	 "payor":[{"reference":"Organization/carewell"}],"class":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/coverage-class","code":"plan"}]},"value":"gold"}]}`))
	if r.status != 201 {
		t.Fatalf("coverage: %d %s", r.status, r.rawBody)
	}
	coverage := r.body["id"].(string)
	r = e.do("POST", "/fhir/CoverageEligibilityRequest", clerk, []byte(fmt.Sprintf(`{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["benefits"],
	 "patient":{"reference":"Patient/p"},"created":"2026-12-01","insurer":{"reference":"Organization/carewell"},"insurance":[{"coverage":{"reference":"Coverage/%s"}}],
	 "item":[{"productOrService":{"coding":[{"system":%q,"code":%q}]}},{"productOrService":{"coding":[{"system":%q,"code":%q}]}}]}`, coverage, cpt, ctHead, cpt, acupunct)))
	validR4(t, r, "CoverageEligibilityResponse")
	items := r.body["insurance"].([]any)[0].(map[string]any)["item"].([]any)
	if ct, ac := items[0].(map[string]any), items[1].(map[string]any); ct["authorizationRequired"] != true || ct["excluded"] != false || ac["excluded"] != true {
		t.Fatalf("eligibility: %s", r.rawBody)
	}

	// refusals with reasons
	e.do("POST", "/fhir/Claim", clerk, claimBody("claim", "nosuch", "2026-12-01", nil, officeV, 1, "80.00")).outcome(t, 422, "no coverage")
	e.do("POST", "/fhir/Claim", clerk, claimBody("claim", coverage, "2026-12-01", nil, acupunct, 1, "80.00")).outcome(t, 422, "is not covered by plan gold")
	e.do("POST", "/fhir/Claim", clerk, claimBody("claim", coverage, "2026-12-01", nil, ctHead, 1, "400.00")).outcome(t, 422, "needs a prior authorization")
	e.do("POST", "/fhir/Claim", clerk, bytes.Replace(claimBody("claim", coverage, "2026-12-01", nil, officeV, 1, "80.00"), []byte("Organization/carewell"), []byte("Organization/hosp-b"), 1)).outcome(t, 422, "is paid by carewell")
	e.do("POST", "/fhir/Claim", dr, claimBody("claim", coverage, "2026-12-01", nil, officeV, 1, "80.00")).outcome(t, 422, "no coverage") // a physician does not read billing

	// prior authorization, then the claim that relies on it
	r = e.do("POST", "/fhir/Claim", clerk, claimBody("preauthorization", coverage, "2026-12-01", nil, ctHead, 1, "400.00"))
	if r.status != 201 {
		t.Fatalf("preauthorization: %d %s", r.status, r.rawBody)
	}
	pa := r.body["id"].(string)
	e.do("GET", "/fhir/ClaimResponse/"+pa, clerk, nil).outcome(t, 404, "not adjudicated yet")
	e.adjudicate(1)
	r = e.do("GET", "/fhir/ClaimResponse/"+pa, clerk, nil)
	validR4(t, r, "ClaimResponse")
	if r.body["preAuthRef"] != pa {
		t.Fatalf("preauthorization not approved: %s", r.rawBody)
	}
	c1Body := claimBody("claim", coverage, "2026-12-02", []string{pa}, officeV, 1, "120.00", ctHead, 1, "400.00")
	r = e.do("POST", "/fhir/Claim", clerk, c1Body)
	if r.status != 201 {
		t.Fatalf("claim: %d %s", r.status, r.rawBody)
	}
	c1 := r.body["id"].(string)
	e.do("POST", "/fhir/Claim", clerk, c1Body).outcome(t, 409, "duplicate claim")
	e.adjudicate(1)

	// eligible 100.00 (capped) + 400.00; the patient pays the 10.00 co-pay
	// and 20% of the remaining 490.00, and the 20.00 over the cap
	r = e.do("GET", "/fhir/ClaimResponse/"+c1, officer, nil)
	validR4(t, r, "ClaimResponse")
	if got := [3]string{total(t, r.body, "submitted"), total(t, r.body, "eligible"), total(t, r.body, "benefit")}; got != [3]string{"520", "500", "392"} || r.body["disposition"] != "approved" {
		t.Fatalf("adjudication %v: %s", got, r.rawBody)
	}
	r = e.do("GET", "/fhir/ExplanationOfBenefit/"+c1, pat, nil)
	validR4(t, r, "ExplanationOfBenefit")
	if total(t, r.body, "copay") != "128" {
		t.Fatalf("what the patient owes: %s", r.rawBody)
	}
	validR4(t, e.do("GET", "/fhir/Claim/"+c1, officer, nil), "Claim")
	r = e.do("GET", "/fhir/ExplanationOfBenefit", pat, nil) // a patient's own
	validR4(t, r, "Bundle")
	if r.body["total"] != float64(2) || !strings.Contains(string(r.rawBody), "ExplanationOfBenefit/"+c1) {
		t.Fatalf("the patient's explanations of benefit: %s", r.rawBody)
	}
	if r := e.do("GET", "/fhir/Claim?patient=Patient/p", dr, nil); r.status != 200 || r.body["total"] != float64(0) {
		t.Fatalf("a physician's search of claims: %d %s", r.status, r.rawBody)
	}

	// the parties re-run it and agree
	for _, tok := range []string{clerk, pat, officer} {
		if r := e.do("POST", "/fhir/ClaimResponse/"+c1+"/$verify", tok, nil); r.status != 200 || !strings.Contains(string(r.rawBody), `"valueBoolean": true`) {
			t.Fatalf("verify: %d %s", r.status, r.rawBody)
		}
	}

	// minimum necessary: the insurer reads the claim, not the patient's other records
	obs := e.createGlucose(dr, 99)
	if r := e.do("GET", "/fhir/Observation/"+obs, officer, nil, "X-Purpose-Of-Use", "billing"); r.status == 200 {
		t.Fatalf("the insurer read an Observation: %s", r.rawBody)
	}
	if r := e.do("GET", "/fhir/Coverage/"+coverage, officer, nil, "X-Purpose-Of-Use", "billing"); r.status == 200 {
		t.Fatalf("the insurer read the Coverage without the patient's billing consent: %s", r.rawBody)
	}
	e.do("GET", "/fhir/Claim/"+c1, dr, nil).outcome(t, 404, "not known") // no role that reads billing

	// a rules change applies from its height on: the earlier claim keeps version 1
	if r := e.do("POST", "/fhir/InsurancePlan/$publish-rules", admin, publishParams("gold", goldRules(5000))); r.status != 200 {
		t.Fatalf("publish v2: %d %s", r.status, r.rawBody)
	}
	r = e.do("POST", "/fhir/Claim", clerk, claimBody("claim", coverage, "2026-12-03", nil, officeV, 1, "120.00"))
	c3 := r.body["id"].(string)
	e.adjudicate(1)
	r = e.do("GET", "/fhir/ClaimResponse/"+c3, clerk, nil)
	if total(t, r.body, "eligible") != "50" || !strings.Contains(string(r.rawBody), "carewell/gold|2") {
		t.Fatalf("rules v2 not applied: %s", r.rawBody)
	}
	if r := e.do("POST", "/fhir/ClaimResponse/"+c1+"/$verify", clerk, nil); !strings.Contains(string(r.rawBody), `"valueBoolean": true`) {
		t.Fatalf("re-run of a claim under v1 after v2: %s", r.rawBody)
	}
}

// TestEditedAdjudicationIsDetected: an insurer that posts a result the
// rules do not give (a higher benefit) is caught by the re-run.
func TestEditedAdjudicationIsDetected(t *testing.T) {
	e := setupClaims(t)
	admin, clerk := e.token("carewell/admin"), e.token("hosp-a/clerk")
	e.do("POST", "/fhir/InsurancePlan/$publish-rules", admin, publishParams("gold", goldRules(10000)))
	r := e.do("POST", "/fhir/Coverage", clerk, []byte(`{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p"},
	 "payor":[{"reference":"Organization/carewell"}],"class":[{"type":{"coding":[{"code":"plan"}]},"value":"gold"}]}`))
	r = e.do("POST", "/fhir/Claim", clerk, claimBody("claim", r.body["id"].(string), "2026-12-01", nil, officeV, 1, "80.00"))
	if r.status != 201 {
		t.Fatalf("claim: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	v := e.n.App().Latest()
	st, err := v.Claim(id)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := json.Marshal(claims.Result{Claim: id, Use: "claim", Plan: "gold", RulesVersion: 1, ClaimHash: fmt.Sprintf("%x", st.SealedHash),
		Outcome: claims.OutcomeApproved, Items: []claims.ItemResult{{Sequence: 1, Approved: true, Submitted: 8000, Eligible: 8000}},
		Currency: "EUR", Submitted: 8000, Eligible: 8000, Benefit: 8000})
	readers := map[string]seal.Recipient{}
	for _, rd := range []string{"patient/p", "hosp-a", "carewell"} {
		k, _ := v.EncryptionKey(rd)
		readers[rd], _ = seal.ParsePublicKey(k)
	}
	ps, err := seal.SealToParties(wrong, seal.Binding{RecordID: id, Version: 2, Patient: "patient/p"}, readers)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := json.Marshal(ps)
	nonce, _ := v.NextNonce("carewell/claims")
	raw, _ := tx.Sign(e.keys["carewell/claims"], chainID, "carewell/claims", nonce, tx.TypeClaimAdjudicate,
		&tx.ClaimAdjudicate{Claim: id, ClaimHash: st.SealedHash, RulesVersion: 1, Outcome: claims.OutcomeApproved, Sealed: sealed})
	if out, err := e.n.Submit(context.Background(), raw); err != nil || !out.Accepted() {
		t.Fatalf("%+v %v", out, err)
	}
	r = e.do("POST", "/fhir/ClaimResponse/"+id+"/$verify", clerk, nil)
	if r.status != 200 || !strings.Contains(string(r.rawBody), `"valueBoolean": false`) || !strings.Contains(string(r.rawBody), `"value": 80.00`) {
		t.Fatalf("an edited adjudication verified: %d %s", r.status, r.rawBody)
	}
}

// TestCapabilityListsClaims: /fhir/metadata lists exactly what claims
// serve, and what it does not list is refused.
func TestCapabilityListsClaims(t *testing.T) {
	e := setupClaims(t)
	r := e.do("GET", "/fhir/metadata", "", nil)
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
				Operation   []struct{ Name string }
			}
		}
	}
	json.Unmarshal(r.rawBody, &cs)
	want := map[string]string{"Claim": "create read search-type |", "ClaimResponse": "read search-type | verify", "ExplanationOfBenefit": "read search-type |",
		"CoverageEligibilityRequest": "create |", "InsurancePlan": "read | publish-rules"}
	for _, res := range cs.Rest[0].Resource {
		w, ok := want[res.Type]
		if !ok {
			continue
		}
		var got []string
		for _, i := range res.Interaction {
			got = append(got, i.Code)
		}
		got = append(got, "|")
		for _, o := range res.Operation {
			got = append(got, o.Name)
		}
		if g := strings.TrimSpace(strings.Join(got, " ")); g != w {
			t.Errorf("%s: lists %q, want %q", res.Type, g, w)
		}
		delete(want, res.Type)
	}
	if len(want) > 0 {
		t.Errorf("not listed: %v", want)
	}
	tok := e.token("hosp-a/clerk")
	for _, req := range [][2]string{{"GET", "/fhir/Claim?patient=Patient/p&status=active"}, {"GET", "/fhir/ClaimResponse"}, {"PUT", "/fhir/Claim/x"}, {"DELETE", "/fhir/ClaimResponse/x"}, {"GET", "/fhir/InsurancePlan"}} {
		if r := e.do(req[0], req[1], tok, []byte(`{"resourceType":"Claim","id":"x"}`)); r.status < 400 {
			t.Errorf("%s %s: %d, want a refusal", req[0], req[1], r.status)
		}
	}
}
