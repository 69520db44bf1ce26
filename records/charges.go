package records

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

// Charge capture: a billing role charges an encounter. The services of the
// encounter it may read — the Encounter itself (its type), its Procedures
// (encounter) and MedicationDispenses (context) — are matched by code to
// the active ChargeItemDefinitions of the biller's organization; each
// match becomes one ChargeItem (context the Encounter, service the
// resource, definitionCanonical the definition, quantity the dispense's),
// written in one transaction. A service that has a ChargeItem of the
// encounter already is not charged again. Every read is a read of the
// patient's records like any other: consent, role policy, access log.

// billingCategory is the record category of ChargeItems and Invoices.
const billingCategory = "billing"

// ChargeCapture asks CaptureCharges to charge one encounter.
type ChargeCapture struct {
	Encounter string          // the Encounter's record ID
	Purpose   consent.Purpose // of every read (billing, normally)
	// Invoice, if set, also writes an Invoice of the encounter's
	// ChargeItems that are on no Invoice yet, priced by PriceInvoice.
	Invoice bool
	// Keep, if set, narrows the records read (an access token's scopes).
	Keep func(*carechain.RecordHead) bool
}

// Charge is one service of an encounter and what capture did with it.
type Charge struct {
	Service    string // "Procedure/<id>", "MedicationDispense/<id>" or "Encounter/<id>"
	What       string // the service's code, as text
	ChargeItem string // "ChargeItem/<id>" that charges it; "" if none
	Definition string // the ChargeItemDefinition's url
	Reason     string // why it was not charged
}

// Captured is what CaptureCharges did.
type Captured struct {
	Patient string
	// Charged are the ChargeItems written now; AlreadyCharged the services
	// that had one; NotCharged the services that got none, with the reason.
	Charged, AlreadyCharged, NotCharged []Charge
	// Invoice is the Invoice written ("Invoice/<id>"), with its total; if
	// one was asked for and none written, InvoiceNote says why.
	Invoice, InvoiceTotal, InvoiceNote string
}

// encounterRecords are the records of a patient capture reads: the
// services of one encounter, its ChargeItems and the patient's Invoices.
type encounterRecords struct {
	services []service
	charged  map[string]string // service reference → "ChargeItem/<id>"
	invoiced map[string]bool   // "ChargeItem/<id>" on a live Invoice
}

// service is a billable resource of the encounter.
type service struct {
	ref, status string
	code        map[string]any // a CodeableConcept
	quantity    map[string]any // a Quantity, or nil
}

// CaptureCharges charges the encounter c names, signed by biller (who
// must be allowed to write billing records of the patient).
func (s *Service) CaptureCharges(ctx context.Context, biller Signer, c ChargeCapture) (*Captured, error) {
	s.charging.Lock()
	defer s.charging.Unlock()
	v := s.latest()
	me, err := v.Principal(biller.ID)
	if err != nil {
		return nil, err
	}
	enc, err := s.Read(ctx, biller.ID, c.Encounter, 0, c.Purpose)
	if err != nil {
		return nil, err
	}
	if enc.ResourceType != "Encounter" || enc.Deleted || c.Keep != nil && !c.Keep(&carechain.RecordHead{RecordID: enc.RecordID, Patient: enc.Patient, Category: enc.Category, ResourceType: enc.ResourceType}) {
		return nil, ErrNotVisible
	}
	recs, err := s.ReadPatient(ctx, Query{Requester: biller.ID, Patient: enc.Patient, Purpose: c.Purpose, Keep: func(h *carechain.RecordHead) bool {
		return !h.Deleted && slices.Contains([]string{"Procedure", "MedicationDispense", "ChargeItem", "Invoice"}, h.ResourceType) && (c.Keep == nil || c.Keep(h))
	}})
	if err != nil {
		return nil, err
	}
	er, err := readEncounter(enc, recs)
	if err != nil {
		return nil, err
	}
	defs, err := activeDefinitions(v, me.Org)
	if err != nil {
		return nil, err
	}
	out := &Captured{Patient: enc.Patient}
	items := s.chargeItems(er, defs, enc, out)
	if len(items) > 0 {
		if _, err := s.PutBatch(ctx, biller, items); err != nil {
			return nil, fmt.Errorf("writing the ChargeItems of Encounter/%s: %w", c.Encounter, err)
		}
	}
	if c.Invoice {
		if err := s.invoiceEncounter(ctx, biller, me.Org, c, er, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readEncounter sorts the patient's records into the encounter's services,
// its charges and what is invoiced.
func readEncounter(enc *Record, recs []Record) (*encounterRecords, error) {
	encRef := "Encounter/" + enc.RecordID
	er := &encounterRecords{charged: map[string]string{}, invoiced: map[string]bool{}}
	e, err := DecodeExact(enc.Resource)
	if err != nil {
		return nil, err
	}
	status, _ := e["status"].(string)
	encCode := encounterCode(e)
	if encCode != nil {
		er.services = append(er.services, service{ref: encRef, status: status, code: encCode})
	}
	for _, rec := range recs {
		res, err := DecodeExact(rec.Resource)
		if err != nil {
			return nil, err
		}
		ref := rec.ResourceType + "/" + rec.RecordID
		status, _ := res["status"].(string)
		switch rec.ResourceType {
		case "Procedure":
			if refOf(res["encounter"]) == encRef {
				code, _ := res["code"].(map[string]any)
				er.services = append(er.services, service{ref: ref, status: status, code: code})
			}
		case "MedicationDispense":
			if refOf(res["context"]) == encRef {
				code, _ := res["medicationCodeableConcept"].(map[string]any)
				qty, _ := res["quantity"].(map[string]any)
				er.services = append(er.services, service{ref: ref, status: status, code: code, quantity: qty})
			}
		case "ChargeItem":
			if refOf(res["context"]) == encRef && status != "entered-in-error" {
				for _, sv := range asList(res["service"]) {
					er.charged[refOf(sv)] = ref
				}
				if res["service"] == nil && encCode != nil && sharesCoding(res["code"], encCode) {
					er.charged[encRef] = ref // the encounter's own charge
				}
			}
		case "Invoice":
			if status != "cancelled" && status != "entered-in-error" {
				for _, l := range asList(res["lineItem"]) {
					l, _ := l.(map[string]any)
					er.invoiced[refOf(l["chargeItemReference"])] = true
				}
			}
		}
	}
	return er, nil
}

// encounterCode is one CodeableConcept of every coding of an Encounter's
// types (its text the first type's), or nil if it has none: the Encounter
// is charged once, by the first definition that prices one of them.
func encounterCode(e map[string]any) map[string]any {
	var codings []any
	text := ""
	for _, t := range asList(e["type"]) {
		t, _ := t.(map[string]any)
		codings = append(codings, asList(t["coding"])...)
		if text == "" {
			text = CodeText(t)
		}
	}
	if len(codings) == 0 {
		return nil
	}
	cc := map[string]any{"coding": codings}
	if text != "" {
		cc["text"] = text
	}
	return cc
}

// sharesCoding reports whether two CodeableConcepts have a coding (system
// and code) in common.
func sharesCoding(a, b any) bool {
	bs := codingsOf(b)
	return slices.ContainsFunc(codingsOf(a), func(c coding) bool { return slices.Contains(bs, c) })
}

// unbilledStatus are the statuses of a service that is not charged: it did
// not happen, or not yet.
var unbilledStatus = []string{"entered-in-error", "cancelled", "not-done", "declined", "stopped", "preparation", "planned"}

// chargeItems are the ChargeItems to write for the encounter's services
// not charged yet; it records in out what it found.
func (s *Service) chargeItems(er *encounterRecords, defs []definition, enc *Record, out *Captured) []PutItem {
	var items []PutItem
	for _, sv := range er.services {
		ch := Charge{Service: sv.ref, What: CodeText(sv.code)}
		if ci, ok := er.charged[sv.ref]; ok {
			ch.ChargeItem = ci
			out.AlreadyCharged = append(out.AlreadyCharged, ch)
			continue
		}
		if slices.Contains(unbilledStatus, sv.status) {
			ch.Reason = "its status is " + sv.status
			out.NotCharged = append(out.NotCharged, ch)
			continue
		}
		def, reason := s.definitionFor(defs, sv.code)
		if def == nil {
			ch.Reason = reason
			out.NotCharged = append(out.NotCharged, ch)
			continue
		}
		id := NewRecordID()
		body, err := json.Marshal(chargeItem(id, enc, sv, def.URL, s.now()))
		if err != nil {
			ch.Reason = err.Error()
			out.NotCharged = append(out.NotCharged, ch)
			continue
		}
		items = append(items, PutItem{Patient: enc.Patient, Category: billingCategory, RecordID: id, Resource: body})
		ch.ChargeItem, ch.Definition = "ChargeItem/"+id, def.URL
		er.charged[sv.ref] = ch.ChargeItem
		out.Charged = append(out.Charged, ch)
	}
	return items
}

// definitionFor is the first active definition, in force now, with one of
// code's codings (system and code), or why there is none.
func (s *Service) definitionFor(defs []definition, code map[string]any) (*definition, string) {
	codes := codingsOf(code)
	if len(codes) == 0 {
		return nil, "it has no coded code"
	}
	today := s.now().UTC().Format(time.DateOnly)
	for i := range defs {
		d := &defs[i]
		if !slices.ContainsFunc(codes, func(c coding) bool { return slices.Contains(d.Codes, c) }) || !inForce(d.res, today) {
			continue
		}
		if d.price == nil {
			return nil, fmt.Sprintf("ChargeItemDefinition %s has no base price", d.URL)
		}
		return d, ""
	}
	return nil, "no active ChargeItemDefinition of the organization has its code"
}

// inForce reports whether a definition's effectivePeriod, if any, includes
// the day today (YYYY-MM-DD; dates are compared by their day).
func inForce(def map[string]any, today string) bool {
	p, _ := def["effectivePeriod"].(map[string]any)
	start, _ := p["start"].(string)
	end, _ := p["end"].(string)
	day := func(t string) string { return t[:min(len(t), len(time.DateOnly))] }
	return (start == "" || day(start) <= today) && (end == "" || day(end) >= today)
}

// chargeItem is the ChargeItem of service sv of encounter enc, priced by
// the definition at url.
func chargeItem(id string, enc *Record, sv service, url string, now time.Time) map[string]any {
	item := map[string]any{
		"resourceType":        "ChargeItem",
		"id":                  id,
		"status":              "billable",
		"code":                sv.code,
		"subject":             map[string]any{"reference": patientReference(enc.Patient)},
		"context":             map[string]any{"reference": "Encounter/" + enc.RecordID},
		"enteredDate":         now.UTC().Format(time.RFC3339),
		"definitionCanonical": []any{url},
	}
	if !strings.HasPrefix(sv.ref, "Encounter/") { // R4's ChargeItem.service takes no Encounter: its charge is the context's own
		item["service"] = []any{map[string]any{"reference": sv.ref}}
	}
	if v, ok := sv.quantity["value"]; ok {
		item["quantity"] = map[string]any{"value": v}
	}
	return item
}

// invoiceEncounter writes the Invoice of the encounter's ChargeItems that
// are on no Invoice yet, if there are any, and says in out what it did.
func (s *Service) invoiceEncounter(ctx context.Context, biller Signer, org string, c ChargeCapture, er *encounterRecords, out *Captured) error {
	var lines []any
	for _, sv := range er.services {
		ci, ok := er.charged[sv.ref]
		if !ok || er.invoiced[ci] {
			continue
		}
		er.invoiced[ci] = true
		lines = append(lines, map[string]any{"sequence": len(lines) + 1, "chargeItemReference": map[string]any{"reference": ci}})
	}
	if len(lines) == 0 {
		out.InvoiceNote = "no Invoice written: every ChargeItem of the encounter is on an Invoice already, or it has none"
		return nil
	}
	id := NewRecordID()
	inv := map[string]any{
		"resourceType": "Invoice", "id": id, "status": "issued",
		"subject":  map[string]any{"reference": patientReference(out.Patient)},
		"date":     s.now().UTC().Format(time.RFC3339),
		"issuer":   map[string]any{"reference": "Organization/" + org},
		"lineItem": lines,
	}
	if err := s.PriceInvoice(ctx, biller.ID, c.Purpose, out.Patient, inv); err != nil {
		return err
	}
	body, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	if _, err := s.Put(ctx, biller, PutItem{Patient: out.Patient, Category: billingCategory, RecordID: id, Resource: body}); err != nil {
		return fmt.Errorf("writing the Invoice of Encounter/%s: %w", c.Encounter, err)
	}
	total, _ := inv["totalGross"].(map[string]any)
	out.Invoice, out.InvoiceTotal = "Invoice/"+id, fmt.Sprintf("%v %v", total["value"], total["currency"])
	return nil
}

// refOf is the reference of a Reference (a map with "reference"), or "".
func refOf(v any) string {
	m, _ := v.(map[string]any)
	ref, _ := m["reference"].(string)
	return ref
}

// CodeText is a CodeableConcept as text: its text, else its first
// coding's display or code.
func CodeText(cc map[string]any) string {
	if t, ok := cc["text"].(string); ok && t != "" {
		return t
	}
	for _, c := range asList(cc["coding"]) {
		c, _ := c.(map[string]any)
		for _, k := range []string{"display", "code"} {
			if t, ok := c[k].(string); ok && t != "" {
				return t
			}
		}
	}
	return ""
}

// patientReference is the FHIR reference of a patient principal.
func patientReference(id string) string {
	return "Patient/" + strings.TrimPrefix(id, carechain.PatientPrefix)
}
