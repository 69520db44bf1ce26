package fhirrest_test

import (
	"crypto/sha1"
	"encoding/base64"
	"strings"
	"testing"
)

// communication is a message about patient/p from sender to recipient.
func communication(sender, recipient, text, extra string) []byte {
	return []byte(`{"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/p"},
	  "sent":"2026-12-03T03:00:00Z","sender":{"reference":"` + sender + `"},"recipient":[{"reference":"` + recipient + `"}],
	  "payload":[{"contentString":"` + text + `"}` + extra + `]}`)
}

// TestCommunicationReadByItsPartiesOnly: a patient's message to a physician
// is read by both; a physician of another organization, with consent to
// all the patient's records, gets 404 on read and finds it in no search; a
// message naming another patient, or whose attachment does not match its
// hash, is refused with an OperationOutcome.
func TestCommunicationReadByItsPartiesOnly(t *testing.T) {
	e := setup(t)
	ptok := e.patientToken()
	consent := `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p"},
	  "provision":{"actor":[{"reference":{"reference":"Practitioner/hosp-b.dr-b"}}],
	    "action":[{"coding":[{"code":"access"}]}],"purpose":[{"code":"treatment"}],
	    "class":[{"system":"urn:carechain:category","code":"*"}]}}`
	if c := e.do("POST", "/fhir/Consent", ptok, []byte(consent)); c.status != 201 {
		t.Fatalf("consent: %d %s", c.status, c.rawBody)
	}
	data := []byte("attached bytes")
	sum := sha1.Sum(data)
	att := `,{"contentAttachment":{"contentType":"text/plain","data":"` + base64.StdEncoding.EncodeToString(data) +
		`","hash":"` + base64.StdEncoding.EncodeToString(sum[:]) + `","size":14}}`
	r := e.do("POST", "/fhir/Communication", ptok, communication("Patient/p", "Practitioner/hosp-a.dr-a", "msg-marker", att))
	if r.status != 201 {
		t.Fatalf("patient's message: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	dra, drb := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b")
	for _, tok := range []string{ptok, dra} {
		if r := e.do("GET", "/fhir/Communication/"+id, tok, nil); r.status != 200 || !strings.Contains(string(r.rawBody), "msg-marker") {
			t.Fatalf("a party's read: %d %s", r.status, r.rawBody)
		}
	}
	e.do("GET", "/fhir/Communication/"+id, drb, nil).outcome(t, 404, "not found")
	for _, q := range []string{"/fhir/Communication?subject=Patient/p", "/fhir/Patient/p/$everything"} {
		if r := e.do("GET", q, drb, nil); strings.Contains(string(r.rawBody), "msg-marker") {
			t.Fatalf("%s shows the message to a non-party: %s", q, r.rawBody)
		}
	}
	if r := e.do("GET", "/fhir/Communication?subject=Patient/p", dra, nil); !strings.Contains(string(r.rawBody), "msg-marker") {
		t.Fatalf("a party's search: %d %s", r.status, r.rawBody)
	}
	// The physician's reply links a record; a reply about another patient
	// and an attachment with a wrong hash are refused.
	reply := communication("Practitioner/hosp-a.dr-a", "Patient/p", "reply-marker", `,{"contentReference":{"reference":"Communication/`+id+`"}}`)
	reply = []byte(strings.Replace(string(reply), `"status"`, `"inResponseTo":[{"reference":"Communication/`+id+`"}],"status"`, 1))
	if r := e.do("POST", "/fhir/Communication", dra, reply); r.status != 201 {
		t.Fatalf("reply: %d %s", r.status, r.rawBody)
	}
	bad := strings.Replace(att, base64.StdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(make([]byte, 20)), 1)
	e.do("POST", "/fhir/Communication", ptok, communication("Patient/p", "Practitioner/hosp-a.dr-a", "x", bad)).outcome(t, 422, "does not match its hash")
	e.do("POST", "/fhir/Communication", dra, communication("Practitioner/hosp-a.dr-a", "Patient/q", "x", "")).outcome(t, 422, "patient/q is not an active principal")
}
