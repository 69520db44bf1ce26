package fhirrest_test

import (
	"context"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// TestConsentAuditEventAndProvenanceByID: each is readable by the id its
// search gives, by whom the search shows it to, and a 404 to anyone else.
func TestConsentAuditEventAndProvenanceByID(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	drA := e.token("hosp-a/dr-a")
	if r := e.do("PUT", "/fhir/Patient/p", drA, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Kay"}]}`)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	grant := e.readGrant(ctx, p, consent.Grantee{Principal: "hosp-b/dr-b"})
	status, patientTok, _ := e.login("patient/p", "patient pass")
	if status != 200 {
		t.Fatalf("patient login: %d", status)
	}
	drB, drU := e.token("hosp-b/dr-b"), e.registerStaff("hosp-b", "hosp-b/dr-u", carechain.RolePhysician)
	if r := e.do("GET", "/fhir/Patient/p", drB, nil); r.status != 200 {
		t.Fatalf("dr-b reads Patient/p: %d %s", r.status, r.rawBody)
	}
	first := func(path, tok string) string {
		t.Helper()
		r := e.do("GET", path, tok, nil)
		entries, _ := r.body["entry"].([]any)
		if r.status != 200 || len(entries) == 0 {
			t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
		}
		return entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
	}
	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil { // anchor the reads: the access log shows anchored events
		t.Fatal(err)
	}
	audit := first("/fhir/AuditEvent?patient=Patient/p", patientTok)
	prov := first("/fhir/Provenance?target=Patient/p", drA)
	for _, c := range []struct {
		path, who, tok string
		status         int
	}{
		{"/fhir/Consent/" + grant, "the patient", patientTok, 200},
		{"/fhir/Consent/" + grant, "the grantee", drB, 200},
		{"/fhir/Consent/" + grant, "another physician", drU, 404},
		{"/fhir/Consent/nope", "the patient", patientTok, 404},
		{"/fhir/AuditEvent/" + audit, "the patient", patientTok, 200},
		{"/fhir/AuditEvent/" + audit, "a physician", drA, 404},
		{"/fhir/Provenance/" + prov, "the author", drA, 200},
		{"/fhir/Provenance/" + prov, "a physician without consent", drU, 404},
		{"/fhir/Provenance/nope", "the author", drA, 404},
	} {
		r := e.do("GET", c.path, c.tok, nil)
		if r.status != c.status || (c.status == 200 && r.body["id"] == nil) || (c.status != 200 && r.body["resourceType"] != "OperationOutcome") {
			t.Errorf("%s by %s: %d, want %d: %s", c.path, c.who, r.status, c.status, r.rawBody)
		}
	}
}
