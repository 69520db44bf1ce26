package fhirrest_test

import (
	"slices"

	"github.com/carechain/carechain"

	"strings"
	"testing"
)

// TestOrganizationResources: a practitioner creates a Schedule and Slots
// of their organization; another organization's practitioner and the
// patient read and search them, but only the owner's staff may change or
// delete them (422: the ledger's rule); a Slot naming a patient is refused
// (400) before anything is signed; versions, history,
// If-Match and 410 after a deletion behave as for clinical resources.
func TestOrganizationResources(t *testing.T) {
	e := setup(t)
	e.cust.Add("hosp-b/dr-b", e.keys["hosp-b/dr-b"])
	drA, drB, patient := e.token("hosp-a/dr-a"), e.token("hosp-b/dr-b"), e.patientToken()

	r := e.do("POST", "/fhir/Schedule", drA, []byte(`{"resourceType":"Schedule","active":true,"actor":[{"reference":"Practitioner/hosp-a.dr-a"}],"comment":"Cardiology clinic"}`))
	if r.status != 201 || r.body["id"] == nil {
		t.Fatalf("create Schedule: %d %s", r.status, r.rawBody)
	}
	schedule := r.body["id"].(string)
	slot := func(start, status string) []byte {
		return []byte(`{"resourceType":"Slot","schedule":{"reference":"Schedule/` + schedule + `"},"status":"` + status + `","start":"` + start + `","end":"` + strings.Replace(start, ":00:00", ":15:00", 1) + `"}`)
	}
	var slots []string
	for _, start := range []string{"2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z", "2027-01-05T09:00:00Z"} {
		r := e.do("POST", "/fhir/Slot", drA, slot(start, "free"))
		if r.status != 201 || r.header.Get("ETag") != `W/"1"` || !strings.Contains(r.header.Get("Location"), "/fhir/Slot/") {
			t.Fatalf("create Slot: %d %v %s", r.status, r.header, r.rawBody)
		}
		slots = append(slots, r.body["id"].(string))
	}
	found := func(tok, query string) []string {
		t.Helper()
		r := e.do("GET", "/fhir/Slot?"+query, tok, nil)
		if r.status != 200 {
			t.Fatalf("search %s: %d %s", query, r.status, r.rawBody)
		}
		var ids []string
		entries, _ := r.body["entry"].([]any)
		for _, en := range entries {
			ids = append(ids, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }
	for _, c := range []struct {
		tok, query string
		want       []string
	}{
		{drB, "schedule=Schedule/" + schedule + "&status=free", sorted(slots...)},
		{patient, "schedule=" + schedule + "&start=ge2027-01-05", slots[2:]},
		{drB, "start=2027-01-04", sorted(slots[:2]...)},
		{drB, "status=busy", nil},
	} {
		if got := found(c.tok, c.query); !slices.Equal(got, c.want) {
			t.Errorf("Slot?%s: %v, want %v", c.query, got, c.want)
		}
	}

	// Only hosp-a's staff change hosp-a's Slot; a stale If-Match is a 412.
	path := "/fhir/Slot/" + slots[0]
	if r := e.do("PUT", path, drB, slot("2027-01-04T09:00:00Z", "busy")); r.status != 422 || !strings.Contains(string(r.rawBody), `belongs to \"hosp-a\"`) {
		t.Errorf("update by another organization: %d %s", r.status, r.rawBody)
	}
	if r := e.do("PUT", path, drA, slot("2027-01-04T09:00:00Z", "busy"), "If-Match", `W/"1"`); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %s", r.status, r.rawBody)
	}
	if r := e.do("PUT", path, drA, slot("2027-01-04T09:00:00Z", "free"), "If-Match", `W/"1"`); r.status != 412 {
		t.Errorf("update with a stale If-Match: %d %s", r.status, r.rawBody)
	}
	if got := found(drB, "status=busy"); !slices.Equal(got, slots[:1]) {
		t.Errorf("busy slots after the update: %v", got)
	}
	if r := e.do("GET", path+"/_history/1", patient, nil); r.status != 200 || r.body["status"] != "free" {
		t.Errorf("vread of version 1: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", path+"/_history", drB, nil); r.status != 200 || r.body["total"] != 2.0 {
		t.Errorf("history: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", path, drA, nil, "If-None-Match", `W/"1", W/"2"`); r.status != 304 {
		t.Errorf("conditional read: %d", r.status)
	}

	// What names a patient is not an organization resource.
	withPatient := `{"resourceType":"Slot","schedule":{"reference":"Schedule/` + schedule + `"},"status":"busy","start":"2027-01-06T09:00:00Z","end":"2027-01-06T09:15:00Z","comment":"x","extension":[{"url":"http://example.org/booked-for","valueReference":{"reference":"Patient/p"}}]}`
	if r := e.do("POST", "/fhir/Slot", drA, []byte(withPatient)); r.status != 400 || !strings.Contains(string(r.rawBody), "names a patient") {
		t.Errorf("a Slot naming a patient: %d %s", r.status, r.rawBody)
	}
	if r := e.do("POST", "/fhir/Slot", patient, slot("2027-01-07T09:00:00Z", "free")); r.status != 422 || !strings.Contains(string(r.rawBody), "practitioners and admins") {
		t.Errorf("a patient writing a Slot: %d %s", r.status, r.rawBody)
	}
	if r := e.do("PATCH", path, drA, []byte(`[]`), "Content-Type", "application/json-patch+json"); r.status != 405 {
		t.Errorf("PATCH of a Slot: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Slot?_include=Slot:schedule", drA, nil); r.status != 400 {
		t.Errorf("_include on a Slot search: %d %s", r.status, r.rawBody)
	}

	if r := e.do("DELETE", path, drB, nil); r.status != 422 {
		t.Errorf("delete by another organization: %d %s", r.status, r.rawBody)
	}
	if r := e.do("DELETE", path, drA, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", path, drB, nil); r.status != 410 {
		t.Errorf("read after the delete: %d %s", r.status, r.rawBody)
	}
	if got := found(drB, "schedule="+schedule); !slices.Equal(got, sorted(slots[1:]...)) {
		t.Errorf("slots after the delete: %v", got)
	}
	if r := e.do("GET", "/fhir/Slot/nope", drB, nil); r.status != 404 {
		t.Errorf("unknown Slot: %d", r.status)
	}
}

// TestAppointmentBooksSlot: an Appointment naming a free Slot books it
// (the Slot is then busy); a second Appointment of the same Slot is a 409;
// cancelling the first frees the Slot for the second. The desk (a
// registration clerk: the default role policy lets clerks, not physicians,
// write administrative records) books; the Slot is the clinic's.
func TestAppointmentBooksSlot(t *testing.T) {
	e := setup(t)
	tok := e.registerStaff("hosp-a", "hosp-a/desk", carechain.RoleRegistrationClerk)
	r := e.do("POST", "/fhir/Slot", tok, []byte(`{"resourceType":"Slot","schedule":{"reference":"Schedule/s"},"status":"free","start":"2027-03-01T09:00:00Z","end":"2027-03-01T09:15:00Z"}`))
	if r.status != 201 {
		t.Fatalf("create Slot: %d %s", r.status, r.rawBody)
	}
	slot := r.body["id"].(string)
	appt := func(status string) []byte {
		return []byte(`{"resourceType":"Appointment","status":"` + status + `","slot":[{"reference":"Slot/` + slot + `"}],"start":"2027-03-01T09:00:00Z","end":"2027-03-01T09:15:00Z","participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"}]}`)
	}
	slotStatus := func() string {
		t.Helper()
		r := e.do("GET", "/fhir/Slot/"+slot, tok, nil)
		s, _ := r.body["status"].(string)
		return s
	}
	first := e.do("POST", "/fhir/Appointment", tok, appt("booked"))
	if first.status != 201 || slotStatus() != "busy" {
		t.Fatalf("first booking: %d, slot %s: %s", first.status, slotStatus(), first.rawBody)
	}
	if r := e.do("POST", "/fhir/Appointment", tok, appt("booked")); r.status != 409 || !strings.Contains(string(r.rawBody), "already booked") {
		t.Errorf("double booking: %d %s", r.status, r.rawBody)
	}
	id := first.body["id"].(string)
	if r := e.do("PUT", "/fhir/Appointment/"+id, tok, []byte(strings.Replace(string(appt("cancelled")), `{"resourceType":"Appointment",`, `{"resourceType":"Appointment","id":"`+id+`",`, 1))); r.status != 200 || slotStatus() != "free" {
		t.Fatalf("cancel: %d, slot %s: %s", r.status, slotStatus(), r.rawBody)
	}
	if r := e.do("POST", "/fhir/Appointment", tok, appt("booked")); r.status != 201 || slotStatus() != "busy" {
		t.Errorf("booking the freed slot: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Slot/"+slot+"/_history", tok, nil); r.body["total"] != 4.0 {
		t.Errorf("the Slot's history: %s", r.rawBody)
	}
}
