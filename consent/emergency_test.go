package consent

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

func TestEmergencyRule(t *testing.T) {
	rule := EmergencyRule{
		OrgTypes:        []carechain.OrgType{carechain.OrgHospital},
		Roles:           []carechain.Role{carechain.RolePhysician},
		DurationSeconds: 86400,
		RequireReason:   true,
	}
	tests := []struct {
		name    string
		edit    func(*EmergencyRule)
		by      *carechain.Principal
		orgType carechain.OrgType
		reason  string
		want    *Grant
		wantErr string
		refused bool // wantErr wraps ErrEmergencyRefused
	}{
		{name: "hospital physician", by: drA, orgType: carechain.OrgHospital, reason: "unconscious in A&E",
			want: &Grant{Grantee: Grantee{Principal: "h1/dr-a"}, Categories: []string{AnyCategory}, Actions: []Action{ActionRead},
				Purposes: []Purpose{PurposeEmergency}, NotBefore: t0, NotAfter: t0 + 86400}},
		{name: "rule categories carried over", edit: func(r *EmergencyRule) { r.Categories = []string{"medication", "lab"} },
			by: drA, orgType: carechain.OrgHospital, reason: "overdose",
			want: &Grant{Grantee: Grantee{Principal: "h1/dr-a"}, Categories: []string{"medication", "lab"}, Actions: []Action{ActionRead},
				Purposes: []Purpose{PurposeEmergency}, NotBefore: t0, NotAfter: t0 + 86400}},
		{name: "any org type", edit: func(r *EmergencyRule) { r.OrgTypes = nil }, by: drA, orgType: carechain.OrgLab, reason: "x",
			want: &Grant{Grantee: Grantee{Principal: "h1/dr-a"}, Categories: []string{AnyCategory}, Actions: []Action{ActionRead},
				Purposes: []Purpose{PurposeEmergency}, NotBefore: t0, NotAfter: t0 + 86400}},
		{name: "pharmacist refused", by: pharmacist, orgType: carechain.OrgHospital, reason: "x", wantErr: "holds none of the roles [physician]", refused: true},
		{name: "lab refused", by: drA, orgType: carechain.OrgLab, reason: "x", wantErr: `organization type "lab" is not one the patient allows`, refused: true},
		{name: "unknown org type refused", edit: func(r *EmergencyRule) { r.OrgTypes = nil }, by: drA, reason: "x", wantErr: `organization type "" is not one the patient allows`, refused: true},
		{name: "patient refused", by: otherPat, orgType: carechain.OrgHospital, reason: "x", wantErr: "only an active practitioner", refused: true},
		{name: "revoked key refused", by: drRevoked, orgType: carechain.OrgHospital, reason: "x", wantErr: "only an active practitioner", refused: true},
		{name: "missing reason refused", by: drA, orgType: carechain.OrgHospital, reason: "  ", wantErr: "requires a reason", refused: true},
		{name: "reason optional", edit: func(r *EmergencyRule) { r.RequireReason = false }, by: drA, orgType: carechain.OrgHospital,
			want: &Grant{Grantee: Grantee{Principal: "h1/dr-a"}, Categories: []string{AnyCategory}, Actions: []Action{ActionRead},
				Purposes: []Purpose{PurposeEmergency}, NotBefore: t0, NotAfter: t0 + 86400}},
		{name: "reason too long", by: drA, orgType: carechain.OrgHospital, reason: strings.Repeat("x", 1025), wantErr: "reason longer", refused: true},
		{name: "more than 7 days refused", edit: func(r *EmergencyRule) { r.DurationSeconds = MaxEmergencyDuration + 1 },
			by: drA, orgType: carechain.OrgHospital, reason: "x", wantErr: "want 1s to 7 days"},
		{name: "zero duration", edit: func(r *EmergencyRule) { r.DurationSeconds = 0 }, by: drA, orgType: carechain.OrgHospital, reason: "x", wantErr: "want 1s to 7 days"},
		{name: "no roles", edit: func(r *EmergencyRule) { r.Roles = nil }, by: drA, orgType: carechain.OrgHospital, reason: "x", wantErr: "want 1-32 roles"},
		{name: "unknown role", edit: func(r *EmergencyRule) { r.Roles = []carechain.Role{"surgeon"} }, by: drA, orgType: carechain.OrgHospital, reason: "x", wantErr: `roles: unknown "surgeon"`},
		{name: "unknown org type", edit: func(r *EmergencyRule) { r.OrgTypes = []carechain.OrgType{"spa"} }, by: drA, orgType: carechain.OrgHospital, reason: "x", wantErr: `organization types: unknown "spa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rule
			if tt.edit != nil {
				tt.edit(&r)
			}
			got, err := r.Authorize(tt.by, tt.orgType, tt.reason, t0)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrEmergencyRefused) != tt.refused {
					t.Fatalf("Authorize = %+v, %v; want error containing %q (refused %v)", got, err, tt.wantErr, tt.refused)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Authorize = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestEmergencyGrantAllowsEmergencyReadOnly follows a break-glass grant into
// Evaluate: it is a valid grant once the ledger names it, and allows exactly
// emergency reads within its period.
func TestEmergencyGrantAllowsEmergencyReadOnly(t *testing.T) {
	rule := &EmergencyRule{Roles: []carechain.Role{carechain.RolePhysician}, DurationSeconds: 3600}
	g, err := rule.Authorize(drB, carechain.OrgHospital, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	g.ID, g.Patient = "g-e1", "patient/p1"
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	emergency := func(r *Request) { r.Purpose, r.Category = PurposeEmergency, "mental-health" }
	tests := []struct {
		name   string
		req    Request
		reason string
	}{
		{"emergency read", request(drB, emergency), "grant g-e1 allows read for emergency"},
		{"treatment read", request(drB), "grant g-e1 does not cover purpose treatment"},
		{"emergency write", request(drB, emergency, func(r *Request) { r.Action = ActionWrite }), "grant g-e1 does not cover action write"},
		{"after the hour", request(drB, emergency, func(r *Request) { r.Time = t0 + 3600 }), "grant g-e1 expired at 2026-01-01T01:00:00Z"},
		{"someone else", request(drA, emergency), "h1/dr-a has no grant from the patient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := Evaluate([]Grant{*g}, tt.req); d.Reason != tt.reason || d.Allowed != (tt.name == "emergency read") {
				t.Fatalf("Evaluate = %+v, want reason %q", d, tt.reason)
			}
		})
	}
}

func TestNoEmergencyRule(t *testing.T) {
	var r *EmergencyRule
	if _, err := r.Authorize(drA, carechain.OrgHospital, "x", t0); !errors.Is(err, ErrEmergencyRefused) {
		t.Fatalf("nil rule: Authorize error %v, want ErrEmergencyRefused", err)
	}
}
