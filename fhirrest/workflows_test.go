package fhirrest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Workflows over FHIR (issue 13): replacing a Consent, break-glass reads,
// a patient's emergency rule and delegates, proposals from updates.

// labConsent is a Consent of patient/p letting grantee read categories.
func labConsent(id, grantee string, categories ...string) []byte {
	var classes []string
	for _, c := range categories {
		classes = append(classes, `{"system":"urn:carechain:category","code":"`+c+`"}`)
	}
	idField := ""
	if id != "" {
		idField = `"id":"` + id + `",`
	}
	return []byte(`{"resourceType":"Consent",` + idField + `"status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"` + grantee + `"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],
	    "class":[` + strings.Join(classes, ",") + `]}}`)
}

// consentState is patient/p's grants and lab epoch as the ledger holds
// them, for checking that a refused request changed nothing.
func (e *env) consentState() string {
	e.t.Helper()
	v := e.n.App().Latest()
	grants, err := v.Grants("patient/p")
	if err != nil {
		e.t.Fatal(err)
	}
	ep, err := v.Epoch("patient/p", "lab")
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Grants ledger.Grants
		Epoch  ledger.EpochState
	}{grants, ep})
	return string(b)
}

// TestConsentUpdateReplacesTheGrantInOneTransaction: PUT /fhir/Consent/{id}
// revokes the grant and makes its replacement in one transaction; a
// replacement that covers less rotates the keys the grantee held, so it
// cannot read what is written afterwards; refused PUTs change nothing.
func TestConsentUpdateReplacesTheGrantInOneTransaction(t *testing.T) {
	e := setup(t)
	tok, other, ptok := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b"), e.patientToken()
	id := e.createGlucose(tok, 88)
	created := e.do("POST", "/fhir/Consent", ptok, labConsent("", "Practitioner/hosp-b.dr-b", "lab"))
	if created.status != 201 {
		t.Fatalf("grant: %d %s", created.status, created.rawBody)
	}
	old := created.body["id"].(string)
	if r := e.do("GET", "/fhir/Observation/"+id, other, nil); r.status != 200 {
		t.Fatalf("read under the grant: %d %s", r.status, r.rawBody)
	}

	// Refused: each answers an OperationOutcome and changes nothing.
	before := e.consentState()
	for _, c := range []struct {
		name, path, token string
		body              []byte
		status            int
		mention           string
	}{
		{"unknown id", "/fhir/Consent/g-000000000000", ptok, labConsent("", "Practitioner/hosp-b.dr-b", "lab"), 404, "has no grant"},
		{"id differs from the URL's", "/fhir/Consent/" + old, ptok, labConsent("g-other", "Practitioner/hosp-b.dr-b", "lab"), 400, "Consent.id"},
		{"no actor", "/fhir/Consent/" + old, ptok, []byte(`{"resourceType":"Consent","patient":{"reference":"Patient/p"}}`), 400, "Consent.provision.actor"},
		{"another patient's consent", "/fhir/Consent/" + old, ptok, []byte(strings.Replace(string(labConsent("", "Practitioner/hosp-b.dr-b", "lab")), "Patient/p", "Patient/q", 1)), 404, "has no grant"},
		{"not the patient", "/fhir/Consent/" + old, tok, labConsent("", "Practitioner/hosp-b.dr-b", "lab"), 422, "or a delegate they named"},
	} {
		e.do("PUT", c.path, c.token, c.body).outcome(t, c.status, c.mention)
		if after := e.consentState(); after != before {
			t.Fatalf("%s: refused, but the consent state changed:\n%s\n%s", c.name, before, after)
		}
	}

	v := e.n.App().Latest()
	nonce, _ := v.NextNonce("patient/p")
	epoch, _ := v.Epoch("patient/p", "lab")
	// The replacement covers less: vital signs, not lab results.
	r := e.do("PUT", "/fhir/Consent/"+old, ptok, labConsent(old, "Practitioner/hosp-b.dr-b", "vital-signs"))
	if r.status != 201 || r.body["status"] != "active" {
		t.Fatalf("replace: %d %s", r.status, r.rawBody)
	}
	repl := r.body["id"].(string)
	if repl == old || !strings.HasSuffix(r.header.Get("Location"), "/fhir/Consent/"+repl) {
		t.Fatalf("replacement id %q, Location %q", repl, r.header.Get("Location"))
	}
	v = e.n.App().Latest()
	if n, _ := v.NextNonce("patient/p"); n != nonce+1 {
		t.Fatalf("the patient signed %d transactions for one replacement", n-nonce)
	}
	grants, _ := v.Grants("patient/p")
	if g := grants.Find(old); g == nil || !g.Revoked {
		t.Fatalf("old grant after the replacement: %+v", g)
	}
	_, revoked, _, err := v.LogEntry(tlog.KindConsent, old+"/revoked")
	if err != nil || grants.Find(repl) == nil || revoked.Height != grants.Find(repl).Height {
		t.Fatalf("revocation (%+v, %v) and replacement %+v are not of one height", revoked, err, grants.Find(repl))
	}
	if ep, _ := v.Epoch("patient/p", "lab"); ep.Epoch != epoch.Epoch+1 || slices.Contains(ep.Readers, "hosp-b") {
		t.Fatalf("lab keys after hosp-b lost lab: epoch %+v, was %+v", ep, epoch)
	}
	e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(91, id))
	e.do("GET", "/fhir/Observation/"+id, other, nil).outcome(t, 404, "not found")
	e.do("GET", "/fhir/Observation/"+id+"/_history/2", other, nil).outcome(t, 404, "not found")
	// The replaced grant is gone for good: it cannot be replaced again.
	e.do("PUT", "/fhir/Consent/"+old, ptok, labConsent(old, "Practitioner/hosp-b.dr-b", "lab")).outcome(t, 422, "already revoked")
}

// TestConsentUpdateKeepingCoverageRotatesNothing: a replacement that covers
// what the old grant covered needs no new keys, and the grantee reads on.
func TestConsentUpdateKeepingCoverageRotatesNothing(t *testing.T) {
	e := setup(t)
	tok, other, ptok := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b"), e.patientToken()
	id := e.createGlucose(tok, 88)
	old := e.do("POST", "/fhir/Consent", ptok, labConsent("", "Practitioner/hosp-b.dr-b", "lab")).body["id"].(string)
	epoch, _ := e.n.App().Latest().Epoch("patient/p", "lab")
	if r := e.do("PUT", "/fhir/Consent/"+old, ptok, labConsent(old, "Practitioner/hosp-b.dr-b", "lab", "vital-signs")); r.status != 201 {
		t.Fatalf("replace: %d %s", r.status, r.rawBody)
	}
	if ep, _ := e.n.App().Latest().Epoch("patient/p", "lab"); ep.Epoch != epoch.Epoch {
		t.Fatalf("lab rotated from %+v to %+v though hosp-b still reads it", epoch, ep)
	}
	e.do("PUT", "/fhir/Observation/"+id, tok, glucoseWithID(91, id))
	if r := e.do("GET", "/fhir/Observation/"+id, other, nil); r.status != 200 || r.body["meta"].(map[string]any)["versionId"] != "2" {
		t.Fatalf("read under the replacement: %d %s", r.status, r.rawBody)
	}
}

// auditEvents is patient/p's access log as FHIR AuditEvents, after the
// node anchored what it holds.
func (e *env) auditEvents(ctx context.Context, anchorer records.Signer) []map[string]any {
	e.t.Helper()
	if err := e.svc.Flush(ctx, anchorer); err != nil {
		e.t.Fatal(err)
	}
	r := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", e.patientToken(), nil)
	var b struct {
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.rawBody, &b); r.status != 200 || err != nil {
		e.t.Fatalf("AuditEvent search: %d %s", r.status, r.rawBody)
	}
	var out []map[string]any
	for _, en := range b.Entry {
		out = append(out, en.Resource)
	}
	return out
}

// breakGlass is whether ev is a break-glass event with outcome.
func breakGlass(ev map[string]any, outcome string) bool {
	return ev["outcome"] == outcome && strings.Contains(fmt.Sprint(ev["subtype"]), "break-glass")
}

// TestBreakGlassHeader: X-Break-Glass-Reason on a read invokes emergency
// access under the patient's rule, then serves the read for purpose
// emergency; without a rule it is 403 and nothing is readable. Both
// attempts are in the patient's access log.
func TestBreakGlassHeader(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	anchorer := e.nodePrincipal(ctx)
	e.cust.Add("hosp-b/dr-b", e.keys["hosp-b/dr-b"])
	tok, other := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b")
	id := e.createGlucose(tok, 40)
	const glass = "X-Break-Glass-Reason"

	e.do("GET", "/fhir/Observation/"+id, other, nil, glass, "unconscious in A&E").outcome(t, 403, "no emergency rule")
	e.do("GET", "/fhir/Observation?patient=Patient/p", other, nil, glass, "unconscious in A&E").outcome(t, 403, "no emergency rule")
	e.do("GET", "/fhir/Observation/"+id, other, nil).outcome(t, 404, "not found")
	if grants, _ := e.n.App().Latest().Grants("patient/p"); len(grants) != 0 {
		t.Fatalf("refused break-glass made grants: %+v", grants)
	}
	e.do("POST", "/fhir/Observation", other, []byte(fmt.Sprintf(glucose, 41)), glass, "x").outcome(t, 400, "reads and searches only")
	e.do("GET", "/fhir/Observation/"+id, other, nil, glass, strings.Repeat("x", 1025)).outcome(t, 400, "over 1024 bytes")

	patient := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	if err := e.svc.SetEmergencyRule(ctx, patient, emergencyRule()); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/fhir/Observation/"+id, other, nil, glass, "unconscious in A&E")
	if r.status != 200 || r.body["id"] != id {
		t.Fatalf("break-glass read: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", other, nil, glass, "still unconscious"); r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("break-glass search: %d %s", r.status, r.rawBody)
	}
	granted, refused := 0, 0
	for _, ev := range e.auditEvents(ctx, anchorer) {
		switch {
		case breakGlass(ev, "0") && strings.Contains(ev["outcomeDesc"].(string), "emergency access granted"):
			granted++
		case breakGlass(ev, "4"):
			refused++
		}
	}
	if granted != 1 || refused == 0 {
		t.Fatalf("access log: %d emergency accesses granted (want 1: the search reuses it), %d refused", granted, refused)
	}
}

// emergencyRule lets physicians break the glass for an hour.
func emergencyRule() consent.EmergencyRule {
	return consent.EmergencyRule{Roles: []carechain.Role{carechain.RolePhysician}, DurationSeconds: 3600}
}

// registerPatient registers a patient of hosp-a with a signing and an
// encryption key, and returns the encryption key.
func (e *env) registerPatient(ctx context.Context, id string) *seal.PrivateKey {
	e.t.Helper()
	ek, _ := seal.GenerateKey()
	k := newKey()
	e.keys[id] = k
	reg := tx.Register{ID: id, Kind: carechain.KindPatient, PublicKey: k.Public().(ed25519.PublicKey), EncryptionKey: ek.Public().Bytes()}
	nonce, _ := e.n.App().Latest().NextNonce("hosp-a/admin")
	raw, _ := tx.Sign(e.keys["hosp-a/admin"], chainID, "hosp-a/admin", nonce, tx.TypeRegister, &reg)
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("register %s: %+v %v", id, out, err)
	}
	return ek
}

// TestPatientSetsEmergencyRuleAndDelegates: a logged-in patient sets and
// clears their emergency rule and names and removes a delegate through FHIR
// operations on their Patient; anyone else is refused, and bad parameters
// change nothing.
func TestPatientSetsEmergencyRuleAndDelegates(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.registerPatient(ctx, "patient/q")
	tok, ptok := e.token("hosp-a/dr-a"), e.patientToken()
	e.createGlucose(tok, 70)
	const rule = `{"resourceType":"Parameters","parameter":[{"name":"role","valueCode":"physician"},
	  {"name":"duration","valueDuration":{"value":1,"unit":"hour","system":"http://unitsofmeasure.org","code":"h"}},
	  {"name":"requireReason","valueBoolean":true}]}`
	const clear = `{"resourceType":"Parameters","parameter":[{"name":"clear","valueBoolean":true}]}`
	delegate := func(who string) []byte {
		return []byte(`{"resourceType":"Parameters","parameter":[{"name":"delegate","valueReference":{"reference":"` + who + `"}}]}`)
	}
	lab := func() ledger.EpochState {
		ep, _ := e.n.App().Latest().Epoch("patient/p", "lab")
		return ep
	}

	before := e.consentState()
	e.do("POST", "/fhir/Patient/p/$emergency-rule", tok, []byte(rule)).outcome(t, 403, "only the patient")
	e.do("POST", "/fhir/Patient/q/$emergency-rule", ptok, []byte(rule)).outcome(t, 403, "only the patient")
	e.do("POST", "/fhir/Patient/p/$delegate", tok, delegate("Patient/q")).outcome(t, 403, "only the patient")
	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(strings.Replace(rule, `"physician"`, `"wizard"`, 1))).outcome(t, 400, "wizard")
	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(strings.Replace(rule, `"code":"h"`, `"code":"wk"`, 1))).outcome(t, 400, "want s, min, h or d")
	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(strings.Replace(rule, `"role"`, `"clear","valueBoolean":true},{"name":"role"`, 1))).outcome(t, 400, "comes alone")
	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(clear)).outcome(t, 422, "no emergency rule")
	e.do("POST", "/fhir/Patient/p/$delegate", ptok, delegate("Practitioner/hosp-b.dr-b")).outcome(t, 400, "is not Patient/")
	e.do("POST", "/fhir/Patient/p/$remove-delegate", ptok, delegate("Patient/q")).outcome(t, 422, "not a delegate")
	if after := e.consentState(); after != before {
		t.Fatalf("refused operations changed the consent state:\n%s\n%s", before, after)
	}

	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(rule)).outcome(t, 200, "emergency rule set")
	if escrow, _ := e.n.App().Latest().EscrowOrgs("patient/p", "lab"); !slices.Equal(escrow, []string{"hosp-a", "hosp-b"}) || !slices.Contains(lab().Readers, "hosp-b") {
		t.Fatalf("after the rule: escrow %v, lab %+v", escrow, lab())
	}
	set := lab()
	e.do("POST", "/fhir/Patient/p/$emergency-rule", ptok, []byte(clear)).outcome(t, 200, "emergency rule cleared")
	if escrow, _ := e.n.App().Latest().EscrowOrgs("patient/p", "lab"); len(escrow) != 0 || lab().Epoch != set.Epoch+1 || slices.Contains(lab().Readers, "hosp-b") {
		t.Fatalf("after clearing: escrow %v, lab %+v (was %+v)", escrow, lab(), set)
	}
	drB := records.Signer{ID: "hosp-b/dr-b", Key: e.keys["hosp-b/dr-b"]}
	if err := e.svc.InvokeEmergency(ctx, drB, "patient/p", "collapsed"); err == nil || !strings.Contains(err.Error(), "no emergency rule") {
		t.Fatalf("break-glass after the rule was cleared: %v", err)
	}

	e.do("POST", "/fhir/Patient/p/$delegate", ptok, delegate("Patient/q")).outcome(t, 200, "delegate patient/q named")
	if !slices.Contains(lab().Readers, "patient/q") {
		t.Fatalf("the delegate holds no lab key: %+v", lab())
	}
	named := lab()
	e.do("POST", "/fhir/Patient/p/$remove-delegate", ptok, delegate("Patient/q")).outcome(t, 200, "delegate patient/q removed")
	if lab().Epoch != named.Epoch+1 || slices.Contains(lab().Readers, "patient/q") {
		t.Fatalf("after removing the delegate: lab %+v (was %+v)", lab(), named)
	}
}
