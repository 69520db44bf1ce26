package records_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// anchorer is the identity the tests anchor access events with.
func (w *world) anchorer() records.Signer { return w.signers["hosp-a/node0"] }

// auditLog is the patient's log, read with the patient's own key.
func (w *world) auditLog(t *testing.T) []records.Event {
	t.Helper()
	log, err := records.AuditLog(w.nodes[0].App().Latest(), w.patient.ID, w.patientK)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// TestAnchorBatchesFitTheTxLimit: more sealed events than one transaction
// can carry (about 1.3 MB) are anchored in several signed batches by one
// Flush, and every one of them is in the patient's log and verifies.
// Before, one batch of up to 1,024 events passed the 1 MiB limit and was
// retried forever while nothing more was anchored.
func TestAnchorBatchesFitTheTxLimit(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-many", Resource: observation("reads")}); err != nil {
		t.Fatal(err)
	}
	const reads = 800
	for range reads {
		if _, err := w.svc[0].Read(ctx, "hosp-a/dr-a2", "rec-many", 0, consent.PurposeTreatment); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.svc[0].Flush(ctx, w.anchorer()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if n := w.svc[0].Pending(); n != 0 {
		t.Fatalf("%d events still pending after a flush", n)
	}
	log := w.auditLog(t)
	got := 0
	for _, e := range log {
		if e.Unverifiable {
			t.Fatalf("entry does not verify: %s", e.Reason)
		}
		if e.Action == "read" && e.RecordID == "rec-many" && e.Requester == "hosp-a/dr-a2" {
			got++
		}
	}
	if got != reads {
		t.Fatalf("%d of %d reads in the log", got, reads)
	}
}

// TestRefusalFloodIsOneEvent: 1,200 refusals of one source for one record
// become one event with a count, and an authorized read made after them is
// in the patient's log after the next flush.
func TestRefusalFloodIsOneEvent(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-flood", Resource: observation("flood")}); err != nil {
		t.Fatal(err)
	}
	const flood = 1200
	for range flood {
		w.svc[0].RecordRefused("(unauthenticated)", "198.51.100.7", "rec-flood", "GET", "no valid bearer token")
	}
	if n := w.svc[0].Pending(); n != 1 {
		t.Fatalf("%d refusals pending as %d events, want 1", flood, n)
	}
	if _, err := w.svc[0].Read(ctx, "hosp-a/dr-a2", "rec-flood", 0, consent.PurposeTreatment); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	readLogged := func() bool {
		for _, e := range w.auditLog(t) {
			if e.Action == "read" && e.RecordID == "rec-flood" {
				return true
			}
		}
		return false
	}
	if !readLogged() {
		t.Fatal("the authorized read is not in the log after a flush")
	}
	w.clock[0].advance(time.Minute) // the refusal window closes
	if err := w.svc[0].Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	var refusals []records.Event
	for _, e := range w.auditLog(t) {
		if e.Action == "GET" && e.RecordID == "rec-flood" {
			refusals = append(refusals, e)
		}
	}
	if len(refusals) != 1 || refusals[0].Count != flood || refusals[0].Source != "198.51.100.7" || refusals[0].Decision != carechain.DecisionDeny {
		t.Fatalf("refusal events = %+v, want one with count %d", refusals, flood)
	}
}

// TestGarbageEntryIsUnverifiable: an anchored entry that does not decrypt
// (a node anchored garbage for the patient) is listed as unverifiable,
// naming who anchored it and where, and the rest of the log still lists.
func TestGarbageEntryIsUnverifiable(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-g", Resource: observation("g")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc[0].Read(ctx, "hosp-a/dr-a2", "rec-g", 0, consent.PurposeTreatment); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	a := w.anchorer()
	garbage := &tx.AuditAnchor{Node: a.ID, Events: []tx.SealedEvent{{ID: "forged-1", Patient: w.patient.ID, Time: 1, Sealed: []byte("not a sealed event")}}}
	if err := garbage.SignAuditBatch(a.Key, chainID); err != nil {
		t.Fatal(err)
	}
	w.submit(a.ID, tx.TypeAuditAnchor, garbage)

	log := w.auditLog(t)
	var bad, reads int
	for _, e := range log {
		switch {
		case e.Unverifiable:
			bad++
			if e.Node != a.ID || e.Height == 0 || !strings.Contains(e.Reason, fmt.Sprintf("anchored by %s at height %d", a.ID, e.Height)) {
				t.Errorf("unverifiable entry = %+v", e)
			}
		case e.Action == "read" && e.RecordID == "rec-g":
			reads++
		}
	}
	if bad != 1 || reads != 1 {
		t.Fatalf("log has %d unverifiable entries and %d reads, want 1 and 1: %+v", bad, reads, log)
	}
}
