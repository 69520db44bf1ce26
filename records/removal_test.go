package records_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// TestRemovedOrgEpochIsReplaced: research-d holds the key of the patient's
// lab epoch through a grant. Once it leaves the consortium, the next write
// starts a new epoch without it, on its own: research-d holds the key of
// the epoch before (what it could read stays readable) and not of the one
// after.
func TestRemovedOrgEpochIsReplaced(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	drA := w.signers["hosp-a/dr-a"]
	put := func(marker string) records.PutResult {
		t.Helper()
		res, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-leave", Resource: observation(marker)})
		if err != nil {
			t.Fatalf("put %s: %v", marker, err)
		}
		return res
	}
	put("before-leaving")
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Org: "research-d"}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch},
	}); err != nil {
		t.Fatal(err)
	}
	before, err := w.nodes[0].App().Latest().Epoch(w.patient.ID, "lab")
	if err != nil || !slices.Contains(before.Readers, "research-d") {
		t.Fatalf("lab epoch before leaving: %+v %v", before, err)
	}
	w.submit("research-d/admin", tx.TypeGovPropose, &tx.GovPropose{Remove: "research-d", Expires: time.Now().Add(time.Hour).Unix()})
	res := put("after-leaving")
	after, err := w.nodes[0].App().Latest().Epoch(w.patient.ID, "lab")
	if err != nil || after.Epoch != before.Epoch+1 || slices.Contains(after.Readers, "research-d") {
		t.Fatalf("lab epoch after leaving: %+v (before %+v) %v", after, before, err)
	}
	v := w.nodes[0].App().Latest()
	for _, c := range []struct {
		epoch uint32
		opens bool
	}{{before.Epoch, true}, {after.Epoch, false}} {
		wrap, err := v.Wrap(w.patient.ID, "lab", c.epoch, "research-d")
		if opens := err == nil && len(wrap) > 0; opens != c.opens {
			t.Errorf("a wrap of epoch %d to research-d: %v (%d bytes)", c.epoch, err, len(wrap))
		}
	}
	if res.Version != 2 {
		t.Fatalf("version %d", res.Version)
	}
}
