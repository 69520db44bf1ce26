package portal

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// The billing page (/portal/billing) is for billing staff (registration
// clerks and claims officers): the encounters of the patients they may
// see, each with its charges, the capture action (charge capture,
// records.Service.CaptureCharges, as FHIR's $capture-charges) with or
// without an Invoice, and the patients' Invoices with their totals. Every
// read is for purpose billing, consent-checked and in the patient's access
// log; what the role policy does not let the user read is not shown.

// billingRoles are the roles the billing page is for.
var billingRoles = []carechain.Role{carechain.RoleRegistrationClerk, carechain.RoleClaimsOfficer}

// maxBillingPatients bounds how many patients' records one billing page
// reads (each read is in that patient's access log).
const maxBillingPatients = 100

// isBilling reports whether pr is billing staff.
func isBilling(pr *carechain.Principal) bool {
	return pr != nil && pr.Kind == carechain.KindPractitioner && slices.ContainsFunc(billingRoles, pr.HasRole)
}

func (p *Portal) billingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/billing", p.secured(p.practitioner(p.billingOnly(p.billing))))
	mux.HandleFunc("POST /portal/billing/{id}/capture", p.secured(p.posted(p.practitioner(p.billingOnly(p.captureCharges)))))
	p.claimRoutes(mux) // claims (claims.go)
}

// billingOnly refuses anyone but billing staff.
func (p *Portal) billingOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !isBilling(s.who) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for billing staff (registration clerks and claims officers).")
			return
		}
		h(w, r, s)
	}
}

// billingPage is the billing page's data.
type billingPage struct {
	Result     *captureResult // the capture just done, if any
	Encounters []encounterRow
	Invoices   []invoiceRow
	// Claims (claims.go): the claim just submitted, if any; the patients'
	// claims; the patients and catalogue services of the prior
	// authorization form.
	Claim    *claimSubmitted
	Claims   []claimRow
	Patients []patientRow
	Services []records.CatalogueService
}

// captureResult is a capture's outcome, for people.
type captureResult struct {
	Encounter                           string
	Charged, AlreadyCharged, NotCharged []records.Charge
	Invoice, InvoiceTotal, InvoiceNote  string
}

type encounterRow struct {
	ID, Patient, What, When, Status string
	Charged, Invoiced               int
}

type invoiceRow struct {
	ID, Patient, Date, Status, Total string
}

// billing shows the billing page.
func (p *Portal) billing(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderBilling(w, r, s, nil)
}

// captureCharges charges an encounter (form field invoice=1: and invoices
// it) and shows what it did above the refreshed page.
func (p *Portal) captureCharges(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node does not hold your signing key: sign in again, or use your own organization's node.")
		return
	}
	id := r.PathValue("id")
	got, err := p.records.CaptureCharges(r.Context(), signer, records.ChargeCapture{
		Encounter: id, Purpose: consent.PurposeBilling, Invoice: r.PostForm.Get("invoice") == "1"})
	if err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.renderBilling(w, r, s, &captureResult{Encounter: id, Charged: got.Charged, AlreadyCharged: got.AlreadyCharged, NotCharged: got.NotCharged,
		Invoice: strings.TrimPrefix(got.Invoice, "Invoice/"), InvoiceTotal: got.InvoiceTotal, InvoiceNote: got.InvoiceNote})
}

// renderBilling reads the encounters and invoices of the patients s may
// see, for billing, and renders the page with result.
func (p *Portal) renderBilling(w http.ResponseWriter, r *http.Request, s *session, result *captureResult) {
	p.renderBillingPage(w, r, s, billingPage{Result: result})
}

// renderBillingPage fills page with what the patients s may see have
// for billing and renders it.
func (p *Portal) renderBillingPage(w http.ResponseWriter, r *http.Request, s *session, page billingPage) {
	rows, err := p.visiblePatients(p.app.Latest(), s.who)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	rows = rows[:min(len(rows), maxBillingPatients)]
	if page.Claims, err = p.billingClaims(r, s, rows); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if page.Services, err = p.records.CatalogueServices(s.who.Org); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page.Patients = rows
	for _, row := range rows {
		recs, err := p.records.ReadPatient(r.Context(), records.Query{Requester: s.who.ID, Patient: row.ID, Purpose: consent.PurposeBilling,
			Keep: func(h *carechain.RecordHead) bool {
				return !h.Deleted && slices.Contains([]string{"Encounter", "ChargeItem", "Invoice"}, h.ResourceType)
			}})
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		encs, invs := billingRows(row.ID, recs)
		page.Encounters, page.Invoices = append(page.Encounters, encs...), append(page.Invoices, invs...)
	}
	sort.SliceStable(page.Encounters, func(i, j int) bool { return page.Encounters[i].When > page.Encounters[j].When })
	sort.SliceStable(page.Invoices, func(i, j int) bool { return page.Invoices[i].Date > page.Invoices[j].Date })
	p.render(w, s, http.StatusOK, "billing", "Billing", page)
}

// billingRows are one patient's encounters, with the count of their
// charges and of those invoiced, and invoices.
func billingRows(patient string, recs []records.Record) ([]encounterRow, []invoiceRow) {
	var encs []encounterRow
	var invs []invoiceRow
	chargesOf := map[string][]string{} // Encounter/<id> → ChargeItem/<id>s
	invoiced := map[string]bool{}
	short := strings.TrimPrefix(patient, carechain.PatientPrefix)
	for _, rec := range recs {
		m, err := records.DecodeExact(rec.Resource) // amounts as written: 920.00
		clear(rec.Resource)
		if err != nil {
			continue
		}
		status, _ := m["status"].(string)
		switch rec.ResourceType {
		case "Encounter":
			period, _ := m["period"].(map[string]any)
			start, _ := period["start"].(string)
			encs = append(encs, encounterRow{ID: rec.RecordID, Patient: short, What: encounterText(m), When: start, Status: status})
		case "ChargeItem":
			if status != "entered-in-error" {
				ctx, _ := m["context"].(map[string]any)
				ref, _ := ctx["reference"].(string)
				chargesOf[ref] = append(chargesOf[ref], "ChargeItem/"+rec.RecordID)
			}
		case "Invoice":
			date, _ := m["date"].(string)
			total, _ := m["totalGross"].(map[string]any)
			row := invoiceRow{ID: rec.RecordID, Patient: short, Date: date, Status: status}
			if total != nil {
				row.Total = fmt.Sprintf("%v %v", total["value"], total["currency"])
			}
			invs = append(invs, row)
			lines, _ := m["lineItem"].([]any)
			for _, l := range lines {
				l, _ := l.(map[string]any)
				ref, _ := l["chargeItemReference"].(map[string]any)
				if s, _ := ref["reference"].(string); s != "" && status != "cancelled" && status != "entered-in-error" {
					invoiced[s] = true
				}
			}
		}
	}
	for i := range encs {
		charges := chargesOf["Encounter/"+encs[i].ID]
		encs[i].Charged = len(charges)
		for _, c := range charges {
			if invoiced[c] {
				encs[i].Invoiced++
			}
		}
	}
	return encs, invs
}

// encounterText names an encounter by its type, else its class.
func encounterText(m map[string]any) string {
	types, _ := m["type"].([]any)
	for _, t := range types {
		if cc, ok := t.(map[string]any); ok {
			if s := records.CodeText(cc); s != "" {
				return s
			}
		}
	}
	class, _ := m["class"].(map[string]any)
	if d, _ := class["display"].(string); d != "" {
		return d
	}
	c, _ := class["code"].(string)
	return c
}
