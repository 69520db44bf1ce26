package fhirrest_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// TestLastUpdatedIsFreshAfterIdle: a resource created after the chain has
// idled (no transactions, no empty block for longer than idle) carries the
// time it was created as meta.lastUpdated, not the time the block before
// was committed, so a client that syncs with _lastUpdated=ge<the time it
// last looked> finds it. Under CometBFT's BFT time it would be stamped
// about idle seconds in the past; node.Init's genesis has proposer-based
// timestamps (ledger/pbts.go).
func TestLastUpdatedIsFreshAfterIdle(t *testing.T) {
	const idle = 6 * time.Second // well under the empty block interval (30s)
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	time.Sleep(idle) // the scenario: the chain idles
	sent := time.Now()
	r := e.do("POST", "/fhir/Observation", tok, []byte(fmt.Sprintf(glucose, 97)))
	done := time.Now()
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.rawBody)
	}
	stamp, err := time.Parse(time.RFC3339Nano, r.body["meta"].(map[string]any)["lastUpdated"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Not a speed bound: a stamp from before the request is stale by
	// about idle under BFT time; a second of slack covers a stamp in
	// whole seconds and the node's own clock.
	if stale := sent.Sub(stamp); stale > idle/2 || stamp.After(done.Add(time.Second)) {
		t.Fatalf("meta.lastUpdated %s for a create sent at %s after %v idle: stale by %v", stamp.Format(time.RFC3339Nano), sent.Format(time.RFC3339Nano), idle, stale)
	}
	since := url.QueryEscape(sent.Add(-time.Second).UTC().Format(time.RFC3339))
	if s := e.do("GET", "/fhir/Observation?patient=Patient/p&_lastUpdated=ge"+since, tok, nil); s.status != 200 || s.body["total"] != 1.0 {
		t.Fatalf("_lastUpdated=ge%s: %d, total %v, want 1", since, s.status, s.body["total"])
	}
}
