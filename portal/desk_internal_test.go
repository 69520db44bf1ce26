package portal

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// TestDeskFindMatches: the desk keeps a candidate Patient only if it has
// the identifier (value or system|value), or names starting with every
// word and the birth date.
func TestDeskFindMatches(t *testing.T) {
	var m fhirMap
	json.Unmarshal([]byte(`{"resourceType":"Patient","identifier":[{"system":"urn:st-mary:mrn","value":"SM-1"},{"value":"bare"}],
	  "name":[{"family":"Farouk","given":["Omar","Sami"]}],"birthDate":"1975-07-30"}`), &m)
	d := demographicsOf(m)
	for _, c := range []struct {
		id   string
		want bool
	}{{"SM-1", true}, {"urn:st-mary:mrn|SM-1", true}, {"bare", true}, {"urn:other|SM-1", false}, {"SM", false}, {"|bare", true}, {"|SM-1", false}, {"urn:st-mary:mrn|bare", false}} {
		if got := d.hasIdentifier(c.id); got != c.want {
			t.Errorf("identifier %q: %v, want %v", c.id, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		want bool
	}{{"omar far", true}, {"Sami", true}, {"FAROUK omar", true}, {"omar x", false}, {"arouk", false}} {
		if got := d.namedLike(c.name); got != c.want {
			t.Errorf("name %q: %v, want %v", c.name, got, c.want)
		}
	}
	if d.Name != "Omar Sami Farouk" || d.BirthDate != "1975-07-30" {
		t.Errorf("demographics: %+v", d)
	}
}

// TestRegistrationResources: the registration form makes a valid R4
// Patient with the organization's MRN and, with an insurer, a Coverage;
// a missing field or an insurer not of the consortium is refused.
func TestRegistrationResources(t *testing.T) {
	insurers := []option{{Value: "carewell", Label: "Carewell Health Insurance"}}
	form := url.Values{"given": {"Zora Ann"}, "family": {"Quill"}, "birthdate": {"1990-02-14"}, "gender": {"female"}, "mrn": {"SM-42"},
		"insurer": {"carewell"}, "member": {"CW-1"}}
	pt, cov, err := registrationResources(form, "st-mary", insurers)
	if err != nil || cov == nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{pt("abc"), cov("abc")} {
		if _, err := fhirjson.Parse(b); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	if s := string(pt("abc")); !strings.Contains(s, `"system":"urn:st-mary:mrn","value":"SM-42"`) || !strings.Contains(s, `"given":["Zora","Ann"]`) {
		t.Errorf("Patient: %s", s)
	}
	if s := string(cov("abc")); !strings.Contains(s, `"beneficiary":{"reference":"Patient/abc"}`) || !strings.Contains(s, `"Organization/carewell"`) {
		t.Errorf("Coverage: %s", s)
	}
	for field, value := range map[string]string{"family": "", "birthdate": "14/02/1990", "gender": "x", "mrn": "", "insurer": "acme", "member": ""} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set(field, value)
		if _, _, err := registrationResources(bad, "st-mary", insurers); err == nil {
			t.Errorf("%s=%q was accepted", field, value)
		}
	}
	form.Set("insurer", "")
	if _, cov, err := registrationResources(form, "st-mary", insurers); err != nil || cov != nil {
		t.Errorf("no insurer: coverage %v, %v", cov != nil, err)
	}
}

// TestAppointmentActions: the desk cancels an appointment to come and
// marks a no-show only on a booked one that has begun.
func TestAppointmentActions(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	row := func(status, start string) appointmentRow {
		rec := records.Record{RecordVersion: carechain.RecordVersion{RecordID: "a"},
			Resource: []byte(`{"resourceType":"Appointment","status":"` + status + `","start":"` + start + `",
			  "participant":[{"actor":{"reference":"Practitioner/st-mary.dr-chen"}}],"supportingInformation":[{"reference":"Encounter/e1"}]}`)}
		r, err := appointmentOf(rec, now, func(id string) string { return "label " + id })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, c := range []struct {
		status, start              string
		upcoming, cancel, noShowOK bool
	}{
		{"booked", "2026-12-04T09:00:00Z", true, true, false},
		{"booked", "2026-12-03T11:00:00Z", false, false, true},
		{"cancelled", "2026-12-04T09:00:00Z", false, false, false},
		{"noshow", "2026-12-03T11:00:00Z", false, false, false},
		{"arrived", "2026-12-04T09:00:00Z", true, false, false},
	} {
		r := row(c.status, c.start)
		if r.Upcoming != c.upcoming || r.Cancellable != c.cancel || r.NoShows != c.noShowOK {
			t.Errorf("%s at %s: upcoming %v cancel %v no-show %v", c.status, c.start, r.Upcoming, r.Cancellable, r.NoShows)
		}
	}
	if r := row("booked", "2026-12-04T09:00:00Z"); r.Who != "label st-mary/dr-chen" || r.FollowUpOf != "Encounter/e1" {
		t.Errorf("who %q, follow-up of %q", r.Who, r.FollowUpOf)
	}
}

// TestBillOf: an invoice's lines are named by their ChargeItems and
// amounts and totals read as money.
func TestBillOf(t *testing.T) {
	var m fhirMap
	json.Unmarshal([]byte(`{"resourceType":"Invoice","status":"issued","date":"2026-12-03",
	  "lineItem":[{"chargeItemReference":{"reference":"ChargeItem/c1"},"priceComponent":[{"type":"base","amount":{"value":80,"currency":"EUR"}}]},
	    {"chargeItemCodeableConcept":{"text":"Parking"}}],
	  "totalNet":{"value":80,"currency":"EUR"},"totalGross":{"value":80,"currency":"EUR"}}`), &m)
	b := billOf(m, "inv", map[string]string{"c1": "Outpatient consultation"})
	if len(b.Lines) != 2 || b.Lines[0] != (billLine{"Outpatient consultation", "80.00 EUR"}) || b.Lines[1].Text != "Parking" || b.Gross != "80.00 EUR" {
		t.Errorf("%+v", b)
	}
}
