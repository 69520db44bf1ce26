package ledger

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// mergeWorld is recordWorld with a registration clerk at hosp-a and one at
// hosp-b, and patient/q, the same person as patient/p (registered at
// hosp-a) registered again at hosp-b's desk, with a lab record (epoch 1,
// read by hosp-b and patient/q).
func mergeWorld(t *testing.T) *harness {
	h := recordWorld(t)
	h.keys["patient/q"] = key(14)
	got := h.block(
		h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 15, carechain.RoleRegistrationClerk),
		h.register("hosp-b/admin", "hosp-b/clerk", carechain.KindPractitioner, 16, carechain.RoleRegistrationClerk),
		h.sign("hosp-b/clerk", tx.TypeRegister, &tx.Register{ID: "patient/q", Kind: carechain.KindPatient, PublicKey: pub(14), EncryptionKey: encKey(t, 14).Public().Bytes()}),
	)
	if !equalCodes(got, []Code{CodeOK, CodeOK, CodeOK}) {
		t.Fatalf("world: %v", got)
	}
	if got := h.block(h.sign("hosp-b/dr-b", tx.TypeRecordPut, put(t, "rq", 1, "patient/q", "lab", 1, []string{"hosp-b", "patient/q"}))); got[0] != CodeOK {
		t.Fatalf("record of q: %v", got)
	}
	return h
}

var (
	mergeQP  = &tx.Merge{Source: "patient/q", Target: "patient/p"}
	acceptQ  = &tx.MergeApprove{Source: "patient/q"}
	qLabWrap = []tx.CategoryWrap{{Category: "lab", Epoch: 1, Wrapped: []byte("opaque wrap for patient/p")}}
	approveQ = &tx.MergeApprove{Source: "patient/q", Wraps: qLabWrap}
)

func TestMergeRejections(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(h *harness)
		signer string
		typ    tx.Type
		body   any
		want   Code
		reason string
	}{
		{"a physician proposes", nil, "hosp-a/dr-a", tx.TypeMerge, mergeQP, CodeUnauthorized, "needs an admin or registration-clerk"},
		{"a clerk of neither's organization", nil, "hosp-b/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/nokey", Target: "patient/p"}, CodeUnauthorized, "only an organization that registered one of them"},
		{"unknown patient", nil, "hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/q", Target: "patient/nobody"}, CodeInvalid, `"patient/nobody" is not a registered patient`},
		{"staff as target", nil, "hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/q", Target: "hosp-a/dr-a"}, CodeInvalid, "is not a patient id"},
		{"same patient", nil, "hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/q", Target: "patient/q"}, CodeInvalid, "not a duplicate of themself"},
		{"proposed twice", func(h *harness) { h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP) },
			"hosp-b/clerk", tx.TypeMerge, mergeQP, CodeConflict, "already has a merge into patient/p (proposed)"},
		{"nothing proposed", nil, "patient/q", tx.TypeMergeApprove, approveQ, CodeInvalid, "no merge of patient/q is proposed"},
		{"another patient answers", func(h *harness) { h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP) },
			"patient/nokey", tx.TypeMergeApprove, acceptQ, CodeUnauthorized, "only patient/q and patient/p answer"},
		{"the clerk approves", func(h *harness) { h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP) },
			"hosp-a/clerk", tx.TypeMergeApprove, acceptQ, CodeUnauthorized, "only patient/q and patient/p answer"},
		{"the source before the target", func(h *harness) { h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP) },
			"patient/q", tx.TypeMergeApprove, approveQ, CodeInvalid, "patient/p accepts the merge first"},
		{"the source without its keys", func(h *harness) {
			h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP)
			h.mustBlock("patient/p", tx.TypeMergeApprove, acceptQ)
		}, "patient/q", tx.TypeMergeApprove, acceptQ, CodeInvalid, "missing the key of patient/q/lab epoch 1 wrapped to patient/p"},
		{"the target twice", func(h *harness) {
			h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP)
			h.mustBlock("patient/p", tx.TypeMergeApprove, acceptQ)
		}, "patient/p", tx.TypeMergeApprove, acceptQ, CodeInvalid, "has accepted already"},
		{"merged again", mergeQ, "hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/q", Target: "patient/nokey"}, CodeConflict, "already has a merge into patient/p (done)"},
		{"declined once merged", mergeQ, "patient/q", tx.TypeMergeApprove, &tx.MergeApprove{Source: "patient/q", Decline: true}, CodeConflict, "a merge is never undone"},
		{"into a replaced patient", mergeQ, "hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/nokey", Target: "patient/q"}, CodeInvalid, "patient/q is itself replaced by patient/p"},
		{"a write for the replaced patient", mergeQ, "hosp-b/dr-b", tx.TypeRecordPut, nil, CodeConflict, "patient/q was merged into patient/p, which replaces it: write for patient/p"},
	}
	for _, tc := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(tc.name+"/"+stageName(stage), func(t *testing.T) {
				h := mergeWorld(t)
				if tc.setup != nil {
					tc.setup(h)
				}
				body := tc.body
				if body == nil {
					body = put(t, "rq", 2, "patient/q", "lab", 1, nil)
				}
				h.judge(h.sign(tc.signer, tc.typ, body), stage, tc.want, tc.reason)
			})
		}
	}
}

// mergeQ merges patient/q into patient/p, with both signatures.
func mergeQ(h *harness) {
	h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP)
	h.mustBlock("patient/p", tx.TypeMergeApprove, acceptQ)
	h.mustBlock("patient/q", tx.TypeMergeApprove, approveQ)
}

func TestMergeTakesEffectWithBothSignatures(t *testing.T) {
	h := mergeWorld(t)
	h.mustBlock("hosp-a/clerk", tx.TypeMerge, &tx.Merge{Source: "patient/p", Target: "patient/q"})
	h.mustBlock("patient/p", tx.TypeMergeApprove, &tx.MergeApprove{Source: "patient/p", Decline: true})
	if _, err := h.at(0).Merge("patient/p"); err == nil {
		t.Fatal("a declined proposal stays")
	}

	h.mustBlock("hosp-a/clerk", tx.TypeMerge, mergeQP) // a clerk of the target's organization
	h.mustBlock("patient/p", tx.TypeMergeApprove, acceptQ)
	// Accepted by the target only: nothing is merged yet, q is still written.
	if by, _, err := h.at(0).Links("patient/q"); err != nil || by != "" {
		t.Fatalf("half-signed merge took effect: %q %v", by, err)
	}
	h.mustBlock("hosp-b/dr-b", tx.TypeRecordPut, put(t, "rq", 2, "patient/q", "lab", 1, nil))
	h.mustBlock("patient/q", tx.TypeMergeApprove, approveQ)

	v := h.at(0)
	if by, replaces, err := v.Links("patient/q"); err != nil || by != "patient/p" || len(replaces) != 0 {
		t.Fatalf("links of q: %q %v %v", by, replaces, err)
	}
	if by, replaces, err := v.Links("patient/p"); err != nil || by != "" || strings.Join(replaces, ",") != "patient/q" {
		t.Fatalf("links of p: %q %v %v", by, replaces, err)
	}
	m, err := v.Merge("patient/q")
	if err != nil || m.Status != MergeDone || m.ProposedBy != "hosp-a/clerk" {
		t.Fatalf("merge %+v %v", m, err)
	}
	grants, err := v.Grants("patient/q")
	if err != nil || len(grants) != 1 || grants[0].ID != m.Grant || grants[0].Grantee.Principal != "patient/p" {
		t.Fatalf("q's grants %+v %v", grants, err)
	}
	if w, err := v.Wrap("patient/q", "lab", 1, "patient/p"); err != nil || string(w) != "opaque wrap for patient/p" {
		t.Fatalf("p holds no key of q's lab records: %q %v", w, err)
	}
	if head, err := v.Record("rq"); err != nil || head.Latest != 2 {
		t.Fatalf("q's record after the merge: %+v %v", head, err)
	}
	// Writes for the survivor go on.
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, put(t, "rp", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"}))
}

func stageName(s Stage) string {
	if s == StageCheck {
		return "CheckTx"
	}
	return "FinalizeBlock"
}
