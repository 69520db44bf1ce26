package consent

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain"
)

// t0 is 2026-01-01T00:00:00Z.
const t0 = 1_767_225_600

var (
	patient    = &carechain.Principal{ID: "patient/p1", Kind: carechain.KindPatient, Org: "h1", Status: carechain.StatusActive}
	otherPat   = &carechain.Principal{ID: "patient/p2", Kind: carechain.KindPatient, Org: "h1", Status: carechain.StatusActive}
	drA        = &carechain.Principal{ID: "h1/dr-a", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RolePhysician}, Status: carechain.StatusActive}
	drRevoked  = &carechain.Principal{ID: "h1/dr-r", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RolePhysician}, Status: carechain.StatusRevoked}
	nurse      = &carechain.Principal{ID: "h1/nurse-n", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RoleNurse}, Status: carechain.StatusActive}
	admin      = &carechain.Principal{ID: "h1/admin", Kind: carechain.KindAdmin, Org: "h1", Status: carechain.StatusActive}
	drB        = &carechain.Principal{ID: "h2/dr-b", Kind: carechain.KindPractitioner, Org: "h2", Roles: []carechain.Role{carechain.RolePhysician}, Status: carechain.StatusActive}
	pharmacist = &carechain.Principal{ID: "h1/ph", Kind: carechain.KindPractitioner, Org: "h1", Roles: []carechain.Role{carechain.RolePharmacist}, Status: carechain.StatusActive}
	researcher = &carechain.Principal{ID: "r1/res", Kind: carechain.KindPractitioner, Org: "r1", Roles: []carechain.Role{carechain.RoleResearcher}, Status: carechain.StatusActive}
)

// grant returns a valid grant of patient/p1: read lab for treatment, open-ended.
func grant(id string, to Grantee, edit ...func(*Grant)) Grant {
	g := Grant{
		ID: id, Patient: "patient/p1", Grantee: to,
		Categories: []string{"lab"},
		Actions:    []Action{ActionRead},
		Purposes:   []Purpose{PurposeTreatment},
		NotBefore:  t0 - 86400,
	}
	for _, f := range edit {
		f(&g)
	}
	return g
}

func request(by *carechain.Principal, edit ...func(*Request)) Request {
	r := Request{Requester: by, Patient: "patient/p1", RecordID: "r-1", Category: "lab", ResourceType: "Observation",
		Action: ActionRead, Purpose: PurposeTreatment, Time: t0}
	for _, f := range edit {
		f(&r)
	}
	return r
}

func TestGrantValidate(t *testing.T) {
	long := strings.Repeat("x", 257)
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprint("c", i)
	}
	tests := []struct {
		name    string
		edit    func(*Grant)
		wantErr string // "" = valid
	}{
		{"valid", func(*Grant) {}, ""},
		{"valid org role grantee", func(g *Grant) { g.Grantee = Grantee{Org: "h1", Role: carechain.RolePhysician} }, ""},
		{"valid record only", func(g *Grant) { g.Categories, g.RecordID = nil, "r-1" }, ""},
		{"valid with condition", func(g *Grant) { g.Condition = `request.purpose == "treatment"` }, ""},
		{"valid any category", func(g *Grant) { g.Categories = []string{AnyCategory} }, ""},
		{"no id", func(g *Grant) { g.ID = "" }, "grant id must be 1-256 bytes"},
		{"staff as patient", func(g *Grant) { g.Patient = "h1/dr-a" }, "not a patient id"},
		{"no grantee", func(g *Grant) { g.Grantee = Grantee{} }, "exactly one of principal and org"},
		{"principal and org", func(g *Grant) { g.Grantee.Org = "h1" }, "exactly one of principal and org"},
		{"role on principal", func(g *Grant) { g.Grantee.Role = carechain.RoleNurse }, "only to an org grantee"},
		{"unknown role", func(g *Grant) { g.Grantee = Grantee{Org: "h1", Role: "surgeon"} }, `unknown role "surgeon"`},
		{"bad org", func(g *Grant) { g.Grantee = Grantee{Org: "H 1"} }, "organization id"},
		{"no scope", func(g *Grant) { g.Categories = nil }, "want at least one category"},
		{"too many categories", func(g *Grant) { g.Categories = many }, "33 categories, more than 32"},
		{"long resource type", func(g *Grant) { g.ResourceTypes = []string{long} }, "resource types: each must be 1-256 bytes"},
		{"empty category", func(g *Grant) { g.Categories = []string{""} }, "categories: each must be"},
		{"long record", func(g *Grant) { g.RecordID = long }, "record id longer"},
		{"no action", func(g *Grant) { g.Actions = nil }, "want 1-32 actions"},
		{"unknown action", func(g *Grant) { g.Actions = []Action{"delete"} }, `actions: unknown "delete"`},
		{"unknown purpose", func(g *Grant) { g.Purposes = []Purpose{"marketing"} }, `purposes: unknown "marketing"`},
		{"empty period", func(g *Grant) { g.NotAfter = g.NotBefore }, "period"},
		{"negative start", func(g *Grant) { g.NotBefore = -1 }, "period"},
		{"revoked_at alone", func(g *Grant) { g.RevokedAt = t0 }, "revoked_at"},
		{"bad condition", func(g *Grant) { g.Condition = "request.purpose ==" }, "condition: ERROR: <input>:1:"},
		{"long condition", func(g *Grant) { g.Condition = strings.Repeat(" ", 2049) + "true" }, "more than 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := grant("g-1", Grantee{Principal: "h1/dr-a"}, tt.edit)
			err := g.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGranteeMatches(t *testing.T) {
	tests := []struct {
		name string
		g    Grantee
		p    *carechain.Principal
		want bool
	}{
		{"principal", Grantee{Principal: "h1/dr-a"}, drA, true},
		{"other principal", Grantee{Principal: "h1/dr-a"}, nurse, false},
		{"org", Grantee{Org: "h1"}, nurse, true},
		{"other org", Grantee{Org: "h1"}, drB, false},
		{"org role", Grantee{Org: "h1", Role: carechain.RolePhysician}, drA, true},
		{"org other role", Grantee{Org: "h1", Role: carechain.RolePhysician}, nurse, false},
		{"org does not cover its patients", Grantee{Org: "h1"}, otherPat, false},
		{"org does not cover its admins", Grantee{Org: "h1"}, admin, false},
		{"revoked key", Grantee{Principal: "h1/dr-r"}, drRevoked, false},
		{"nil principal", Grantee{Org: "h1"}, nil, false},
		{"empty grantee", Grantee{}, drA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.Matches(tt.p); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGrantCBORRoundTrip(t *testing.T) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	in := grant("g-1", Grantee{Org: "h1", Role: carechain.RolePhysician}, func(g *Grant) {
		g.ResourceTypes, g.RecordID, g.NotAfter = []string{"Observation"}, "r-1", t0+3600
		g.Condition, g.Revoked, g.RevokedAt = "true", true, t0
	})
	b1, err := em.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Grant
	if err := cbor.Unmarshal(b1, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	if b2, _ := em.Marshal(out); string(b1) != string(b2) {
		t.Fatal("re-encoding differs")
	}
}

var _ = errors.Is
