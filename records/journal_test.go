package records_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

// journaled starts a second records service on node0 with an on-disk
// journal in dir, its own clock and a one-minute anchoring lag limit.
func (w *world) journaled(t *testing.T, dir string) (*records.Service, *clock, *store.Queue) {
	t.Helper()
	q, err := store.OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	kr := &records.Keyring{}
	for _, o := range []string{"hosp-a", "hosp-b"} {
		kr.Add(o, w.orgKeys[o])
	}
	kr.Add(w.patient.ID, w.patientK)
	c := &clock{}
	svc, err := records.New(w.nodes[0], kr, records.Options{Node: "journaled", Now: c.now, Journal: q, MaxLag: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return svc, c, q
}

// TestJournalSurvivesRestart: events journaled by a service that stops
// without anchoring (as in a crash) are anchored by the next service on the
// same journal, and all are in the patient's log.
func TestJournalSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-j", Resource: observation("j")}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "journal")
	svc, _, q := w.journaled(t, dir)
	const reads = 50
	for range reads {
		if _, err := svc.Read(ctx, "hosp-a/dr-a2", "rec-j", 0, consent.PurposeTreatment); err != nil {
			t.Fatal(err)
		}
	}
	q.Close() // the service is gone without a flush: its memory is lost

	again, _, q2 := w.journaled(t, dir)
	defer q2.Close()
	if n := again.Pending(); n != reads {
		t.Fatalf("%d events pending after the restart, want %d", n, reads)
	}
	if err := again.Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	if q2.Len() != 0 {
		t.Fatalf("%d events left in the journal after anchoring", q2.Len())
	}
	got := 0
	for _, e := range w.auditLog(t) {
		if e.Node == "journaled" && e.RecordID == "rec-j" && e.Action == "read" {
			got++
		}
	}
	if got != reads {
		t.Fatalf("%d of %d journaled reads in the log", got, reads)
	}
}

// TestReadsStopWhenAnchoringLags: once the oldest unanchored event is older
// than the lag limit, reads of health data are refused as unavailable (and
// the refusal is logged); break-glass reads go on, flagged; after a flush,
// reads are served again.
func TestReadsStopWhenAnchoringLags(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-lag", Resource: observation("lag")}); err != nil {
		t.Fatal(err)
	}
	svc, c, q := w.journaled(t, filepath.Join(t.TempDir(), "journal"))
	defer q.Close()
	if _, err := svc.Read(ctx, "hosp-a/dr-a2", "rec-lag", 0, consent.PurposeTreatment); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetEmergencyRule(ctx, w.patient, consent.EmergencyRule{
		OrgTypes: []carechain.OrgType{carechain.OrgHospital}, Roles: []carechain.Role{carechain.RolePhysician}, DurationSeconds: 3600,
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.InvokeEmergency(ctx, w.signers["hosp-b/dr-b"], w.patient.ID, "collapsed"); err != nil {
		t.Fatal(err)
	}

	c.advance(2 * time.Minute) // anchoring has not happened for longer than the limit
	_, err := svc.Read(ctx, "hosp-a/dr-a2", "rec-lag", 0, consent.PurposeTreatment)
	if !errors.Is(err, records.ErrLogUnavailable) || carechain.KindOf(err).Status() != 503 {
		t.Fatalf("read while anchoring lags: %v, want the log unavailable (503)", err)
	}
	rec, err := svc.Read(ctx, "hosp-b/dr-b", "rec-lag", 0, consent.PurposeEmergency)
	if err != nil || rec == nil {
		t.Fatalf("break-glass read while anchoring lags: %v", err)
	}

	if m := gather(t, svc); m["carechain_access_events_pending"] < 1 || m["carechain_access_log_lag_seconds"] < 120 ||
		m["carechain_access_log_lag_seconds"] <= m["carechain_access_log_max_lag_seconds"] {
		t.Errorf("metrics while anchoring lags: %v", m)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	if err := svc.Flush(ctx, records.Signer{ID: "hosp-a/nobody", Key: stranger}); err == nil {
		t.Fatal("an unregistered anchorer's flush succeeded")
	}
	if m := gather(t, svc); m["carechain_anchor_failures_total"] != 1 || m["carechain_anchor_last_success_timestamp_seconds"] != 0 {
		t.Errorf("metrics after a failed flush: %v", m)
	}
	if err := svc.Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	if m := gather(t, svc); m["carechain_access_events_pending"] != 0 || m["carechain_access_log_lag_seconds"] != 0 ||
		m["carechain_anchor_last_success_timestamp_seconds"] == 0 {
		t.Errorf("metrics after anchoring caught up: %v", m)
	}
	if _, err := svc.Read(ctx, "hosp-a/dr-a2", "rec-lag", 0, consent.PurposeTreatment); err != nil {
		t.Fatalf("read after anchoring caught up: %v", err)
	}
	if err := svc.Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	var refused, glass int
	for _, e := range w.auditLog(t) {
		switch {
		case e.Node == "journaled" && e.Decision == carechain.DecisionDeny && e.RecordID == "rec-lag":
			refused++
		case e.Node == "journaled" && e.Emergency && e.Action == "read" && e.Requester == "hosp-b/dr-b":
			glass++
		}
	}
	if refused != 1 || glass != 1 {
		t.Fatalf("log has %d refused reads and %d break-glass reads, want 1 and 1", refused, glass)
	}
}

// gather reads the service's metrics: name → value.
func gather(t *testing.T, svc *records.Service) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(svc)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]float64)
	for _, f := range families {
		for _, s := range f.GetMetric() {
			m[f.GetName()] = s.GetGauge().GetValue() + s.GetCounter().GetValue()
		}
	}
	return m
}
