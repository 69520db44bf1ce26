package claims

import (
	"encoding/json"
	"strings"
	"testing"
)

const rulesDoc = `{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[
 {"system":"cpt","code":"visit","maxUnitPrice":10000,"maxQuantity":2},
 {"system":"cpt","code":"ct","maxUnitPrice":50000,"priorAuth":true}],
 "conditions":[{"expr":"claim.items.all(i, i.quantity <= 10)","reason":"at most 10 units"}]}`

func TestParseRulesRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"currency":"EUR","benefits":[]}`, "0 benefits"},
		{`{"currency":"eur","benefits":[{"system":"s","code":"c","maxUnitPrice":1}]}`, "ISO 4217"},
		{`{"currency":"EUR","coinsurance":120,"benefits":[{"system":"s","code":"c","maxUnitPrice":1}]}`, "percentage"},
		{`{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1},{"system":"s","code":"c","maxUnitPrice":2}]}`, "listed twice"},
		{`{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"conditions":[{"expr":"claim.nope","reason":"r"}]}`, "undeclared"},
		{`{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"conditions":[{"expr":"claim.total","reason":"r"}]}`, "want bool"},
		{`{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"extra":1}`, "unknown field"},
	} {
		if _, err := ParseRules([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestAdjudicate(t *testing.T) {
	rules, err := ParseRules([]byte(rulesDoc))
	if err != nil {
		t.Fatal(err)
	}
	claim := func(use string, refs []string, items ...Item) *Claim {
		return &Claim{ID: "c", Use: use, Plan: "gold", Currency: "EUR", Items: items, PreAuthRefs: refs}
	}
	visit := func(q, price int64) Item {
		return Item{Sequence: 1, System: "cpt", Code: "visit", Quantity: q, UnitPrice: price}
	}
	ct := Item{Sequence: 2, System: "cpt", Code: "ct", Quantity: 1, UnitPrice: 40000}
	auth := []Authorization{{Claim: "pa", Codes: []string{"cpt|ct"}}}
	for _, tc := range []struct {
		name    string
		c       *Claim
		auths   []Authorization
		outcome string
		benefit int64
		reason  string
	}{
		// eligible 100.00 + 400.00; the patient pays 10.00 and 20% of 490.00
		{"capped and authorized", claim("claim", []string{"pa"}, visit(1, 12000), ct), auth, OutcomeApproved, 39200, ""},
		{"without the authorization", claim("claim", nil, visit(1, 12000), ct), auth, OutcomePartial, 7200, "needs a prior authorization"},
		{"an authorization not referred to", claim("claim", []string{"other"}, ct), auth, OutcomeDenied, 0, "needs a prior authorization"},
		{"a prior authorization needs none", claim("preauthorization", nil, ct), nil, OutcomeApproved, 31200, ""},
		{"over the quantity", claim("claim", nil, visit(3, 100)), nil, OutcomeDenied, 0, "at most 2 per claim"},
		{"not covered", claim("claim", nil, Item{Sequence: 1, System: "cpt", Code: "x", Quantity: 1, UnitPrice: 100}), nil, OutcomeDenied, 0, "not covered"},
		{"a condition fails", claim("claim", nil, Item{Sequence: 1, System: "cpt", Code: "x", Quantity: 11, UnitPrice: 1}, visit(1, 5000)), nil, OutcomeDenied, 0, "at most 10 units"},
		{"the co-pay takes a small claim", claim("claim", nil, visit(1, 800)), nil, OutcomeApproved, 0, ""},
		{"another currency", &Claim{ID: "c", Use: "claim", Plan: "gold", Currency: "USD", Items: []Item{visit(1, 100)}}, nil, OutcomeDenied, 0, "pays in EUR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Adjudicate(rules, 1, "h", tc.c, tc.auths, nil)
			js, _ := json.Marshal(res)
			if res.Outcome != tc.outcome || res.Benefit != tc.benefit || !strings.Contains(string(js), tc.reason) {
				t.Fatalf("got %s", js)
			}
			if res.PatientPays != res.Submitted-res.Benefit {
				t.Fatalf("the patient pays %d of %d with %d paid", res.PatientPays, res.Submitted, res.Benefit)
			}
			again, _ := json.Marshal(Adjudicate(rules, 1, "h", tc.c, tc.auths, nil))
			if string(again) != string(js) {
				t.Fatal("the same inputs gave another result")
			}
		})
	}
}
