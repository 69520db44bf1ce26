package consent

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

var claims = &carechain.Principal{ID: "h1/claims", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RoleClaimsOfficer}, Status: carechain.StatusActive}

var clerk = &carechain.Principal{ID: "h1/clerk", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RoleRegistrationClerk}, Status: carechain.StatusActive}

func TestDecideNeedsConsentAndRolePolicy(t *testing.T) {
	pol := DefaultRolePolicy()
	mh := func(r *Request) { r.Category = "mental-health" }
	billing := func(r *Request) { r.Purpose = PurposeBilling }
	write := func(r *Request) { r.Action = ActionWrite }
	anyCat := func(g *Grant) {
		g.Categories = []string{AnyCategory}
		g.Purposes = []Purpose{PurposeBilling, PurposeTreatment, PurposeResearch}
	}
	tests := []struct {
		name    string
		grants  []Grant
		req     Request
		policy  *RolePolicy
		own     string
		allowed bool
		reason  string
	}{
		{"clerk of the author's org may not read a diagnosis for billing", nil, request(clerk, mh, billing), &pol, "the author's organization", false,
			"the role policy of h1 lets no role of h1/clerk (registration-clerk) read mental-health records for billing"},
		{"clerk of the registering org may not edit a diagnosis", nil, request(clerk, mh, write), &pol, "the patient's registering organization", false,
			"lets no role of h1/clerk (registration-clerk) write mental-health records without a patient's grant"},
		{"a claims officer writes billing records (a write has no purpose)", nil, request(claims, write, func(r *Request) { r.Category = "billing" }), &pol, "the patient's registering organization", true, "registering"},
		{"clerk reads demographics for billing", nil, request(clerk, billing, func(r *Request) { r.Category = "demographics" }), &pol, "the author's organization", true, "the author's organization"},
		{"physician of the author's org reads a diagnosis", nil, request(drA, mh), &pol, "the author's organization", true, "the author's organization"},
		{"physician may not read for billing", nil, request(drA, mh, billing), &pol, "the author's organization", false, "read mental-health records for billing"},
		{"an org grant does not lift the policy", []Grant{grant("g-1", Grantee{Org: "h1"}, anyCat)}, request(clerk, mh, billing), &pol, "", false, "lets no role of h1/clerk"},
		{"a grant naming the clerk does", []Grant{grant("g-2", Grantee{Principal: "h1/clerk"}, anyCat)}, request(clerk, mh, billing), &pol, "", true, "grant g-2 allows read for billing"},
		{"the named grant wins over an earlier org grant", []Grant{grant("g-1", Grantee{Org: "h1"}, anyCat), grant("g-2", Grantee{Principal: "h1/clerk"}, anyCat)},
			request(clerk, mh, billing), &pol, "", true, "grant g-2 allows"},
		{"physician with an org grant reads", []Grant{grant("g-1", Grantee{Org: "h2"})}, request(drB), &pol, "", true, "grant g-1 allows read for treatment"},
		{"researcher with an org grant reads for research", []Grant{grant("g-1", Grantee{Org: "r1"}, anyCat)}, request(researcher, func(r *Request) { r.Purpose = PurposeResearch }), &pol, "", true, "grant g-1 allows"},
		{"researcher of the author's org gets nothing without a grant", nil, request(researcher, func(r *Request) { r.Purpose = PurposeResearch }), &pol, "the author's organization", false,
			"lets no role of r1/res (researcher) read lab records for research without a patient's grant"},
		{"researcher with a grant, not for research", []Grant{grant("g-1", Grantee{Org: "r1"}, anyCat)}, request(researcher), &pol, "", false, "read lab records for treatment even with a grant"},
		{"researcher named by the patient reads", []Grant{grant("g-1", Grantee{Principal: "r1/res"}, anyCat)}, request(researcher, func(r *Request) { r.Purpose = PurposeResearch }), &pol, "", true, "grant g-1 allows"},
		{"no policy: staff denied", nil, request(drA), nil, "the author's organization", false, "h1 has no role policy"},
		{"no policy: the patient still reads", nil, request(patient, mh), nil, "", true, "patient's own record"},
		{"own access does not count for admins", nil, request(admin), &pol, "the author's organization", false, "h1/admin has no grant from the patient"},
		{"own access does not count for a revoked key", nil, request(drRevoked), &pol, "the author's organization", false, "has no grant"},
		{"no consent, policy irrelevant", nil, request(drB), &pol, "", false, "h2/dr-b has no grant from the patient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewEvaluator(8).Decide(tt.grants, tt.req, tt.policy, tt.own)
			if d.Allowed != tt.allowed || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Decide = %+v, want allowed=%v with reason containing %q", d, tt.allowed, tt.reason)
			}
		})
	}
}

func TestRolePolicyBreakGlass(t *testing.T) {
	pol := DefaultRolePolicy()
	for _, tt := range []struct {
		who  *carechain.Principal
		want bool
	}{{drA, true}, {nurse, true}, {clerk, false}, {pharmacist, false}, {researcher, false}} {
		if got := pol.MayBreakGlass(tt.who); got != tt.want {
			t.Errorf("MayBreakGlass(%s) = %v, want %v", tt.who.ID, got, tt.want)
		}
	}
	var none *RolePolicy
	if none.MayBreakGlass(drA) {
		t.Error("no policy lets a physician break the glass")
	}
}

func TestRolePolicyValidate(t *testing.T) {
	def := DefaultRolePolicy()
	if err := def.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	tests := []struct {
		name string
		p    RolePolicy
		want string
	}{
		{"unknown role", RolePolicy{Rules: []RoleRule{{Role: "janitor", Read: []string{"lab"}, Purposes: []Purpose{PurposeTreatment}}}}, `unknown role "janitor"`},
		{"two rules for a role", RolePolicy{Rules: []RoleRule{{Role: carechain.RoleNurse}, {Role: carechain.RoleNurse}}}, "two rules"},
		{"no purpose", RolePolicy{Rules: []RoleRule{{Role: carechain.RoleNurse, Read: []string{"lab"}}}}, "names no purpose"},
		{"unknown purpose", RolePolicy{Rules: []RoleRule{{Role: carechain.RoleNurse, Read: []string{"lab"}, Purposes: []Purpose{"fun"}}}}, `unknown "fun"`},
		{"empty category", RolePolicy{Rules: []RoleRule{{Role: carechain.RoleNurse, Read: []string{""}, Purposes: []Purpose{PurposeTreatment}}}}, "categories"},
		{"unknown break-glass role", RolePolicy{BreakGlass: []carechain.Role{"janitor"}}, "break-glass roles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
