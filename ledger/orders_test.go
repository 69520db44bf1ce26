package ledger

import (
	"testing"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

func serviceRequest(t *testing.T, id string, version uint64, readers []string, o *tx.Order) *tx.RecordPut {
	p := put(t, id, version, "patient/p", "lab", 1, readers)
	p.ResourceType, p.Order = "ServiceRequest", o
	return p
}

func result(t *testing.T, id, order string) *tx.RecordPut {
	p := put(t, id, 1, "patient/p", "lab", 1, nil)
	p.BasedOn = order
	return p
}

// TestOrderRules: an order within the author's organization is not
// tracked and writes nothing; an order to another organization delivers
// its keys, makes its grant and lets the performer write results based on
// it; closing it revokes the grant and refuses further results; a result
// based on what is no ServiceRequest is refused, and so is an order the
// patient's order rule excludes.
func TestOrderRules(t *testing.T) {
	h := recordWorld(t)
	ok := func(signer string, body any, what string) {
		t.Helper()
		if c := h.block(h.sign(signer, tx.TypeRecordPut, body)); c[0] != CodeOK {
			t.Fatalf("%s: %v", what, c)
		}
	}
	ok("hosp-a/dr-a", serviceRequest(t, "sr0", 1, []string{"hosp-a", "patient/p"}, nil), "an order with no performer elsewhere")
	ok("hosp-a/dr-a", result(t, "r0", "sr0"), "a result of it")
	if _, err := h.at(0).Get(orderKey("sr0")); err == nil {
		t.Error("an untracked order was written")
	}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, result(t, "r1", "r0")), StageFinalize, CodeInvalid, "no ServiceRequest")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, serviceRequest(t, "sr1", 1, nil, &tx.Order{Performer: "hosp-a", Reads: []string{"sr1"}})), StageFinalize, CodeInvalid, "own organization")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, serviceRequest(t, "sr1", 1, nil, &tx.Order{Performer: "hosp-b", Reads: []string{"sr1"}})), StageFinalize, CodeInvalid, "missing the key")
	h.judge(h.sign("hosp-b/dr-b", tx.TypeRecordPut, result(t, "r2", "sr0")), StageFinalize, CodeDenied, "may not write")

	wrap := []tx.CategoryWrap{{Category: "lab", Epoch: 1, Wrapped: []byte("opaque wrap for hosp-b")}}
	ok("hosp-a/dr-a", serviceRequest(t, "sr1", 1, nil, &tx.Order{Performer: "hosp-b", Reads: []string{"sr1", "r0"}, Wraps: wrap}), "an order to hospital B")
	if st, err := h.at(0).Order("sr1"); err != nil || !st.Open || st.Performer != "hosp-b" {
		t.Fatalf("order state %+v, %v", st, err)
	}
	grants, _ := h.at(0).Grants("patient/p")
	if g := grants.Find(OrderGrantID("sr1")); g == nil || g.Order != "sr1" || len(g.Records) != 2 || g.Revoked {
		t.Fatalf("the order's grant: %+v", g)
	}
	ok("hosp-b/dr-b", result(t, "r2", "sr1"), "hospital B's result")
	// An order names only what its author reads. With a grant to write
	// general records, hospital B may order, naming r0 (which sr1 shares
	// with it) but not r5 (which nothing lets it read).
	ok("hosp-a/dr-a", put(t, "r5", 1, "patient/p", "lab", 1, nil), "a record the order does not name")
	if c := h.block(h.sign("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{Grant: consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-b"},
		Categories: []string{"general"}, Actions: []consent.Action{consent.ActionWrite}, Purposes: []consent.Purpose{consent.PurposeTreatment}}})); c[0] != CodeOK {
		t.Fatalf("the patient lets hospital B write general records: %v", c)
	}
	naming := func(reads ...string) *tx.RecordPut {
		p := put(t, "sr6", 1, "patient/p", "general", 1, []string{"hosp-b", "patient/p"})
		p.ResourceType, p.Order = "ServiceRequest", &tx.Order{Performer: "hosp-a", Reads: append([]string{"sr6"}, reads...),
			Wraps: []tx.CategoryWrap{{Category: "general", Epoch: 1, Wrapped: []byte("opaque wrap for hosp-a")}}}
		return p
	}
	h.judge(h.sign("hosp-b/dr-b", tx.TypeRecordPut, naming("r5")), StageFinalize, CodeDenied, "names r5, which hosp-b/dr-b may not read")
	ok("hosp-b/dr-b", naming("r0"), "an order naming what hospital B reads")
	// The patient revokes the order's access: hospital B's writes end too.
	ok("hosp-a/dr-a", serviceRequest(t, "sr3", 1, nil, &tx.Order{Performer: "hosp-b", Reads: []string{"sr3"}}), "a second order to hospital B")
	if c := h.block(h.sign("patient/p", tx.TypeConsentRevoke, &tx.ConsentRevoke{GrantID: OrderGrantID("sr3")})); c[0] != CodeOK {
		t.Fatalf("the patient revokes the second order's grant: %v", c)
	}
	h.judge(h.sign("hosp-b/dr-b", tx.TypeRecordPut, result(t, "r4", "sr3")), StageFinalize, CodeDenied, "may not write")
	grants, _ = h.at(0).Grants("patient/p")
	if g := grants.Find(ResultsGrantID("sr1")); g == nil || g.Grantee.Org != "hosp-a" || len(g.Records) != 1 || g.Records[0] != "r2" {
		t.Fatalf("the grant of the order's results to hospital A: %+v", g)
	}
	ok("hosp-a/dr-a", serviceRequest(t, "sr1", 2, nil, nil), "complete the order")
	grants, _ = h.at(0).Grants("patient/p")
	if g := grants.Find(OrderGrantID("sr1")); g == nil || !g.Revoked {
		t.Errorf("the closed order's grant: %+v", g)
	}
	h.judge(h.sign("hosp-b/dr-b", tx.TypeRecordPut, result(t, "r3", "sr1")), StageFinalize, CodeConflict, "is closed")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, serviceRequest(t, "sr1", 3, nil, &tx.Order{Performer: "hosp-b", Reads: []string{"sr1"}})), StageFinalize, CodeConflict, "does not reopen")

	if c := h.block(h.sign("patient/p", tx.TypeOrderRuleSet, &tx.OrderRuleSet{Rule: consent.OrderRule{Allow: consent.OrdersToNone}})); c[0] != CodeOK {
		t.Fatalf("order rule: %v", c)
	}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, serviceRequest(t, "sr2", 1, nil, &tx.Order{Performer: "hosp-b", Reads: []string{"sr2"}})), StageFinalize, CodeDenied, "no order gives access")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeOrderRuleSet, &tx.OrderRuleSet{Patient: "patient/p", Rule: consent.OrderRule{Allow: consent.OrdersToAll}}), StageFinalize, CodeUnauthorized, "manages their consents")
}
