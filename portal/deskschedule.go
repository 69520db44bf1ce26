package portal

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// The desk's planning: a patient's desk view (demographics, coverage,
// appointments, with cancel and no-show, and the follow-up form), the
// organization's schedules and slots of a day, and booking. A booking is an
// Appointment naming the Slot, written as a FHIR create of it is
// (records.Service.Put), so the ledger books the Slot in the same
// transaction and refuses a Slot another appointment holds; cancelling
// (status cancelled) frees it; a no-show (status noshow) keeps it, as the
// ledger does for every status but cancelled and entered-in-error. A
// follow-up names the Encounter or CarePlan it follows in
// supportingInformation (and a ServiceRequest in basedOn).

// appointmentCategory is the record category of an Appointment, as the
// FHIR API files it (an Appointment has no category codes).
const appointmentCategory = "administrative"

// deskPatientPage is a patient's desk view.
type deskPatientPage struct {
	ID, Short    string
	Found        bool // the clerk may read the Patient record
	Patient      demographics
	Coverages    []coverageRow
	Appointments []appointmentRow
	Done         string
}

type coverageRow struct{ Payor, Member, Status string }

// deskDone are the desk view's messages after an action (?done=...).
var deskDone = map[string]string{
	"booked": "Appointment booked: the slot is now busy.", "followup": "Follow-up appointment booked.",
	"cancelled": "Appointment cancelled: its slot is free again.", "noshow": "Marked as a no-show.",
}

// deskPatient is a patient's desk view: what of their demographics,
// coverage and appointments the clerk may read (each read logged).
func (p *Portal) deskPatient(w http.ResponseWriter, r *http.Request, s *session) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return
	}
	recs, err := p.records.ReadPatient(r.Context(), records.Query{Requester: s.who.ID, Patient: patient, Purpose: purpose,
		Keep: func(h *carechain.RecordHead) bool {
			return !h.Deleted && (h.ResourceType == "Patient" || h.ResourceType == "Coverage" || h.ResourceType == "Appointment")
		}})
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	v, now := p.app.Latest(), p.now()
	page := deskPatientPage{ID: patient, Short: r.PathValue("id"), Done: deskDone[r.URL.Query().Get("done")]}
	for _, rec := range recs {
		var m fhirMap
		if json.Unmarshal(rec.Resource, &m) != nil {
			clear(rec.Resource)
			continue
		}
		switch rec.ResourceType {
		case "Patient":
			page.Found, page.Patient = true, demographicsOf(m)
		case "Coverage":
			page.Coverages = append(page.Coverages, coverageRow{Payor: cmpOr(m.obj("payor").str("display"), m.obj("payor").str("reference")),
				Member: m.str("subscriberId"), Status: m.str("status")})
		case "Appointment":
			if row, err := appointmentOf(rec, now, func(id string) string { return principalLabel(v, id) }); err == nil {
				page.Appointments = append(page.Appointments, row)
			}
		}
		clear(rec.Resource)
	}
	sortAppointments(page.Appointments)
	p.render(w, s, http.StatusOK, "deskpatient", "Desk: "+patient, page)
}

// deskSchedulePage is a day of the organization's schedules.
type deskSchedulePage struct {
	Day                 time.Time
	Days                []dayLink
	Prev, Next          string // links to the day before and after
	Patient, Short      string // the patient a booking is for ("": none chosen)
	FollowUpOf, BasedOn string
	Schedules           []scheduleRow
	Slots               []slotRow
}

type dayLink struct {
	Label, Href string
	Current     bool
}

type scheduleRow struct{ ID, Who, Comment string }

type slotRow struct {
	ID, Who, Service, Status string
	Start, End               time.Time
	Bookable                 bool
}

// orgSlot is a live Slot of the organization with its schedule.
type orgSlot struct {
	id       string
	doc      fhirMap
	start    time.Time
	schedule *scheduleRow
}

// orgPlanning is org's live schedules (by id) and slots.
func orgPlanning(v *ledger.View, org string) (map[string]*scheduleRow, []orgSlot, error) {
	live := func(typ string, each func(id string, m fhirMap)) error {
		heads, err := v.OrgRecords(typ)
		if err != nil {
			return err
		}
		for _, h := range heads {
			if h.Deleted || h.Org != org {
				continue
			}
			rv, err := v.OrgRecordVersion(typ, h.ID, h.Latest)
			if err != nil {
				return err
			}
			var m fhirMap
			if json.Unmarshal(rv.Resource, &m) == nil {
				each(h.ID, m)
			}
		}
		return nil
	}
	schedules := map[string]*scheduleRow{}
	err := live("Schedule", func(id string, m fhirMap) {
		var who []string
		for _, a := range list(m["actor"]) {
			if strings.HasPrefix(a.str("reference"), "Practitioner/") {
				who = append(who, cmpOr(a.str("display"), a.str("reference")))
			}
		}
		schedules[id] = &scheduleRow{ID: id, Who: strings.Join(who, ", "), Comment: m.str("comment")}
	})
	if err != nil {
		return nil, nil, err
	}
	var slots []orgSlot
	err = live("Slot", func(id string, m fhirMap) {
		start, ok := parseDate(m.str("start"))
		sched := schedules[strings.TrimPrefix(m.obj("schedule").str("reference"), "Schedule/")]
		if ok && sched != nil {
			slots = append(slots, orgSlot{id: id, doc: m, start: start, schedule: sched})
		}
	})
	slices.SortFunc(slots, func(a, b orgSlot) int { return cmp.Or(a.start.Compare(b.start), strings.Compare(a.id, b.id)) })
	return schedules, slots, err
}

// deskSchedule shows the clerk's organization's slots of a day
// (?day=YYYY-MM-DD; default: the first day with a free slot to come), with
// a booking form on each free slot to come when a patient is chosen
// (?patient=<pseudonym>, and for a follow-up ?follows= and ?based-on=).
func (p *Portal) deskSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v, now := p.app.Latest(), p.now().UTC()
	schedules, slots, err := orgPlanning(v, s.who.Org)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := deskSchedulePage{Short: q.Get("patient"), FollowUpOf: q.Get("follows"), BasedOn: q.Get("based-on")}
	if page.Short != "" {
		if pt, err := v.Principal(carechain.PatientPrefix + page.Short); err != nil || pt.Kind != carechain.KindPatient {
			p.fail(w, r, s, http.StatusNotFound, "There is no such patient.")
			return
		}
		page.Patient = carechain.PatientPrefix + page.Short
	}
	page.Day = now.Truncate(24 * time.Hour)
	if d := q.Get("day"); d != "" {
		if page.Day, err = time.Parse("2006-01-02", d); err != nil {
			p.fail(w, r, s, http.StatusBadRequest, "The day is not a date (YYYY-MM-DD).")
			return
		}
	} else if i := slices.IndexFunc(slots, func(sl orgSlot) bool { return sl.doc.str("status") == "free" && sl.start.After(now) }); i >= 0 {
		page.Day = slots[i].start.Truncate(24 * time.Hour)
	}
	link := func(day time.Time) string {
		l := url.Values{"day": {day.Format("2006-01-02")}}
		for k, val := range map[string]string{"patient": page.Short, "follows": page.FollowUpOf, "based-on": page.BasedOn} {
			if val != "" {
				l.Set(k, val)
			}
		}
		return "/portal/desk/schedule?" + l.Encode()
	}
	page.Prev, page.Next = link(page.Day.AddDate(0, 0, -1)), link(page.Day.AddDate(0, 0, 1))
	for i := range 7 { // the week from the day shown
		d := page.Day.AddDate(0, 0, i)
		page.Days = append(page.Days, dayLink{Label: d.Format("Mon 2 Jan"), Href: link(d), Current: i == 0})
	}
	for _, id := range slices.Sorted(maps.Keys(schedules)) {
		page.Schedules = append(page.Schedules, *schedules[id])
	}
	for _, sl := range slots {
		if sl.start.Before(page.Day) || !sl.start.Before(page.Day.AddDate(0, 0, 1)) {
			continue
		}
		end, _ := parseDate(sl.doc.str("end"))
		status := sl.doc.str("status")
		page.Slots = append(page.Slots, slotRow{ID: sl.id, Who: sl.schedule.Who, Service: sl.doc.concept("serviceType"), Status: status,
			Start: sl.start, End: end, Bookable: status == "free" && sl.start.After(now)})
	}
	p.render(w, s, http.StatusOK, "deskschedule", "Schedule of "+page.Day.Format("Monday 2 January 2006"), page)
}

// followUpLinks checks a follow-up's references: follows, if set, is an
// Encounter or CarePlan of the patient, basedOn a ServiceRequest of theirs
// (their records' heads on the ledger say so, nothing is decrypted).
func followUpLinks(v *ledger.View, patient, follows, basedOn string) (map[string]any, error) {
	out := map[string]any{}
	check := func(field, ref string, types ...string) error {
		typ, id, ok := strings.Cut(strings.TrimSpace(ref), "/")
		if !ok || !slices.Contains(types, typ) {
			return fmt.Errorf("%q is not %s/<id>", ref, strings.Join(types, "/<id> or "))
		}
		h, err := v.Record(id)
		if err != nil || h.Deleted || h.Patient != patient || h.ResourceType != typ {
			return fmt.Errorf("%s is not a record of %s", ref, patient)
		}
		out[field] = []jsonObj{{"reference": typ + "/" + id}}
		return nil
	}
	if follows != "" {
		if err := check("supportingInformation", follows, "Encounter", "CarePlan"); err != nil {
			return nil, err
		}
	}
	if basedOn != "" {
		if err := check("basedOn", basedOn, "ServiceRequest"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deskBook books the form's Slot for the form's patient: an Appointment
// naming it, with the schedule's practitioners and services, and for a
// follow-up what it follows. The ledger decides; a refusal says why.
func (p *Portal) deskBook(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	v := p.app.Latest()
	short := f.Get("patient")
	patient := carechain.PatientPrefix + short
	if pt, err := v.Principal(patient); short == "" || err != nil || pt.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusNotFound, "Not booked: there is no such patient.")
		return
	}
	slot, err := v.OrgRecordVersion("Slot", f.Get("slot"), 0)
	var m fhirMap
	if err != nil || slot.Deleted || json.Unmarshal(slot.Resource, &m) != nil {
		p.fail(w, r, s, http.StatusNotFound, "Not booked: there is no such slot.")
		return
	}
	links, err := followUpLinks(v, patient, f.Get("follows"), f.Get("based-on"))
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not booked: "+err.Error()+".")
		return
	}
	participants := []jsonObj{{"actor": jsonObj{"reference": "Patient/" + short}, "status": "accepted"}}
	if sched, err := v.OrgRecordVersion("Schedule", strings.TrimPrefix(m.obj("schedule").str("reference"), "Schedule/"), 0); err == nil && !sched.Deleted {
		var sm fhirMap
		if json.Unmarshal(sched.Resource, &sm) == nil {
			for _, a := range list(sm["actor"]) {
				participants = append(participants, jsonObj{"actor": map[string]any(a), "status": "accepted"})
			}
		}
	}
	appt := jsonObj{"resourceType": "Appointment", "status": "booked", "slot": []jsonObj{{"reference": "Slot/" + slot.ID}},
		"start": m.str("start"), "end": m.str("end"), "participant": participants, "created": p.now().UTC().Format(time.RFC3339)}
	if st, ok := m["serviceType"]; ok {
		appt["serviceType"] = st
	}
	for k, val := range links {
		appt[k] = val
	}
	body, _ := json.Marshal(appt)
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if _, err := p.putRecord(r.Context(), signer, patient, appointmentCategory, records.NewRecordID(), 0, body); err != nil {
		p.deskRefused(w, r, s, "booked", err)
		return
	}
	done := "booked"
	if len(links) > 0 {
		done = "followup"
	}
	http.Redirect(w, r, "/portal/desk/patients/"+short+"?done="+done, http.StatusSeeOther)
}

// deskRefused answers a desk write the ledger or the services refused,
// with the reason and what to do.
func (p *Portal) deskRefused(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	var rej *ledger.Rejection
	var invalid *invalidResource
	switch {
	case errors.As(err, &rej) && rej.Code == ledger.CodeConflict:
		p.fail(w, r, s, http.StatusConflict, "Not "+what+": the ledger refused it ("+rej.Error()+"). Someone else booked or changed it meanwhile: reload the schedule and choose another slot.")
	case errors.As(err, &rej):
		p.fail(w, r, s, http.StatusForbidden, "Not "+what+": the ledger refused it ("+rej.Error()+").")
	case errors.As(err, &invalid):
		p.fail(w, r, s, http.StatusBadRequest, "Not "+what+": "+err.Error()+".")
	default:
		p.refusedWrite(w, r, s, err)
	}
}

// deskAppointmentStatus cancels an appointment (action cancel: status
// cancelled, which frees its Slot) or marks it a no-show (action noshow,
// once it has begun), as the next version of the record.
func (p *Portal) deskAppointmentStatus(w http.ResponseWriter, r *http.Request, s *session) {
	action := r.PathValue("action")
	status := map[string]string{"cancel": "cancelled", "noshow": "noshow"}[action]
	if status == "" {
		p.notFound(w, r)
		return
	}
	rec, err := p.records.Read(r.Context(), s.who.ID, r.PathValue("record"), 0, purpose)
	if err == nil && (rec.ResourceType != "Appointment" || rec.Deleted) {
		err = carechain.E(carechain.KindNotFound, errors.New("no such appointment"))
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	defer clear(rec.Resource)
	row, err := appointmentOf(*rec, p.now(), func(id string) string { return id })
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(rec.Resource, &m)
	}
	switch {
	case err != nil:
		p.failErr(w, r, s, err)
		return
	case action == "cancel" && !row.Cancellable, action == "noshow" && !row.NoShows:
		p.fail(w, r, s, http.StatusConflict, fmt.Sprintf("Nothing was changed: an appointment that is %s, starting %s, cannot be marked %s now.",
			row.Status, row.Start.Format("2 Jan 2006 15:04 UTC"), status))
		return
	}
	m["status"] = status
	if status == "cancelled" {
		m["cancelationReason"] = jsonObj{"text": "Cancelled at the registration desk"}
	}
	body, _ := json.Marshal(m)
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if _, err := p.putRecord(r.Context(), signer, rec.Patient, rec.Category, rec.RecordID, rec.Version, body); err != nil {
		p.deskRefused(w, r, s, "changed", err)
		return
	}
	http.Redirect(w, r, "/portal/desk/patients/"+strings.TrimPrefix(rec.Patient, carechain.PatientPrefix)+"?done="+status, http.StatusSeeOther)
}
