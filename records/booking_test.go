package records_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

func appointmentOf(slot string) []byte {
	return []byte(`{"resourceType":"Appointment","status":"booked","slot":[{"reference":"Slot/` + slot + `"}],
	  "start":"2027-02-01T09:00:00Z","end":"2027-02-01T09:15:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`)
}

// TestDoubleBookingAcrossNodes: two clinics, each through its own node,
// book the same Slot at the same moment; exactly one appointment commits,
// the other is refused as a conflict, and both nodes agree who holds it.
func TestDoubleBookingAcrossNodes(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"administrative"},
		Actions: []consent.Action{consent.ActionRead, consent.ActionWrite}, Purposes: []consent.Purpose{consent.PurposeTreatment},
		NotBefore: time.Now().Unix() - 60,
	}); err != nil {
		t.Fatal(err)
	}
	slot := []byte(`{"resourceType":"Slot","id":"slot-1","schedule":{"reference":"Schedule/s"},"status":"free","start":"2027-02-01T09:00:00Z","end":"2027-02-01T09:15:00Z"}`)
	if _, err := w.svc[0].PutOrgRecord(ctx, w.signers["hosp-a/dr-a"], records.OrgPut{ResourceType: "Slot", ID: "slot-1", Resource: slot}); err != nil {
		t.Fatal(err)
	}
	last, _ := w.nodes[0].App().Height()
	w.waitHeight(1, last)

	clinics := []struct {
		node   int
		signer string
		record string
	}{{0, "hosp-a/clerk", "appt-a"}, {1, "hosp-b/dr-b", "appt-b"}}
	errs := make([]error, len(clinics))
	var wg sync.WaitGroup
	for i, c := range clinics {
		wg.Go(func() {
			_, errs[i] = w.svc[c.node].Put(ctx, w.signers[c.signer], records.PutItem{Patient: w.patient.ID, Category: "administrative",
				RecordID: c.record, Resource: appointmentOf("slot-1")})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner == -1:
			winner = i
		case err == nil:
			t.Fatalf("both appointments booked slot-1")
		case carechain.KindOf(err) != carechain.KindConflict:
			t.Fatalf("%s: want a conflict, got %v", clinics[i].signer, err)
		}
	}
	if winner == -1 {
		t.Fatalf("neither booked slot-1: %v", errors.Join(errs...))
	}
	h, _ := w.nodes[0].App().Height()
	w.waitHeight(1, h)
	for i, n := range w.nodes {
		holder, err := n.App().Latest().SlotHolder("slot-1")
		if err != nil || holder != clinics[winner].record {
			t.Errorf("node%d: slot-1 held by %q (%v), want %s", i, holder, err, clinics[winner].record)
		}
	}
	t.Logf("%s booked slot-1; %s was refused: %v", clinics[winner].signer, clinics[1-winner].signer, errs[1-winner])
}
