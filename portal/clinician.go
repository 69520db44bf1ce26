package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// patientsPage lists the patients a practitioner may see.
type patientsPage struct {
	Query    string
	Patients []patientRow
}

type patientRow struct {
	ID, Short, Name, Why string
}

// maxNameSearch bounds how many patients a name search decrypts the
// demographics of (each read is in that patient's access log).
const maxNameSearch = 200

// patients lists the patients whose organization is the practitioner's or
// whose live grants name them (their ID, organization or role there), and
// searches them by identifier or name.
func (p *Portal) patients(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	page := patientsPage{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	rows, err := p.visiblePatients(v, s.who)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if page.Query != "" {
		rows = p.search(r.Context(), s.who.ID, rows, page.Query)
	}
	page.Patients = rows
	p.render(w, s, http.StatusOK, "patients", "Patients", page)
}

// visiblePatients are the patients pr may see, by ID.
func (p *Portal) visiblePatients(v *ledger.View, pr *carechain.Principal) ([]patientRow, error) {
	ps, err := v.Principals("")
	if err != nil {
		return nil, err
	}
	now := p.now().Unix()
	var out []patientRow
	for _, pt := range ps {
		if pt.Kind != carechain.KindPatient || pt.Status != carechain.StatusActive {
			continue
		}
		why := ""
		if pt.Org == pr.Org {
			why = "registered at your organization"
		}
		grants, err := v.Grants(pt.ID)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(grants, func(g ledger.StoredGrant) bool {
			return !g.Revoked && (g.NotAfter == 0 || g.NotAfter > now) && g.Grantee.Matches(pr)
		}) {
			why = strings.TrimPrefix(why+"; shares records with you", "; ")
		}
		if why != "" {
			out = append(out, patientRow{ID: pt.ID, Short: strings.TrimPrefix(pt.ID, carechain.PatientPrefix), Why: why})
		}
	}
	return out, nil
}

// search keeps the rows whose ID contains q, or whose name (from the
// Patient record the practitioner may read: consent-checked and logged)
// does.
func (p *Portal) search(ctx context.Context, requester string, rows []patientRow, q string) []patientRow {
	q = strings.ToLower(q)
	var out []patientRow
	for i, row := range rows {
		if strings.Contains(strings.ToLower(row.ID), q) {
			out = append(out, row)
			continue
		}
		if i >= maxNameSearch {
			continue
		}
		if row.Name = p.patientName(ctx, requester, row.ID); strings.Contains(strings.ToLower(row.Name), q) {
			out = append(out, row)
		}
	}
	return out
}

// patientName reads patient's name from their Patient record, if requester
// may read it ("" otherwise).
func (p *Portal) patientName(ctx context.Context, requester, patient string) string {
	recs, err := p.records.ReadPatient(ctx, records.Query{Requester: requester, Patient: patient, Purpose: consent.PurposeTreatment,
		Keep: func(h *carechain.RecordHead) bool { return h.ResourceType == "Patient" && !h.Deleted }})
	if err != nil || len(recs) == 0 {
		return ""
	}
	defer clear(recs[0].Resource)
	var m fhirMap
	if json.Unmarshal(recs[0].Resource, &m) != nil {
		return ""
	}
	var c card
	patientCard(&c, m)
	return c.Title
}

// chart is a patient's records as the practitioner may read them, for
// treatment, or with ?emergency=1 for purpose emergency (after
// break-glass); with none readable, a refusal that offers emergency access
// (each attempt is logged as denied).
func (p *Portal) chart(w http.ResponseWriter, r *http.Request, s *session) {
	patient := carechain.PatientPrefix + r.PathValue("id")
	v := p.app.Latest()
	if pt, err := v.Principal(patient); err != nil || pt.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusNotFound, "There is no such patient.")
		return
	}
	use := purpose
	switch {
	case r.URL.Query().Get("emergency") == "1":
		use = consent.PurposeEmergency
	case r.URL.Query().Get("purpose") == string(consent.PurposeSecondOpinion):
		use = consent.PurposeSecondOpinion
	}
	page, err := p.readChart(r.Context(), s.who.ID, patient, r.URL.Query().Get("category"), use)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	heads, err := v.PatientRecords(patient)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if len(page.Categories) == 0 && len(heads) > 0 {
		p.refuseChart(w, s, patient, use)
		return
	}
	page.Done = writtenMessage(r.URL.Query())
	p.render(w, s, http.StatusOK, "records", "Chart of "+patient, page)
}
