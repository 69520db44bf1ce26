package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// A patient's own pages of the hospital's workflow: their appointments
// (upcoming and past: when, with whom, where) and their bills (Invoices
// with their lines and totals, and each one's raw FHIR). Both read the
// patient's own records as a FHIR search by the patient does
// (records.Service.ReadPatient: decrypted with the patient's key, each read
// in their access log). A patient cannot cancel an appointment here: the
// ledger lets patients write only their own reported data (category
// patient-reported), and an Appointment is an administrative record of the
// desk; the page says so.

// appointmentRow is an Appointment for people.
type appointmentRow struct {
	RecordID             string
	Version              uint64
	Status               string
	Start, End           time.Time
	Who, Where           string
	FollowUpOf, BasedOn  string
	Upcoming             bool
	Cancellable, NoShows bool // what the desk may do with it now
}

// appointmentOf reads an Appointment record as of now; labels names
// practitioners (principalLabel).
func appointmentOf(rec records.Record, now time.Time, label func(string) string) (appointmentRow, error) {
	var m fhirMap
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return appointmentRow{}, fmt.Errorf("appointment %s: %w", rec.RecordID, err)
	}
	row := appointmentRow{RecordID: rec.RecordID, Version: rec.Version, Status: m.str("status")}
	row.Start, _ = parseDate(m.str("start"))
	row.End, _ = parseDate(m.str("end"))
	var who, where []string
	for _, pt := range list(m["participant"]) {
		actor := pt.obj("actor")
		ref := actor.str("reference")
		switch {
		case strings.HasPrefix(ref, "Practitioner/"):
			who = append(who, cmpOr(actor.str("display"), label(strings.Replace(strings.TrimPrefix(ref, "Practitioner/"), ".", "/", 1))))
		case strings.HasPrefix(ref, "HealthcareService/"), strings.HasPrefix(ref, "Location/"):
			where = append(where, cmpOr(actor.str("display"), ref))
		}
	}
	row.Who, row.Where = strings.Join(who, ", "), strings.Join(where, ", ")
	row.FollowUpOf = strings.Join(refs(m["supportingInformation"]), ", ")
	row.BasedOn = strings.Join(refs(m["basedOn"]), ", ")
	open := slices.Contains([]string{"proposed", "pending", "booked", "arrived", "checked-in", "waitlist"}, row.Status)
	row.Upcoming = open && (row.Start.IsZero() || row.Start.After(now))
	row.Cancellable = row.Upcoming && row.Status != "arrived" && row.Status != "checked-in"
	row.NoShows = row.Status == "booked" && !row.Start.IsZero() && row.Start.Before(now)
	return row, nil
}

// refs are the references of a list of References.
func refs(v any) []string {
	var out []string
	for _, r := range list(v) {
		if s := r.str("reference"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// sortAppointments orders upcoming appointments soonest first, then past
// ones latest first.
func sortAppointments(rows []appointmentRow) {
	slices.SortStableFunc(rows, func(a, b appointmentRow) int {
		switch {
		case a.Upcoming != b.Upcoming:
			if a.Upcoming {
				return -1
			}
			return 1
		case a.Upcoming:
			return a.Start.Compare(b.Start)
		}
		return b.Start.Compare(a.Start)
	})
}

// appointmentsPage is a patient's appointments.
type appointmentsPage struct {
	Upcoming, Past []appointmentRow
}

// myAppointments lists the signed-in patient's appointments.
func (p *Portal) myAppointments(w http.ResponseWriter, r *http.Request, s *session) {
	recs, err := p.records.ReadPatient(r.Context(), records.Query{Requester: s.who.ID, Patient: s.who.ID, Purpose: purpose,
		Keep: func(h *carechain.RecordHead) bool { return h.ResourceType == "Appointment" && !h.Deleted }})
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	v, now := p.app.Latest(), p.now()
	var page appointmentsPage
	for _, rec := range recs {
		row, err := appointmentOf(rec, now, func(id string) string { return principalLabel(v, id) })
		clear(rec.Resource)
		if err != nil {
			continue
		}
		if row.Upcoming {
			page.Upcoming = append(page.Upcoming, row)
		} else {
			page.Past = append(page.Past, row)
		}
	}
	sortAppointments(page.Upcoming)
	sortAppointments(page.Past)
	p.render(w, s, http.StatusOK, "appointments", "My appointments", page)
}

// bill is an Invoice for people.
type bill struct {
	RecordID, Status, Issuer, Date string
	Lines                          []billLine
	Net, Gross                     string
}

type billLine struct{ Text, Amount string }

// money is a Money element for people: "80.00 EUR".
func money(m fhirMap) string {
	if m == nil {
		return ""
	}
	n, ok := m["value"].(float64)
	if !ok {
		return ""
	}
	return strings.TrimSpace(fmt.Sprintf("%.2f %s", n, m.str("currency")))
}

// billOf reads an Invoice, naming each line by its ChargeItem's code
// (items, by id) where the patient has it.
func billOf(m fhirMap, id string, items map[string]string) bill {
	b := bill{RecordID: id, Status: m.str("status"), Issuer: m.obj("issuer").str("display"), Date: m.str("date"),
		Net: money(m.obj("totalNet")), Gross: money(m.obj("totalGross"))}
	for i, li := range list(m["lineItem"]) {
		ref := li.obj("chargeItemReference").str("reference")
		text := cmpOr(items[strings.TrimPrefix(ref, "ChargeItem/")], li.concept("chargeItemCodeableConcept"), fmt.Sprintf("Line %d", i+1))
		b.Lines = append(b.Lines, billLine{Text: text, Amount: money(li.obj("priceComponent").obj("amount"))})
	}
	return b
}

// myBills lists the signed-in patient's invoices.
func (p *Portal) myBills(w http.ResponseWriter, r *http.Request, s *session) {
	recs, err := p.records.ReadPatient(r.Context(), records.Query{Requester: s.who.ID, Patient: s.who.ID, Purpose: purpose,
		Keep: func(h *carechain.RecordHead) bool {
			return (h.ResourceType == "Invoice" || h.ResourceType == "ChargeItem") && !h.Deleted
		}})
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	docs := make([]fhirMap, len(recs))
	items := map[string]string{}
	for i, rec := range recs {
		err := json.Unmarshal(rec.Resource, &docs[i])
		clear(rec.Resource)
		if err == nil && rec.ResourceType == "ChargeItem" {
			items[rec.RecordID] = docs[i].concept("code")
		}
	}
	var bills []bill
	for i, rec := range recs {
		if rec.ResourceType == "Invoice" && docs[i] != nil {
			bills = append(bills, billOf(docs[i], rec.RecordID, items))
		}
	}
	slices.SortStableFunc(bills, func(a, b bill) int { return strings.Compare(b.Date, a.Date) })
	p.render(w, s, http.StatusOK, "bills", "My bills", bills)
}
