package fhirrest_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

const diagnosis = `{"resourceType":"Condition","subject":{"reference":"Patient/p"},
 "code":{"coding":[{"system":"http://snomed.info/sct","code":"35489007","display":"Depressive disorder"}]}}`

// registerStaff registers a practitioner of org with roles, its key held by
// the node (custodial), and returns a bearer token for it.
func (e *env) registerStaff(org, id string, roles ...carechain.Role) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := newKey()
	e.keys[id] = k
	nonce, _ := e.n.App().Latest().NextNonce(org + "/admin")
	raw, _ := tx.Sign(e.keys[org+"/admin"], chainID, org+"/admin", nonce, tx.TypeRegister,
		&tx.Register{ID: id, Kind: carechain.KindPractitioner, Roles: roles, PublicKey: k.Public().(ed25519.PublicKey)})
	if out, err := e.n.Submit(ctx, raw); err != nil || !out.Accepted() {
		e.t.Fatalf("register %s: %+v %v", id, out, err)
	}
	e.cust.Add(id, k)
	return e.token(id)
}

// TestClerkSeesOnlyWhatTheRolePolicyAllows: the hospital wrote a
// mental-health diagnosis; its registration clerk may neither read it "for
// billing" nor edit it, and each refusal is in the patient's access log. The
// clerk still does the desk's work (the Patient resource), and a physician
// of another hospital whom the patient named reads the diagnosis.
func TestClerkSeesOnlyWhatTheRolePolicyAllows(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drA := e.token("hosp-a/dr-a")
	clerk := e.registerStaff("hosp-a", "hosp-a/clerk", carechain.RoleRegistrationClerk)

	r := e.do("POST", "/fhir/Condition", drA, []byte(diagnosis), "X-Carechain-Category", "mental-health")
	if r.status != 201 {
		t.Fatalf("physician writes the diagnosis: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)

	read := e.do("GET", "/fhir/Condition/"+id, clerk, nil, "X-Purpose-Of-Use", "billing")
	if read.status == 200 || strings.Contains(string(read.rawBody), "35489007") {
		t.Fatalf("clerk read the diagnosis for billing: %d %s", read.status, read.rawBody)
	}
	edit := strings.Replace(diagnosis, `"resourceType":"Condition",`, `"resourceType":"Condition","id":"`+id+`",`, 1)
	edit = strings.Replace(edit, "Depressive disorder", "Resolved", 1)
	if w := e.do("PUT", "/fhir/Condition/"+id, clerk, []byte(edit)); w.status == 200 || w.status == 201 {
		t.Fatalf("clerk edited the diagnosis: %d %s", w.status, w.rawBody)
	}
	if head, err := e.n.App().Latest().Record(id); err != nil || head.Latest != 1 {
		t.Fatalf("diagnosis after the clerk's edit: %+v, %v; want version 1 only", head, err)
	}
	if w := e.do("PUT", "/fhir/Patient/p", clerk, []byte(`{"resourceType":"Patient","id":"p","name":[{"family":"Doe"}]}`)); w.status != 201 && w.status != 200 {
		t.Fatalf("clerk writes the Patient resource (demographics): %d %s", w.status, w.rawBody)
	}

	patient := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	if _, err := e.svc.Grant(ctx, patient, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"mental-health"}, Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60,
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/fhir/Condition/"+id, e.token("hosp-b/dr-b"), nil); r.status != 200 || !strings.Contains(string(r.rawBody), "35489007") {
		t.Fatalf("granted physician reads the diagnosis: %d %s", r.status, r.rawBody)
	}

	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil {
		t.Fatal(err)
	}
	log := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", e.patientToken(), nil)
	want := "lets no role of hosp-a/clerk (registration-clerk) read mental-health records for billing"
	if log.status != 200 || !strings.Contains(string(log.rawBody), want) {
		t.Fatalf("the clerk's refused read is not in the patient's access log (%q): %d %s", want, log.status, log.rawBody)
	}
}

// TestAppointmentIsStoredForItsPatient: an Appointment names its patient
// among its participants (it has no subject); the registration desk books it
// (category administrative) and reads it back. Two patients in one
// Appointment are refused: a record is sealed to one patient.
func TestAppointmentIsStoredForItsPatient(t *testing.T) {
	e := setup(t)
	clerk := e.registerStaff("hosp-a", "hosp-a/clerk", carechain.RoleRegistrationClerk)
	appt := `{"resourceType":"Appointment","status":"booked","start":"2026-12-03T09:00:00Z","end":"2026-12-03T09:30:00Z",
 "participant":[{"actor":{"reference":"Practitioner/hosp-a.dr-a"},"status":"accepted"},{"actor":{"reference":"Patient/p"},"status":"accepted"}]}`
	r := e.do("POST", "/fhir/Appointment", clerk, []byte(appt))
	if r.status != 201 {
		t.Fatalf("book an appointment: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	if head, err := e.n.App().Latest().Record(id); err != nil || head.Patient != "patient/p" || head.Category != "administrative" {
		t.Fatalf("appointment record: %+v %v", head, err)
	}
	if r := e.do("GET", "/fhir/Appointment/"+id, clerk, nil); r.status != 200 || !strings.Contains(string(r.rawBody), "booked") {
		t.Fatalf("read the appointment back: %d %s", r.status, r.rawBody)
	}
	two := strings.Replace(appt, `"Practitioner/hosp-a.dr-a"`, `"Patient/q"`, 1)
	e.do("POST", "/fhir/Appointment", clerk, []byte(two)).outcome(t, 422, "one patient")
}
