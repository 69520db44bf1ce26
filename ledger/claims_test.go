package ledger

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

const goldRules = `{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[{"system":"cpt","code":"99213","maxUnitPrice":10000}]}`

// claimsHarness has an insurer, ins (admin ins/admin, claims officer
// ins/claims), a clerk and a physician of hosp-a, and patient/p.
func claimsHarness(t *testing.T) *harness {
	h := newHarnessWith(t, func(g *Genesis) {
		g.Organizations = append(g.Organizations, GenesisOrg{
			Organization: carechain.Organization{ID: "ins", Name: "Insurer", Type: carechain.OrgInsurer, EncryptionKey: encKey(t, 3).Public().Bytes()},
			Admins:       []GenesisAdmin{{ID: "ins/admin", PublicKey: pub(3)}}})
	})
	h.keys["ins/admin"] = key(3)
	h.keys["patient/p"] = key(50)
	codes := h.block(
		h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 51, carechain.RoleRegistrationClerk),
		h.register("hosp-a/admin", "hosp-a/dr", carechain.KindPractitioner, 52, carechain.RolePhysician),
		h.register("ins/admin", "ins/claims", carechain.KindPractitioner, 53, carechain.RoleClaimsOfficer),
		h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "patient/p", Kind: carechain.KindPatient, PublicKey: pub(50), EncryptionKey: encKey(t, 50).Public().Bytes()}),
	)
	for i, c := range codes {
		if c != CodeOK {
			t.Fatalf("setup tx %d: %v", i, c)
		}
	}
	return h
}

func submit(id string, commit byte, preAuths ...string) *tx.ClaimSubmit {
	return &tx.ClaimSubmit{ID: id, Patient: "patient/p", Insurer: "ins", Plan: "gold", Use: "claim",
		Commitment: bytes.Repeat([]byte{commit}, 32), PreAuths: preAuths, Sealed: []byte("sealed " + id)}
}

func adjudicateBody(id string, version uint64) *tx.ClaimAdjudicate {
	sum := sha256.Sum256([]byte("sealed " + id))
	return &tx.ClaimAdjudicate{Claim: id, ClaimHash: sum[:], RulesVersion: version, Outcome: "approved", Sealed: []byte("result " + id)}
}

func TestClaimRules(t *testing.T) {
	h := claimsHarness(t)
	rules := func(v uint64, doc string) *tx.PlanRules {
		return &tx.PlanRules{Plan: "gold", Version: v, Rules: []byte(doc)}
	}
	h.judge(h.sign("hosp-a/clerk", tx.TypeClaimSubmit, submit("c0", 9)), StageFinalize, CodeInvalid, "publishes no rules for plan gold")
	h.judge(h.sign("hosp-a/admin", tx.TypePlanRules, rules(1, goldRules)), StageFinalize, CodeUnauthorized, "only an insurer's admin")
	h.judge(h.sign("ins/admin", tx.TypePlanRules, rules(1, `{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"conditions":[{"expr":"claim.total","reason":"r"}]}`)), StageCheck, CodeInvalid, "want bool")
	h.judge(h.sign("ins/admin", tx.TypePlanRules, rules(2, goldRules)), StageFinalize, CodeStaleVersion, "publish version 1")
	if c := h.block(h.sign("ins/admin", tx.TypePlanRules, rules(1, goldRules))); c[0] != CodeOK {
		t.Fatalf("rules v1: %v", c)
	}
	v1height := h.height
	if c := h.block(h.sign("hosp-a/clerk", tx.TypeClaimSubmit, submit("c1", 1))); c[0] != CodeOK {
		t.Fatalf("claim: %v", c)
	}
	for _, tc := range []struct {
		name   string
		signer string
		typ    tx.Type
		body   any
		code   Code
		reason string
	}{
		{"a duplicate claim", "hosp-a/clerk", tx.TypeClaimSubmit, submit("c2", 1), CodeConflict, "duplicate claim: claim c1"},
		{"an id in use", "hosp-a/clerk", tx.TypeClaimSubmit, submit("c1", 2), CodeConflict, "claim c1 exists"},
		{"a role that writes no billing", "hosp-a/dr", tx.TypeClaimSubmit, submit("c2", 2), CodeUnauthorized, "may not submit claims"},
		{"no such insurer", "hosp-a/clerk", tx.TypeClaimSubmit, func() *tx.ClaimSubmit { s := submit("c2", 2); s.Insurer = "hosp-b"; return s }(), CodeInvalid, "not an insurer"},
		{"a prior authorization that is none", "hosp-a/clerk", tx.TypeClaimSubmit, submit("c2", 2, "c1"), CodeInvalid, "not a prior authorization"},
		{"another organization adjudicates", "hosp-a/clerk", tx.TypeClaimAdjudicate, adjudicateBody("c1", 1), CodeUnauthorized, "may not adjudicate"},
		{"another rules version", "ins/claims", tx.TypeClaimAdjudicate, adjudicateBody("c1", 2), CodeInvalid, "under rules version 1"},
		{"another claim's hash", "ins/claims", tx.TypeClaimAdjudicate, func() *tx.ClaimAdjudicate { a := adjudicateBody("c1", 1); a.ClaimHash[0]++; return a }(), CodeInvalid, "under rules version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.judge(h.sign(tc.signer, tc.typ, tc.body), StageFinalize, tc.code, tc.reason)
		})
	}
	h.t = t
	if c := h.block(h.sign("ins/admin", tx.TypePlanRules, rules(2, goldRules)), h.sign("hosp-a/clerk", tx.TypeClaimSubmit, submit("c3", 3))); c[0] != CodeOK || c[1] != CodeOK {
		t.Fatalf("rules v2 and a claim: %v", c)
	}
	if c := h.block(h.sign("ins/claims", tx.TypeClaimAdjudicate, adjudicateBody("c1", 1))); c[0] != CodeOK {
		t.Fatalf("adjudicate c1 under v1 after v2: %v", c)
	}
	h.judge(h.sign("ins/claims", tx.TypeClaimAdjudicate, adjudicateBody("c1", 1)), StageFinalize, CodeConflict, "already adjudicated")
	v := h.at(0)
	c1, _ := v.Claim("c1")
	c3, _ := v.Claim("c3")
	old, _ := v.PlanRules("ins", "gold", 1)
	if c1.RulesVersion != 1 || c3.RulesVersion != 2 || old.Height != v1height {
		t.Fatalf("rules versions: c1 %d, c3 %d, v1 at %d", c1.RulesVersion, c3.RulesVersion, old.Height)
	}
	if pending, _ := v.PendingClaims("ins"); len(pending) != 1 || pending[0] != "c3" {
		t.Fatalf("pending %v, want [c3]", pending)
	}
}

// TestClaimUsageChain: under rules with limits per year, an adjudication
// must commit to the patient's usage and start from the chain's head;
// one that starts elsewhere is stale, and a prior authorization or a plan
// without limits carries no commitment.
func TestClaimUsageChain(t *testing.T) {
	h := claimsHarness(t)
	limited := `{"currency":"EUR","benefits":[{"system":"cpt","code":"99213","maxUnitPrice":10000,"maxPerYear":4}]}`
	if c := h.block(h.sign("ins/admin", tx.TypePlanRules, &tx.PlanRules{Plan: "gold", Version: 1, Rules: []byte(limited)}),
		h.sign("hosp-a/clerk", tx.TypeClaimSubmit, submit("c1", 1)), h.sign("hosp-a/clerk", tx.TypeClaimSubmit, submit("c2", 2)),
		h.sign("hosp-a/clerk", tx.TypeClaimSubmit, func() *tx.ClaimSubmit { s := submit("pa", 3); s.Use = "preauthorization"; return s }())); !slices.Equal(c, []Code{CodeOK, CodeOK, CodeOK, CodeOK}) {
		t.Fatalf("setup: %v", c)
	}
	if pv, _ := h.at(0).PlanRules("ins", "gold", 1); !pv.Limits {
		t.Fatal("rules with maxPerYear are not marked as limiting")
	}
	with := func(id string, prev, next byte) *tx.ClaimAdjudicate {
		a := adjudicateBody(id, 1)
		if prev != 0 {
			a.PrevUsage = bytes.Repeat([]byte{prev}, 32)
		}
		a.Usage = bytes.Repeat([]byte{next}, 32)
		return a
	}
	h.judge(h.sign("ins/claims", tx.TypeClaimAdjudicate, adjudicateBody("c1", 1)), StageFinalize, CodeInvalid, "must commit to the patient's usage")
	h.judge(h.sign("ins/claims", tx.TypeClaimAdjudicate, with("c1", 7, 8)), StageFinalize, CodeStaleVersion, "has moved on")
	h.judge(h.sign("ins/claims", tx.TypeClaimAdjudicate, with("pa", 0, 8)), StageFinalize, CodeInvalid, "carries no usage commitment")
	if c := h.block(h.sign("ins/claims", tx.TypeClaimAdjudicate, with("c1", 0, 8)), h.sign("ins/claims", tx.TypeClaimAdjudicate, adjudicateBody("pa", 1))); c[0] != CodeOK || c[1] != CodeOK {
		t.Fatalf("first of the year and a prior authorization: %v", c)
	}
	// c2 decided from no usage (as if c1 had not been): stale.
	h.judge(h.sign("ins/claims", tx.TypeClaimAdjudicate, with("c2", 0, 9)), StageFinalize, CodeStaleVersion, "claim c1 was decided since")
	if c := h.block(h.sign("ins/claims", tx.TypeClaimAdjudicate, with("c2", 8, 9))); c[0] != CodeOK {
		t.Fatalf("c2 from c1's usage: %v", c)
	}
	v := h.at(0)
	c2, _ := v.Claim("c2")
	head, err := v.UsageHead(c2)
	if adj, _ := v.Adjudication("c2"); err != nil || head.Claim != "c2" || head.Commitment[0] != 9 || adj.PrevUsage[0] != 8 || adj.Usage[0] != 9 {
		t.Fatalf("head %+v (%v), adjudication %+v", head, err, adj)
	}
}
