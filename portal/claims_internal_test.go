package portal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carechain/carechain/claims"
)

// TestClaimDenialsShownPlainly: a claim adjudicated by the claims package
// under rules that cover one of its two codes is shown partial, the
// covered item approved, the other denied with the rules' reason, with
// what insurance pays and the patient owes; on the claims page the reason
// is written out and the Check form carries the session's CSRF token. A
// claim awaiting its decision is pending, with nothing paid yet.
func TestClaimDenialsShownPlainly(t *testing.T) {
	rules, err := claims.ParseRules([]byte(`{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[{"system":"s","code":"visit","maxUnitPrice":8000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := claims.Claim{ID: "c1", Use: claims.UseClaim, Plan: "gold", Currency: "EUR", Items: []claims.Item{
		{Sequence: 1, System: "s", Code: "visit", Quantity: 1, UnitPrice: 8000}, {Sequence: 2, System: "s", Code: "spa", Quantity: 2, UnitPrice: 5000}}}
	res := claims.Adjudicate(rules, 1, "hash", &c, nil, nil)
	texts := map[int64]string{1: "Consultation", 2: "Spa day"}
	var decided, pending claimRow
	decided.ID, pending.ID = "c1", "c2"
	decided.decisions(&c, &res, texts)
	pending.decisions(&c, nil, texts)
	if decided.Status != claims.OutcomePartial || decided.Billed != "180.00 EUR" || decided.InsurancePays != "56.00 EUR" || decided.PatientOwes != "124.00 EUR" ||
		len(decided.Reasons) != 1 || !strings.HasPrefix(decided.Reasons[0], "Spa day: s|spa is not covered by plan gold") ||
		decided.Lines[0].Decision != "approved" || !strings.HasPrefix(decided.Lines[1].Decision, "denied: ") {
		t.Fatalf("decided row: %+v", decided)
	}
	if pending.Decided || pending.Status != "pending" || pending.InsurancePays != "" || pending.Billed != "180.00 EUR" || pending.Lines[1].Decision != "pending" {
		t.Fatalf("pending row: %+v", pending)
	}
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pages["claims"].ExecuteTemplate(&buf, "layout", view{Title: "My claims", CSRF: "tok-123", Data: claimsPage{Claims: []claimRow{pending, decided}}}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"Spa day: s|spa is not covered by plan gold", `action="/portal/claims/c1/check"`, `name="csrf" value="tok-123"`, "awaits the insurer", "124.00 EUR"} {
		if !strings.Contains(html, want) {
			t.Errorf("the claims page lacks %q", want)
		}
	}
	if strings.Contains(html, `action="/portal/claims/c2/check"`) {
		t.Error("a pending claim has a Check form")
	}
}
