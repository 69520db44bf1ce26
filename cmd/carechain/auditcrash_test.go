package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
)

// TestAccessEventsSurviveSIGKILL reads a record 50 times from a demo node
// that anchors only hourly, so the events are in its journal alone, kills it
// with SIGKILL, restarts it on the same home and checks that the patient's
// access log then holds each of those reads exactly once, verifiable.
func TestAccessEventsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo node subprocess twice")
	}
	const (
		reads     = 50
		requester = "st-mary/dr-chen"
		recordID  = "demo-01-glucose" // patient/demo-01 grants dr-chen its lab results for treatment
	)
	patient := demo.PatientID(1)
	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)

	start := time.Now()
	p := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr, "--anchor-every", "1h")
	waitHealthy(t, p, addr, time.Minute)
	waitOutput(t, p, "carechain demo is running", 3*time.Minute)
	nodeID, err := node.Home(home).NodeID()
	if err != nil {
		t.Fatal(err)
	}
	anchor := ""
	principals, err := nodeapi.NewClient(addr).Principals(context.Background(), "st-mary", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range principals {
		if p.NodeID == nodeID {
			anchor = p.ID // access events name the node principal that served them
		}
	}
	mine := ownReads{requester: requester, recordID: recordID, node: anchor,
		since: time.Now().Truncate(time.Millisecond)} // events keep milliseconds
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	doctor, owner := demoClient(t, ks, addr, requester), demoClient(t, ks, addr, patient)
	for i := range reads {
		if _, err := doctor.Record(ctx, recordID, 0, string(consent.PurposeTreatment)); err != nil {
			t.Fatalf("read %d of %d: %v", i+1, reads, err)
		}
	}
	// Unanchored, the reads are not in the log yet: only the journal has them.
	log, err := owner.AuditLog(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mine.in(log)); n != 0 {
		t.Fatalf("%d of the reads were anchored before the kill; --anchor-every 1h did not hold them back", n)
	}
	t.Logf("demo seeded and %d reads served after %v", reads, time.Since(start).Round(time.Millisecond))
	p.kill(t)
	if _, err := os.Stat(filepath.Join(home, "audit-journal")); err != nil {
		t.Fatalf("no access-event journal after the kill: %v", err)
	}

	restart := time.Now()
	p2 := startProcess(t, nil, "demo", "--home", home, "--http-addr", addr)
	waitHealthy(t, p2, addr, time.Minute)
	// The restarted node anchors what its journal holds at its first tick.
	p2.waitFor(t, 30*time.Second, fmt.Sprintf("%d reads in %s's access log", reads, patient), func() error {
		if log, err = owner.AuditLog(ctx, patient); err != nil {
			return err
		}
		if n := len(mine.in(log)); n < reads {
			return fmt.Errorf("%d of %d reads anchored", n, reads)
		}
		return nil
	})
	t.Logf("restarted; the reads were in the log %v later", time.Since(restart).Round(time.Millisecond))
	got := mine.in(log)
	ids := map[string]bool{}
	for _, ev := range got {
		ids[ev.ID] = true
	}
	if len(got) != reads || len(ids) != reads {
		t.Fatalf("%d reads in the log (%d distinct events), want %d", len(got), len(ids), reads)
	}
	for _, ev := range log {
		if ev.Unverifiable {
			t.Errorf("unverifiable entry: %s", ev.Reason)
		}
	}
}

// demoClient signs requests to the demo node at addr as the demo principal id.
func demoClient(t *testing.T, ks *keystore.Store, addr, id string) *nodeapi.Client {
	t.Helper()
	k, err := ks.Unlock(demo.KeyName(id), []byte(demo.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	return nodeapi.NewClient(addr).As(id, k)
}

// ownReads picks out of an access log the reads a test made: allowed reads
// of one record by one requester through one node, since the test began.
type ownReads struct {
	requester, recordID, node string
	since                     time.Time
}

func (o ownReads) in(log []records.Event) []records.Event {
	var out []records.Event
	for _, ev := range log {
		if ev.Requester == o.requester && ev.RecordID == o.recordID && ev.Node == o.node &&
			ev.Action == string(consent.ActionRead) && ev.Decision == carechain.DecisionAllow && !ev.Time.Before(o.since) {
			out = append(out, ev)
		}
	}
	return out
}
