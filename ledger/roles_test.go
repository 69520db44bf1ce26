package ledger

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// roleWorld is recordWorld with a registration clerk and a nurse at hosp-a,
// the patient's registering organization.
func roleWorld(t testing.TB) *harness {
	h := recordWorld(t)
	h.block(
		h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 20, carechain.RoleRegistrationClerk),
		h.register("hosp-a/admin", "hosp-a/nurse", carechain.KindPractitioner, 21, carechain.RoleNurse),
	)
	return h
}

func TestRolePolicyRejections(t *testing.T) {
	both := []string{"hosp-a", "patient/p"}
	clerksMayBreakGlass := &tx.EmergencySet{Rule: consent.EmergencyRule{Roles: []carechain.Role{carechain.RoleRegistrationClerk}, DurationSeconds: 3600}}
	cases := []struct {
		name   string
		setup  func(h *harness) []byte // a transaction committed first, or nil
		signer string
		typ    tx.Type
		body   func(t *testing.T) any
		want   Code
		reason string
	}{
		{"clerk of the registering org writes a diagnosis", nil, "hosp-a/clerk", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "mental-health", 1, both)
		}, CodeDenied, "the role policy of hosp-a lets no role of hosp-a/clerk (registration-clerk) write mental-health records without a patient's grant"},
		{"clerk writes a lab result", nil, "hosp-a/clerk", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, both)
		}, CodeDenied, "role policy"},
		{"admin of the registering org writes a record", nil, "hosp-a/admin", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, both)
		}, CodeDenied, "no grant from the patient"},
		{"clerk breaks the glass, the patient's rule admitting clerks", func(h *harness) []byte { return h.sign("patient/p", tx.TypeEmergencySet, clerksMayBreakGlass) },
			"hosp-a/clerk", tx.TypeEmergencyInvoke, func(t *testing.T) any {
				return &tx.EmergencyInvoke{Patient: "patient/p", SealedReason: []byte("sealed")}
			}, CodeDenied, "the role policy of hosp-a lets none of its roles [registration-clerk] break the glass"},
		{"a practitioner sets the role policy", nil, "hosp-a/dr-a", tx.TypeRolePolicy, func(t *testing.T) any {
			return &tx.RolePolicySet{Org: "hosp-a", Policy: consent.DefaultRolePolicy()}
		}, CodeUnauthorized, "only an admin of hosp-a"},
		{"another organization's admin sets it", nil, "hosp-b/admin", tx.TypeRolePolicy, func(t *testing.T) any {
			return &tx.RolePolicySet{Org: "hosp-a", Policy: consent.DefaultRolePolicy()}
		}, CodeUnauthorized, "only an admin of hosp-a"},
		{"a policy naming an unknown category", nil, "hosp-a/admin", tx.TypeRolePolicy, func(t *testing.T) any {
			return &tx.RolePolicySet{Org: "hosp-a", Policy: consent.RolePolicy{Rules: []consent.RoleRule{
				{Role: carechain.RoleNurse, Read: []string{"astrology"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}}}
		}, CodeInvalid, `unknown category "astrology"`},
		{"a policy with an unknown role", nil, "hosp-a/admin", tx.TypeRolePolicy, func(t *testing.T) any {
			return &tx.RolePolicySet{Org: "hosp-a", Policy: consent.RolePolicy{Rules: []consent.RoleRule{{Role: "janitor"}}}}
		}, CodeInvalid, `unknown role "janitor"`},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := roleWorld(t)
				if c.setup != nil {
					if codes := h.block(c.setup(h)); codes[0] != CodeOK {
						t.Fatalf("setup: %v", codes)
					}
				}
				h.judge(h.sign(c.signer, c.typ, c.body(t)), stage, c.want, c.reason)
			})
		}
	}
}

func TestRolePolicyIsVersionedAndApplies(t *testing.T) {
	h := roleWorld(t)
	both := []string{"hosp-a", "patient/p"}
	st, err := h.at(0).RolePolicy("hosp-a")
	if err != nil || st.Version != 1 || !slices.Equal(st.Policy.BreakGlass, consent.DefaultRolePolicy().BreakGlass) {
		t.Fatalf("genesis role policy = %+v, %v; want the default as version 1", st, err)
	}
	if codes := h.block(h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "vital-signs", 1, both))); codes[0] != CodeOK {
		t.Fatalf("nurse writes vital signs under the default policy: %v", codes)
	}
	// The admin narrows nurses to allergies; the next write of vital signs is refused.
	narrow := consent.RolePolicy{Rules: []consent.RoleRule{
		{Role: carechain.RoleNurse, Read: []string{"allergy"}, Write: []string{"allergy"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}}
	if codes := h.block(h.sign("hosp-a/admin", tx.TypeRolePolicy, &tx.RolePolicySet{Org: "hosp-a", Policy: narrow})); codes[0] != CodeOK {
		t.Fatalf("set policy: %v", codes)
	}
	if st, err := h.at(0).RolePolicy("hosp-a"); err != nil || st.Version != 2 || st.Height != h.height {
		t.Fatalf("policy after set = %+v, %v; want version 2 at height %d", st, err, h.height)
	}
	if st, err := h.at(h.height - 1).RolePolicy("hosp-a"); err != nil || st.Version != 1 {
		t.Fatalf("policy before set = %+v, %v; want version 1", st, err)
	}
	h.judge(h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r2", 1, "patient/p", "vital-signs", 1, nil)), StageFinalize, CodeDenied, "role policy")
}

// TestChainWithoutRolePoliciesMigrates starts from state as a carechain
// before role policies wrote it: no policies, the old categories.
func TestChainWithoutRolePoliciesMigrates(t *testing.T) {
	h := roleWorld(t)
	old := []string{"allergy", "general", "imaging", "lab", "medication", "mental-health", "vital-signs"}
	h.commitEdited(func(b *store.Block) error {
		return errors.Join(b.Delete(rolePolicyKey("hosp-a")), b.Delete(rolePolicyKey("hosp-b")),
			b.Delete(rolePoliciesKey), setCBOR(b, categoriesKey, old))
	})
	// Until then, nodes judge reads by the default the migration will set.
	if st, err := h.at(0).RolePolicy("hosp-a"); err != nil || st.Version != 0 || len(st.Policy.Rules) != len(consent.DefaultRolePolicy().Rules) {
		t.Fatalf("legacy state's role policy = %+v, %v; want the default as version 0", st, err)
	}
	if _, err := h.at(0).RolePolicy("no-such-org"); err == nil {
		t.Fatal("an unknown organization has a role policy")
	}
	// CheckTx too: a nurse's write is not refused for want of a policy.
	if code := h.check(h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r9", 1, "patient/p", "vital-signs", 1, []string{"hosp-a", "patient/p"}))); code != CodeOK {
		t.Fatalf("CheckTx of a nurse's write before the migration: %v", code)
	}
	// The first block the app finalizes migrates, before its transactions:
	// the clerk's write of a diagnosis is judged by the default policy.
	raw := h.sign("hosp-a/clerk", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "mental-health", 1, []string{"hosp-a", "patient/p"}))
	if code, log := h.blockResp(raw); code != CodeDenied || !strings.Contains(log, "role policy") {
		t.Fatalf("clerk's write in the migrating block: %v %q", code, log)
	}
	v := h.at(0)
	for _, org := range []string{"hosp-a", "hosp-b"} {
		if st, err := v.RolePolicy(org); err != nil || st.Version != 1 {
			t.Errorf("%s after migration: %+v, %v", org, st, err)
		}
	}
	cats, err := v.Categories()
	if err != nil || !slices.Contains(cats, "demographics") || !slices.Contains(cats, "billing") || !slices.Contains(cats, "mental-health") {
		t.Errorf("categories after migration: %v, %v", cats, err)
	}
}

// TestRolePolicyChangeAppliesWithinBlock: a record write decides on the
// role policy as the block has it so far, even when the policy was read
// (and kept decoded) for an earlier write of the same block.
func TestRolePolicyChangeAppliesWithinBlock(t *testing.T) {
	h := roleWorld(t)
	both := []string{"hosp-a", "patient/p"}
	narrow := consent.RolePolicy{Rules: []consent.RoleRule{
		{Role: carechain.RoleNurse, Read: []string{"allergy"}, Write: []string{"allergy"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}}
	codes := h.block(
		h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "vital-signs", 1, both)),
		h.sign("hosp-a/admin", tx.TypeRolePolicy, &tx.RolePolicySet{Org: "hosp-a", Policy: narrow}),
		h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r2", 1, "patient/p", "vital-signs", 1, both)),
		h.sign("hosp-a/nurse", tx.TypeRecordPut, put(t, "r3", 1, "patient/p", "allergy", 1, both)),
	)
	if want := []Code{CodeOK, CodeOK, CodeDenied, CodeOK}; !slices.Equal(codes, want) {
		t.Fatalf("codes = %v, want %v", codes, want)
	}
}
