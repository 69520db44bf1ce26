package claims

import (
	"encoding/json"
	"strings"
	"testing"
)

const limitedRules = `{"currency":"EUR","benefits":[
 {"system":"loinc","code":"hba1c","maxUnitPrice":2000,"maxPerYear":2},
 {"system":"cpt","code":"visit","maxUnitPrice":10000}],"annualMax":15000}`

// TestLimitsPerYear runs a year of claims through a plan that covers two
// HbA1c tests a year and pays at most 150.00 EUR a year: usage carries
// from one claim to the next, the third test is refused with the year's
// count, the annual maximum caps a benefit, and the commitments check.
func TestLimitsPerYear(t *testing.T) {
	rules, err := ParseRules([]byte(limitedRules))
	if err != nil || !rules.HasLimits() {
		t.Fatalf("rules: %v, limits %v", err, rules != nil && rules.HasLimits())
	}
	test := func(q int64) Item {
		return Item{Sequence: 1, System: "loinc", Code: "hba1c", Quantity: q, UnitPrice: 2000}
	}
	visit := Item{Sequence: 2, System: "cpt", Code: "visit", Quantity: 1, UnitPrice: 10000}
	usage := &Usage{Year: 2026}
	decide := func(items ...Item) Result {
		t.Helper()
		res := Adjudicate(rules, 1, "h", &Claim{ID: "c", Use: UseClaim, Plan: "p", Currency: "EUR", Items: items}, nil, usage)
		if res.UsageBefore != usage || res.UsageAfter == nil || res.UsageAfter.Year != 2026 {
			t.Fatalf("usage not carried: %+v", res)
		}
		usage = res.UsageAfter
		return res
	}
	if r := decide(test(1), visit); r.Outcome != OutcomeApproved || r.Benefit != 12000 || usage.Paid != 12000 || usage.Units["loinc|hba1c"] != 1 {
		t.Fatalf("first claim: %+v, usage %+v", r, usage)
	}
	// Two more tests in one claim: over the yearly limit of 2.
	if r := decide(test(2)); r.Outcome != OutcomeDenied || !strings.Contains(r.Items[0].Reason, "covers 2 a year, and 1 were used in 2026") || usage.Units["loinc|hba1c"] != 1 {
		t.Fatalf("over the limit: %+v, usage %+v", r, usage)
	}
	// One more test fits; a visit is capped by what is left of 150.00.
	r := decide(test(1), visit)
	if r.Outcome != OutcomeApproved || r.Benefit != 3000 || r.PatientPays != 9000 || len(r.Notes) != 1 || usage.Paid != 15000 {
		t.Fatalf("annual maximum: %+v, usage %+v", r, usage)
	}
	if r := decide(visit); r.Benefit != 0 || usage.Units["cpt|visit"] != 3 {
		t.Fatalf("after the annual maximum: %+v, usage %+v", r, usage)
	}
	// Without usage (a provider's check before submitting) no limit applies,
	// and a result without limits has no usage in its JSON.
	plain := Adjudicate(rules, 1, "h", &Claim{ID: "c", Use: UseClaim, Plan: "p", Currency: "EUR", Items: []Item{test(3)}}, nil, nil)
	if js, _ := json.Marshal(plain); plain.Outcome != OutcomeApproved || strings.Contains(string(js), "usage") || strings.Contains(string(js), "nonce") {
		t.Fatalf("without usage: %s", js)
	}
}

func TestCheckUsage(t *testing.T) {
	const n1, n2 = "0101010101010101010101010101010101010101010101010101010101010101", "0202020202020202020202020202020202020202020202020202020202020202"
	before := Usage{Year: 2026, Units: map[string]int64{"loinc|hba1c": 1}, Paid: 1200}
	after := Usage{Year: 2026, Units: map[string]int64{"loinc|hba1c": 2}, Paid: 2400}
	prev, _ := Commit(before, n1)
	next, _ := Commit(after, n2)
	good := Result{UsageBefore: &before, UsageAfter: &after, PrevNonce: n1, Nonce: n2}
	if why := CheckUsage(&good, 2026, prev, next); why != "" {
		t.Fatalf("good usage refused: %s", why)
	}
	lower := before
	lower.Paid = 0
	first := Result{UsageBefore: &Usage{Year: 2026}, UsageAfter: &after, Nonce: n2}
	for _, tc := range []struct {
		name string
		r    Result
		year int
		prev []byte
		want string
	}{
		{"usage understated", Result{UsageBefore: &lower, UsageAfter: &after, PrevNonce: n1, Nonce: n2}, 2026, prev, "not what the insurer had committed"},
		{"another nonce", Result{UsageBefore: &before, UsageAfter: &after, PrevNonce: n2, Nonce: n2}, 2026, prev, "not what the insurer had committed"},
		{"usage after altered", Result{UsageBefore: &before, UsageAfter: &before, PrevNonce: n1, Nonce: n2}, 2026, prev, "after this claim"},
		{"earlier usage out of nowhere", good, 2026, nil, "committed to none"},
		{"another year", good, 2027, prev, "the usage is of 2026"},
		{"no usage", Result{}, 2026, prev, "carries no usage"},
		{"a first claim is fine", first, 2026, nil, ""},
	} {
		if why := CheckUsage(&tc.r, tc.year, tc.prev, next); !strings.Contains(why, tc.want) || (tc.want == "") != (why == "") {
			t.Errorf("%s: got %q, want %q", tc.name, why, tc.want)
		}
	}
}
