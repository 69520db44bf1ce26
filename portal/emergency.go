package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// Break-glass in the portal: a practitioner refused a patient's chart is
// offered emergency access, with a required reason. Posting it calls
// records.Service.InvokeEmergency, the path FHIR's X-Break-Glass-Reason
// takes: the ledger grants it under the patient's emergency rule or
// refuses, and the attempt and its reason (sealed to the patient) are in
// the patient's access log either way. The chart is then read for purpose
// emergency, each read logged as such.

// refusalPage is a refused chart with the emergency access form.
type refusalPage struct {
	Patient, Short string
	Purpose        consent.Purpose
}

// refuseChart answers 403 for patient's chart read for use, offering
// emergency access.
func (p *Portal) refuseChart(w http.ResponseWriter, s *session, patient string, use consent.Purpose) {
	p.render(w, s, http.StatusForbidden, "refused", "Access refused", refusalPage{Patient: patient,
		Short: strings.TrimPrefix(patient, carechain.PatientPrefix), Purpose: use})
}

// emergency invokes emergency access to patient {id} with the form's
// reason and, granted, shows the chart for purpose emergency.
func (p *Portal) emergency(w http.ResponseWriter, r *http.Request, s *session) {
	short := r.PathValue("id")
	patient := carechain.PatientPrefix + short
	if pt, err := p.app.Latest().Principal(patient); err != nil || pt.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusNotFound, "There is no such patient.")
		return
	}
	signer, reason, ok := p.signedForm(w, r, s, true, "Emergency access needs a reason: go back and say why you need the records now.")
	if !ok {
		return
	}
	err := p.records.InvokeEmergency(r.Context(), signer, patient, reason)
	switch {
	case errors.Is(err, ledger.ErrRejected):
		p.fail(w, r, s, http.StatusForbidden, "Emergency access refused: "+err.Error()+". The attempt is in the patient's access log.")
		return
	case err != nil:
		p.failErr(w, r, s, err)
		return
	}
	p.logger.Info("portal emergency access", "principal", s.who.ID, "patient", patient) // the reason is sealed to the patient, never logged
	http.Redirect(w, r, "/portal/patients/"+short+"?emergency=1", http.StatusSeeOther)
}
