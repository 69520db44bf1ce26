package consent

import (
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain"
)

func TestEvaluate(t *testing.T) {
	toDrA := Grantee{Principal: "h1/dr-a"}
	treatmentOnly := func(g *Grant) {
		g.Purposes = []Purpose{PurposeTreatment, PurposeBilling}
		g.Condition = `request.purpose == "treatment"`
	}
	revoked := func(g *Grant) { g.Revoked, g.RevokedAt = true, t0-10 }
	expired := func(g *Grant) { g.NotAfter = t0 }
	withdrawn := func(g *Grant) {
		g.Purposes, g.Study = []Purpose{PurposeResearch}, "gl-1"
		revoked(g)
		g.WithdrawnHeight = 20
	}
	tests := []struct {
		name    string
		grants  []Grant
		req     Request
		allowed bool
		grantID string
		reason  string
	}{
		{"patient reads own record", nil, request(patient), true, "", "patient's own record"},
		{"patient writes own record", nil, request(patient, func(r *Request) { r.Action = ActionWrite }), true, "", "patient's own record"},
		{"granted by principal", []Grant{grant("g-1", toDrA)}, request(drA), true, "g-1", "grant g-1 allows read for treatment"},
		{"granted by org", []Grant{grant("g-1", Grantee{Org: "h1"})}, request(drA), true, "g-1", "grant g-1 allows read for treatment"},
		{"granted by org and role", []Grant{grant("g-1", Grantee{Org: "h1", Role: carechain.RolePhysician})}, request(drA), true, "g-1", "grant g-1 allows read for treatment"},
		{"org and role: other role denied", []Grant{grant("g-1", Grantee{Org: "h1", Role: carechain.RolePhysician})}, request(nurse), false, "", "h1/nurse-n has no grant from the patient"},
		{"unrelated physician denied", []Grant{grant("g-1", toDrA), grant("g-2", Grantee{Org: "h1"})}, request(drB), false, "", "h2/dr-b has no grant from the patient"},
		{"no grants at all", nil, request(drA), false, "", "h1/dr-a has no grant from the patient"},
		{"org grant does not cover the org's patients", []Grant{grant("g-1", Grantee{Org: "h1"})}, request(otherPat), false, "", "patient/p2 has no grant from the patient"},
		{"grant of another patient ignored", []Grant{grant("g-1", toDrA, func(g *Grant) { g.Patient = "patient/p2" })}, request(drA), false, "", "h1/dr-a has no grant from the patient"},
		{"revoked", []Grant{grant("g-5", toDrA, revoked)}, request(drA), false, "g-5", "grant g-5 was revoked"},
		{"expired", []Grant{grant("g-12", toDrA, expired)}, request(drA), false, "g-12", "grant g-12 expired at 2026-01-01T00:00:00Z"},
		{"last second of period", []Grant{grant("g-12", toDrA, func(g *Grant) { g.NotAfter = t0 + 1 })}, request(drA), true, "g-12", "grant g-12 allows read for treatment"},
		{"not yet valid", []Grant{grant("g-1", toDrA, func(g *Grant) { g.NotBefore = t0 + 86400 })}, request(drA), false, "g-1", "grant g-1 is not valid before 2026-01-02T00:00:00Z"},
		{"condition allows treatment", []Grant{grant("g-3", toDrA, treatmentOnly)}, request(drA), true, "g-3", "grant g-3 allows read for treatment"},
		{"condition denies billing", []Grant{grant("g-3", toDrA, treatmentOnly)}, request(drA, func(r *Request) { r.Purpose = PurposeBilling }), false, "g-3", "condition of grant g-3 is false"},
		{"purpose not covered", []Grant{grant("g-1", toDrA)}, request(drA, func(r *Request) { r.Purpose = PurposeResearch }), false, "g-1", "grant g-1 does not cover purpose research"},
		{"action not covered", []Grant{grant("g-1", toDrA)}, request(drA, func(r *Request) { r.Action = ActionWrite }), false, "g-1", "grant g-1 does not cover action write"},
		{"researcher lab only denied mental-health",
			[]Grant{grant("g-7", Grantee{Principal: "r1/res"}, func(g *Grant) { g.Purposes = []Purpose{PurposeResearch} })},
			request(researcher, func(r *Request) { r.Category, r.Purpose = "mental-health", PurposeResearch }),
			false, "g-7", "no grant covers category mental-health"},
		{"withdrawn study consent covers what was recorded before",
			[]Grant{grant("g-8", Grantee{Principal: "r1/res"}, withdrawn)},
			request(researcher, func(r *Request) { r.Purpose, r.RecordedHeight = PurposeResearch, 19 }),
			true, "g-8", "grant g-8 allows read for research of what was recorded (height 19) before the patient withdrew from study gl-1 at height 20"},
		{"withdrawn study consent leaves out what was recorded after",
			[]Grant{grant("g-8", Grantee{Principal: "r1/res"}, withdrawn)},
			request(researcher, func(r *Request) { r.Purpose, r.RecordedHeight = PurposeResearch, 20 }),
			false, "g-8", "the patient withdrew from study gl-1 at height 20 (grant g-8): what they record from then on is not shared"},
		{"withdrawn study consent, height unknown",
			[]Grant{grant("g-8", Grantee{Principal: "r1/res"}, withdrawn)},
			request(researcher, func(r *Request) { r.Purpose = PurposeResearch }),
			false, "g-8", "the patient withdrew from study gl-1 at height 20 (grant g-8): what they record from then on is not shared"},
		{"researcher lab allowed",
			[]Grant{grant("g-7", Grantee{Principal: "r1/res"}, func(g *Grant) { g.Purposes = []Purpose{PurposeResearch} })},
			request(researcher, func(r *Request) { r.Purpose = PurposeResearch }),
			true, "g-7", "grant g-7 allows read for research"},
		{"resource type not covered", []Grant{grant("g-1", toDrA, func(g *Grant) { g.ResourceTypes = []string{"DiagnosticReport"} })}, request(drA), false, "g-1", "no grant covers resource type Observation"},
		{"any category", []Grant{grant("g-1", toDrA, func(g *Grant) { g.Categories = []string{AnyCategory} })}, request(drA, func(r *Request) { r.Category = "imaging" }), true, "g-1", "grant g-1 allows read for treatment"},
		{"record-scoped grant allows its record", []Grant{secondOpinion()}, request(drB, secondOpinionReq("r-1")), true, "g-9", "grant g-9 allows read for second-opinion"},
		{"record-scoped grant denies other records", []Grant{secondOpinion()}, request(drB, secondOpinionReq("r-2")), false, "g-9", "no grant covers record r-2"},
		{"first allowing grant wins", []Grant{grant("g-1", toDrA, revoked), grant("g-2", Grantee{Org: "h1"}), grant("g-3", toDrA)}, request(drA), true, "g-2", "grant g-2 allows read for treatment"},
		{"revoked preferred over expired, condition, use, scope",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Categories = []string{"imaging"} }), grant("g-2", toDrA, func(g *Grant) { g.Actions = []Action{ActionWrite} }),
				grant("g-3", toDrA, func(g *Grant) { g.Condition = "false" }), grant("g-4", toDrA, expired), grant("g-5", toDrA, revoked)},
			request(drA), false, "g-5", "grant g-5 was revoked"},
		{"expired preferred over condition",
			[]Grant{grant("g-3", toDrA, func(g *Grant) { g.Condition = "false" }), grant("g-4", toDrA, expired)},
			request(drA), false, "g-4", "grant g-4 expired at 2026-01-01T00:00:00Z"},
		{"condition preferred over purpose",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Purposes = []Purpose{PurposeBilling} }), grant("g-3", toDrA, func(g *Grant) { g.Condition = "false" })},
			request(drA), false, "g-3", "condition of grant g-3 is false"},
		{"purpose preferred over category",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Categories = []string{"imaging"} }), grant("g-2", toDrA, func(g *Grant) { g.Purposes = []Purpose{PurposeBilling} })},
			request(drA), false, "g-2", "grant g-2 does not cover purpose treatment"},
		{"equal misses: first grant reported",
			[]Grant{grant("g-1", toDrA, revoked), grant("g-2", toDrA, revoked)},
			request(drA), false, "g-1", "grant g-1 was revoked"},
		{"condition sees all variables",
			[]Grant{grant("g-1", toDrA, func(g *Grant) {
				g.Condition = `request.action == "read" && request.category == "lab" && request.resource_type == "Observation" &&
					grantee.id == "h1/dr-a" && grantee.kind == "practitioner" && grantee.org == "h1" && "physician" in grantee.roles &&
					time == timestamp("2026-01-01T00:00:00Z") && time.getFullYear() == 2026`
			})},
			request(drA), true, "g-1", "grant g-1 allows read for treatment"},
		{"condition runtime error denies",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Condition = `int(request.category) > 0` })},
			request(drA), false, "g-1", "condition of grant g-1 failed: "},
		{"condition over cost limit denies",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Condition = expensive() })},
			request(drA), false, "g-1", "condition of grant g-1 failed: exceeded the cost limit of 10000"},
		{"stored condition that no longer compiles denies",
			[]Grant{grant("g-1", toDrA, func(g *Grant) { g.Condition = `request.purpose` })},
			request(drA), false, "g-1", "condition of grant g-1 does not compile: condition has type string, want bool"},
		{"no requester", []Grant{grant("g-1", toDrA)}, request(nil), false, "", "request has no requester"},
		{"unknown action", []Grant{grant("g-1", toDrA)}, request(drA, func(r *Request) { r.Action = "delete" }), false, "", `unknown action "delete"`},
		{"unknown purpose", []Grant{grant("g-1", toDrA)}, request(drA, func(r *Request) { r.Purpose = "marketing" }), false, "", `unknown purpose "marketing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, g := range tt.grants {
				if err := g.Validate(); err != nil && !strings.Contains(tt.name, "no longer compiles") {
					t.Fatalf("test grant invalid: %v", err)
				}
			}
			for name, eval := range map[string]func([]Grant, Request) Decision{"Evaluate": Evaluate, "Evaluator": NewEvaluator(8).Evaluate} {
				got := eval(tt.grants, tt.req)
				reasonOK := got.Reason == tt.reason || strings.HasSuffix(tt.reason, ": ") && strings.HasPrefix(got.Reason, tt.reason)
				if got.Allowed != tt.allowed || got.GrantID != tt.grantID || !reasonOK {
					t.Errorf("%s = %+v, want {Allowed:%v GrantID:%s Reason:%s}", name, got, tt.allowed, tt.grantID, tt.reason)
				}
			}
		})
	}
}

func secondOpinion() Grant {
	return grant("g-9", Grantee{Principal: "h2/dr-b"}, func(g *Grant) {
		g.Categories, g.RecordID, g.Purposes = nil, "r-1", []Purpose{PurposeSecondOpinion}
	})
}

func secondOpinionReq(record string) func(*Request) {
	return func(r *Request) { r.RecordID, r.Category, r.Purpose = record, "imaging", PurposeSecondOpinion }
}

// expensive is a condition of 100×100 iterations, well over ConditionCostLimit
// although it is short and type-checks.
func expensive() string {
	nums := make([]string, 100)
	for i := range nums {
		nums[i] = fmt.Sprint(i)
	}
	list := "[" + strings.Join(nums, ",") + "]"
	return list + ".all(x, " + list + ".all(y, x + y >= 0))"
}

func TestEvaluateIsDeterministic(t *testing.T) {
	toDrA := Grantee{Principal: "h1/dr-a"}
	grants := []Grant{
		grant("g-1", Grantee{Org: "h2"}, func(g *Grant) {
			g.Condition = `grantee.roles.exists(r, r == "physician") && request.category in ["lab", "imaging"]`
		}),
		grant("g-2", toDrA, func(g *Grant) { g.Revoked = true }),
		grant("g-3", toDrA, func(g *Grant) { g.Condition = `time.getHours() < 12` }),
		grant("g-4", toDrA, func(g *Grant) { g.Condition = expensive() }),
		grant("g-5", Grantee{Principal: "r1/res"}, func(g *Grant) { g.Purposes = []Purpose{PurposeResearch} }),
	}
	var reqs []Request
	for _, p := range []*carechain.Principal{drA, drB, researcher, nurse, patient} {
		for _, at := range []int64{t0, t0 + 13*3600} {
			for _, cat := range []string{"lab", "mental-health"} {
				reqs = append(reqs, request(p, func(r *Request) { r.Time, r.Category = at, cat }))
			}
		}
	}
	ev := NewEvaluator(2) // smaller than the number of conditions, so entries are evicted
	for i, req := range reqs {
		want := Evaluate(grants, req)
		for range 20 {
			if got := ev.Evaluate(grants, req); got != want {
				t.Fatalf("request %d: got %+v, want %+v", i, got, want)
			}
		}
	}
	if len(ev.cache) > 2 {
		t.Fatalf("cache holds %d entries, bound is 2", len(ev.cache))
	}
}

func BenchmarkEvaluateWithCondition(b *testing.B) {
	grants := []Grant{
		grant("g-1", Grantee{Org: "h2"}),
		grant("g-2", Grantee{Principal: "h1/dr-a"}, func(g *Grant) { g.Categories = []string{"imaging"} }),
		grant("g-3", Grantee{Org: "h1", Role: carechain.RolePhysician}, func(g *Grant) {
			g.Condition = `request.purpose == "treatment" && "physician" in grantee.roles && time < timestamp("2027-01-01T00:00:00Z")`
		}),
	}
	req := request(drA)
	for _, bb := range []struct {
		name string
		eval func([]Grant, Request) Decision
	}{{"cached", NewEvaluator(64).Evaluate}, {"uncached", Evaluate}} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if d := bb.eval(grants, req); !d.Allowed {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}
