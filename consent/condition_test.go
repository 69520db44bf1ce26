package consent

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

func TestCompileCondition(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantErr string // "" = compiles
	}{
		{"purpose", `request.purpose == "treatment"`, ""},
		{"roles and time", `"physician" in grantee.roles && time < timestamp("2027-01-01T00:00:00Z")`, ""},
		{"UTC accessors", `time.getHours() >= 8 && time.getDayOfWeek() != 0`, ""},
		{"list comprehension", `grantee.roles.exists(r, r.startsWith("head-"))`, ""},
		{"syntax error", `request.purpose ==`, "ERROR: <input>:1:19: Syntax error"},
		{"undeclared variable", `request.patient == "x"`, "undeclared reference to 'request.patient'"},
		{"bare request is not a variable", `size(request) > 0`, "undeclared reference to 'request'"},
		{"type error", `request.purpose == 1`, "found no matching overload for '_==_'"},
		{"non-bool", `request.purpose`, "condition has type string, want bool"},
		{"dyn is not bool", `dyn(true)`, "condition has type dyn, want bool"},
		{"no clock", `now() > time`, "undeclared reference to 'now'"},
		{"no time zone names", `time.getHours("America/New_York") == 9`, "time zones are not allowed in getHours()"},
		{"no time zone offsets", `time.getHours("+01:00") == 9`, "time zones are not allowed in getHours()"},
		{"no time zones via dyn", `dyn(time).getHours(dyn("Europe/Paris")) == 9`, "time zones are not allowed in getHours()"},
		{"no map iteration", `{"a": 1, "b": 2}.map(k, k)[0] == "a"`, "iteration over map(string, int) is not allowed"},
		{"no dyn iteration", `dyn(["a"]).exists(k, k == "a")`, "iteration over dyn is not allowed"},
		{"bad timestamp literal", `time < timestamp("tomorrow")`, "ERROR"},
		{"bad regex literal", `request.category.matches("(")`, "ERROR"},
		{"too long", `true || ` + strings.Repeat("true || ", 300) + `true`, "more than 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CompileCondition(tt.expr)
			switch {
			case tt.wantErr == "" && (err != nil || c == nil):
				t.Fatalf("CompileCondition = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("CompileCondition = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConditionEval(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		req     Request
		want    bool
		wantErr string
	}{
		{"true", `request.purpose == "treatment"`, request(drA), true, ""},
		{"false", `request.purpose == "treatment"`, request(drA, func(r *Request) { r.Purpose = PurposeBilling }), false, ""},
		{"time is the request's, in UTC", `time.getHours() == 13 && time.getDate() == 1`, request(drA, func(r *Request) { r.Time = t0 + 13*3600 }), true, ""},
		{"accessors ignore literal offsets", `timestamp("2026-01-01T10:00:00+02:00").getHours() == 8`, request(drA), true, ""},
		{"runtime error", `int(request.category) > 0`, request(drA), false, "type conversion error"},
		{"cost limit", expensive(), request(drA), false, "exceeded the cost limit of 10000"},
		{"no requester", `true`, request(nil), false, "no requester"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CompileCondition(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Eval(&tt.req)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Eval = %v, %v; want %v, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestConditionSeesValidCredentialsOnly: grantee.credentials lists the
// requester's valid credentials; a refusal names why the others are not
// valid; a condition that does not name them never reads them.
func TestConditionSeesValidCredentialsOnly(t *testing.T) {
	creds := []Credential{
		{ID: "c1", Kind: "specialty", Value: "cardiology", Issuer: "board", Invalid: "credential c1 was revoked at height 7 by board/admin: suspended"},
		{ID: "c2", Kind: "licence", Value: "GMC-1", Issuer: "board"},
	}
	reads := 0
	req := Request{Requester: &carechain.Principal{ID: "h/dr", Kind: carechain.KindPractitioner, Org: "h"}, Patient: "patient/p",
		Category: "lab", Action: ActionRead, Purpose: PurposeTreatment, Time: 100,
		Credentials: func() ([]Credential, error) { reads++; return creds, nil }}
	grant := Grant{ID: "g", Patient: "patient/p", Grantee: Grantee{Principal: "h/dr"}, Actions: []Action{ActionRead}, Purposes: []Purpose{PurposeTreatment}}
	for _, tc := range []struct {
		cond   string
		allow  bool
		reason string
	}{
		{`grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")`, false, "c1 was revoked at height 7 by board/admin: suspended"},
		{`grantee.credentials.exists(c, c.kind == "licence" && c.issuer == "board")`, true, "allows"},
		{`size(grantee.credentials) == 1 && grantee.credentials[0].id == "c2"`, true, "allows"},
		{`"physician" in grantee.roles`, false, "condition of grant g is false"},
	} {
		grant.Condition = tc.cond
		d := Evaluate([]Grant{grant}, req)
		if d.Allowed != tc.allow || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("%s: %+v", tc.cond, d)
		}
	}
	if reads != 3 {
		t.Errorf("credentials read %d times, want 3 (once per condition naming them)", reads)
	}
}
