package ledger

import (
	"slices"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

// consentWorld is recordWorld with a lab record of patient/p (epoch 1, read
// by hosp-a and the patient) and the patient's read grant of lab to hosp-b,
// whose ID it returns.
func consentWorld(t *testing.T) (*harness, string) {
	h := recordWorld(t)
	h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"})))
	wraps := []tx.CategoryWrap{{Category: "lab", Epoch: 1, Wrapped: []byte("opaque wrap for hosp-b")}}
	if got := h.block(h.sign("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{Grant: readGrant("patient/p", "lab"), Wraps: wraps})); got[0] != CodeOK {
		t.Fatalf("grant: %v", got)
	}
	grants, err := h.at(0).Grants("patient/p")
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants %+v %v", grants, err)
	}
	return h, grants[0].ID
}

// readGrant lets hosp-b read categories of patient for treatment.
func readGrant(patient string, categories ...string) consent.Grant {
	return consent.Grant{Patient: patient, Grantee: consent.Grantee{Org: "hosp-b"}, Categories: categories,
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}}
}

// labRotation starts lab epoch 2 of patient/p, wrapped to readers.
func labRotation(readers ...string) []tx.NewEpoch {
	ne := tx.NewEpoch{Category: "lab", Epoch: 2}
	for _, r := range readers {
		ne.Wraps = append(ne.Wraps, tx.KeyWrap{Reader: r, Wrapped: []byte("opaque wrap for " + r)})
	}
	return []tx.NewEpoch{ne}
}

// replaceWith replaces grant old of patient/p with g, carrying rotations.
func replaceWith(old string, g consent.Grant, rotations []tx.NewEpoch) *tx.ConsentReplace {
	return &tx.ConsentReplace{Revoke: tx.ConsentRevoke{GrantID: old, Rotations: rotations}, Grant: tx.ConsentGrant{Grant: g}}
}

func TestConsentReplaceRejections(t *testing.T) {
	cases := []struct {
		name   string
		signer string
		body   func(h *harness, old string) any
		want   Code
		reason string
	}{
		{"not the patient", "hosp-a/dr-a", func(h *harness, old string) any {
			return replaceWith(old, readGrant("patient/p", "vital-signs"), labRotation("hosp-a", "patient/p"))
		}, CodeUnauthorized, "or a delegate they named"},
		{"unknown grant", "patient/p", func(h *harness, old string) any {
			return replaceWith("g-000000000000", readGrant("patient/p", "vital-signs"), nil)
		}, CodeInvalid, "no grant"},
		{"a grant of another patient", "patient/p", func(h *harness, old string) any {
			return replaceWith(old, readGrant("patient/nokey", "vital-signs"), labRotation("hosp-a", "patient/p"))
		}, CodeInvalid, "must be a grant of patient/p"},
		{"covers less, without the rotation", "patient/p", func(h *harness, old string) any {
			return replaceWith(old, readGrant("patient/p", "vital-signs"), nil)
		}, CodeInvalid, "rotate it to epoch 2"},
		{"covers as much, with a rotation", "patient/p", func(h *harness, old string) any {
			return replaceWith(old, readGrant("patient/p", "lab", "vital-signs"), labRotation("hosp-a", "hosp-b", "patient/p"))
		}, CodeInvalid, "1 rotations given, 0 needed"},
		{"an emergency grant", "patient/p", func(h *harness, old string) any {
			set := &tx.EmergencySet{Rule: consent.EmergencyRule{Roles: []carechain.Role{carechain.RolePhysician}, DurationSeconds: 3600}}
			invoke := &tx.EmergencyInvoke{Patient: "patient/p", SealedReason: []byte("sealed")}
			if got := h.block(h.sign("patient/p", tx.TypeEmergencySet, set), h.sign("hosp-b/dr-b", tx.TypeEmergencyInvoke, invoke)); !equalCodes(got, []Code{CodeOK, CodeOK}) {
				h.t.Fatalf("break the glass: %v", got)
			}
			grants, _ := h.at(0).Grants("patient/p")
			i := slices.IndexFunc(grants, func(g StoredGrant) bool { return g.Emergency })
			return replaceWith(grants[i].ID, readGrant("patient/p", "lab"), nil)
		}, CodeInvalid, "emergency access"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h, old := consentWorld(t)
				h.judge(h.sign(c.signer, tx.TypeConsentReplace, c.body(h, old)), stage, c.want, c.reason)
			})
		}
	}
}

// TestConsentReplaceIsOneStep: the old grant is revoked and the new one
// made at one height, and the category the grantee no longer reads starts
// a new epoch without it.
func TestConsentReplaceIsOneStep(t *testing.T) {
	h, old := consentWorld(t)
	if got := h.block(h.sign("patient/p", tx.TypeConsentReplace, replaceWith(old, readGrant("patient/p", "vital-signs"), labRotation("hosp-a", "patient/p")))); got[0] != CodeOK {
		t.Fatalf("replace: %v", got)
	}
	grants, err := h.at(0).Grants("patient/p")
	if err != nil || len(grants) != 2 {
		t.Fatalf("grants %+v %v", grants, err)
	}
	i := slices.IndexFunc(grants, func(g StoredGrant) bool { return g.ID != old })
	if g := grants.Find(old); !g.Revoked || grants[i].Revoked || grants[i].Height != h.height || !slices.Equal(grants[i].Categories, []string{"vital-signs"}) {
		t.Fatalf("after the replacement: %+v", grants)
	}
	if ep, _ := h.at(0).Epoch("patient/p", "lab"); ep.Epoch != 2 || !slices.Equal(ep.Readers, []string{"hosp-a", "patient/p"}) {
		t.Fatalf("lab epoch %+v", ep)
	}
}

// TestEmergencyClear: only the patient clears their rule, only a rule that
// is set, and the organizations that held keys in escrow for it lose them.
func TestEmergencyClear(t *testing.T) {
	withRule := func(t testing.TB) *harness {
		h := recordWorld(t)
		h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"})))
		set := &tx.EmergencySet{Rule: consent.EmergencyRule{Roles: []carechain.Role{carechain.RolePhysician}, DurationSeconds: 3600},
			Wraps: []tx.EscrowWrap{{Category: "lab", Epoch: 1, Org: "hosp-b", Wrapped: []byte("opaque wrap for hosp-b")}}}
		if got := h.block(h.sign("patient/p", tx.TypeEmergencySet, set)); got[0] != CodeOK {
			t.Fatalf("set the rule: %v", got)
		}
		return h
	}
	cases := []struct {
		name   string
		world  func(testing.TB) *harness
		signer string
		body   *tx.EmergencyClear
		want   Code
		reason string
	}{
		{"not the patient", withRule, "hosp-a/dr-a", &tx.EmergencyClear{Rotations: labRotation("hosp-a", "patient/p")}, CodeUnauthorized, "only the patient"},
		{"no rule", recordWorld, "patient/p", &tx.EmergencyClear{}, CodeInvalid, "no emergency rule"},
		{"without the rotation", withRule, "patient/p", &tx.EmergencyClear{}, CodeInvalid, "rotate it to epoch 2"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := c.world(t)
				h.judge(h.sign(c.signer, tx.TypeEmergencyClear, c.body), stage, c.want, c.reason)
			})
		}
	}
	h := withRule(t)
	if got := h.block(h.sign("patient/p", tx.TypeEmergencyClear, &tx.EmergencyClear{Rotations: labRotation("hosp-a", "patient/p")})); got[0] != CodeOK {
		t.Fatalf("clear: %v", got)
	}
	if escrow, _ := h.at(0).EscrowOrgs("patient/p", "lab"); len(escrow) != 0 {
		t.Fatalf("escrow after clearing: %v", escrow)
	}
	if code, log := h.blockResp(h.sign("hosp-b/dr-b", tx.TypeEmergencyInvoke, &tx.EmergencyInvoke{Patient: "patient/p"})); code != CodeDenied {
		t.Fatalf("break-glass after clearing: %v %s", code, log)
	}
}
