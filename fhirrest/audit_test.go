package fhirrest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// nodePrincipal registers the test node as a node principal of hosp-a, the
// identity that anchors its access events.
func (e *env) nodePrincipal(ctx context.Context) records.Signer {
	e.t.Helper()
	id, err := e.n.Home().NodeID()
	if err != nil {
		e.t.Fatal(err)
	}
	k := newKey()
	reg := tx.Register{ID: "hosp-a/node0", Kind: carechain.KindNode, NodeID: id, PublicKey: k.Public().(ed25519.PublicKey)}
	nonce, _ := e.n.App().Latest().NextNonce("hosp-a/admin")
	raw, _ := tx.Sign(e.keys["hosp-a/admin"], chainID, "hosp-a/admin", nonce, tx.TypeRegister, &reg)
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("register the node: %+v %v", out, err)
	}
	return records.Signer{ID: reg.ID, Key: k}
}

// TestRefusalFloodDoesNotBuryTheLog: 1,200 GETs without a token, then an
// authorized read. The read is in the patient's log (as FHIR AuditEvents)
// after the next anchoring; the refusals are one event with their count.
func TestRefusalFloodDoesNotBuryTheLog(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	anchorer := e.nodePrincipal(ctx)
	tok := e.token("hosp-a/dr-a")
	id := e.createGlucose(tok, 90)
	const flood = 1200
	for range flood {
		if r := e.do("GET", "/fhir/Observation/"+id, "", nil); r.status != 401 {
			t.Fatalf("GET without a token: %d", r.status)
		}
	}
	if r := e.do("GET", "/fhir/Observation/"+id, tok, nil); r.status != 200 {
		t.Fatalf("authorized read: %d %s", r.status, r.rawBody)
	}
	read := time.Now()
	if err := e.svc.Flush(ctx, anchorer); err != nil {
		t.Fatal(err)
	}
	events := func() []map[string]any {
		r := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", e.patientToken(), nil)
		if r.status != 200 {
			t.Fatalf("AuditEvent search: %d %s", r.status, r.rawBody)
		}
		var b struct {
			Entry []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(r.rawBody, &b); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, en := range b.Entry {
			out = append(out, en.Resource)
		}
		return out
	}
	allowed := 0
	for _, ev := range events() {
		if ev["outcome"] == "0" && strings.Contains(ev["outcomeDesc"].(string), "author") {
			allowed++
		}
	}
	if allowed == 0 || time.Since(read) > 5*time.Second {
		t.Fatalf("the authorized read is not in the log %v after it", time.Since(read))
	}

	// Stopping the anchors closes every refusal window and anchors it.
	stopped, stop := context.WithCancel(ctx)
	stop()
	e.svc.RunAnchors(stopped, anchorer, time.Hour)
	var refusals []map[string]any
	for _, ev := range events() {
		if ev["outcome"] == "4" && strings.Contains(ev["outcomeDesc"].(string), "bearer token") {
			refusals = append(refusals, ev)
		}
	}
	if len(refusals) != 1 || !strings.Contains(refusals[0]["outcomeDesc"].(string), "(1200 times)") {
		t.Fatalf("refusal events: %v, want one for %d refusals", refusals, flood)
	}
}

// TestNodesAreNotPractitioners: a node principal is a machine, not a
// directory entry.
func TestNodesAreNotPractitioners(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.nodePrincipal(ctx)
	tok := e.token("hosp-a/dr-a")
	e.do("GET", "/fhir/Practitioner/hosp-a.node0", tok, nil).outcome(t, 404, "not found")
	for _, path := range []string{"/fhir/Practitioner", "/fhir/PractitionerRole?organization=hosp-a"} {
		r := e.do("GET", path, tok, nil)
		if r.status != 200 || strings.Contains(string(r.rawBody), "node0") || !strings.Contains(string(r.rawBody), "hosp-a.dr-a") {
			t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
		}
	}
}
