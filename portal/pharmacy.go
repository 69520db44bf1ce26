package portal

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// The pharmacy queue: the prescriptions (MedicationRequest records) of the
// patients whose live grants let the signed-in pharmacist read their
// medication records (each read through records.Service.Read: consent-
// checked, logged), with the supply the ledger counts (ledger.RxState:
// what the prescription allows in all, what every pharmacy dispensed);
// a dispense form writes a MedicationDispense against one, as a FHIR
// create by the pharmacist is, and the ledger refuses one past the supply
// (409, its message shown).

// rxRow is one prescription in the queue.
type rxRow struct {
	ID, Patient             string
	Card                    card
	Stated                  bool
	Supply, Dispensed, Left string
	Done                    bool // nothing left to dispense
}

// pharmacyPage is the queue.
type pharmacyPage struct {
	Prescriptions []rxRow
	Done          string
}

func (p *Portal) pharmacyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/pharmacy", p.secured(p.worker("pharmacy", p.pharmacyQueue)))
	mux.HandleFunc("POST /portal/pharmacy/{rx}/dispense", p.secured(p.posted(p.worker("pharmacy", p.dispense))))
}

// grantsMedication reports whether g lets its grantee read medication
// records for treatment.
func grantsMedication(g ledger.StoredGrant) bool {
	return slices.Contains(g.Actions, consent.ActionRead) && slices.Contains(g.Purposes, consent.PurposeTreatment) &&
		(slices.Contains(g.Categories, "medication") || slices.Contains(g.Categories, consent.AnyCategory))
}

func (p *Portal) pharmacyQueue(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	grants, err := liveGrantsFor(v, s.who, p.now().Unix())
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := pharmacyPage{}
	if r.URL.Query().Get("done") == "dispensed" {
		page.Done = "Dispensed."
	}
	var patients []string
	for _, g := range grants {
		if g.Order == "" && grantsMedication(g) && !slices.Contains(patients, g.Patient) {
			patients = append(patients, g.Patient)
		}
	}
	slices.Sort(patients)
	for _, pt := range patients {
		heads, err := v.PatientRecords(pt)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		for _, h := range heads {
			if h.ResourceType != "MedicationRequest" || h.Deleted {
				continue
			}
			c, _, err := p.readRecord(r.Context(), v, s.who.ID, h.RecordID)
			if err != nil {
				continue // refused (and logged): the grant's terms do not cover it
			}
			rx, err := v.Rx(h.RecordID)
			if err != nil {
				p.failErr(w, r, s, err)
				return
			}
			page.Prescriptions = append(page.Prescriptions, rxRow{ID: h.RecordID, Patient: pt, Card: c, Stated: rx.Stated,
				Supply: thousandths(rx.Supply), Dispensed: thousandths(rx.Dispensed), Left: thousandths(rx.Supply - rx.Dispensed), Done: rx.Dispensed >= rx.Supply})
		}
	}
	p.render(w, s, http.StatusOK, "pharmacy", "Pharmacy queue", page)
}

// dispense writes the form's MedicationDispense against prescription {rx}
// of a patient whose grant lets the pharmacist read it.
func (p *Portal) dispense(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	id := r.PathValue("rx")
	head, err := v.Record(id)
	if err != nil || head.ResourceType != "MedicationRequest" || head.Deleted {
		p.fail(w, r, s, http.StatusNotFound, "There is no such prescription.")
		return
	}
	_, m, err := p.readRecord(r.Context(), v, s.who.ID, id) // consent-checked and logged, as the queue
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	body, err := dispenseResource(r.PostForm, head.Patient, id, m["medicationCodeableConcept"], p.now())
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not dispensed: "+err.Error()+".")
		return
	}
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if _, err := p.records.Put(r.Context(), signer, records.PutItem{Patient: head.Patient, Category: "medication", RecordID: records.NewRecordID(), Resource: body}); err != nil {
		clear(body)
		p.refusedWrite(w, r, s, err)
		return
	}
	clear(body)
	p.logger.Info("portal dispense", "principal", s.who.ID, "prescription", id) // IDs only
	http.Redirect(w, r, "/portal/pharmacy?done=dispensed", http.StatusSeeOther)
}

// thousandths writes a quantity the ledger counts in thousandths as a
// decimal ("12.5").
func thousandths(q int64) string {
	return strconv.FormatFloat(float64(q)/1000, 'f', -1, 64)
}
