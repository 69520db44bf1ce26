package portal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// The registration desk's pages, for registration clerks: find a patient
// (by identifier, or by name and birth date) through the blind search
// index as a FHIR search across patients is (records.Service.SearchIndex:
// each candidate decrypted only if the clerk may read it, and every
// attempt in that patient's access log); register a new patient (the
// identity, signed by the clerk, with keys this node keeps under an
// enrolment code shown once, as an admin's enrolment; then the Patient and
// the Coverage, written as FHIR writes are); and a patient's desk view
// (demographics, coverage, appointments: consent-checked, logged reads).
// Scheduling is deskschedule.go. The ledger and the role policy decide
// every write: the portal only offers the forms.

func (p *Portal) deskRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/desk", p.secured(p.desk(p.deskFind)))
	mux.HandleFunc("GET /portal/desk/register", p.secured(p.desk(p.deskRegisterPage)))
	mux.HandleFunc("POST /portal/desk/register", p.secured(p.posted(p.desk(p.deskRegister))))
	mux.HandleFunc("GET /portal/desk/patients/{id}", p.secured(p.desk(p.deskPatient)))
	mux.HandleFunc("GET /portal/desk/schedule", p.secured(p.desk(p.deskSchedule)))
	mux.HandleFunc("POST /portal/desk/book", p.secured(p.posted(p.desk(p.deskBook))))
	mux.HandleFunc("POST /portal/desk/appointments/{record}/{action}", p.secured(p.posted(p.desk(p.deskAppointmentStatus))))
}

// desk is a page for signed-in registration clerks only (their roles as the
// ledger holds them now).
func (p *Portal) desk(h handler) http.HandlerFunc {
	return p.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !isClerk(p.app.Latest(), s.who.ID) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for registration clerks.")
			return
		}
		h(w, r, s)
	})
}

// isClerk reports whether id is an active registration clerk.
func isClerk(v interface {
	Principal(string) (*carechain.Principal, error)
}, id string) bool {
	pr, err := v.Principal(id)
	return err == nil && pr.Kind == carechain.KindPractitioner && pr.Status == carechain.StatusActive &&
		slices.Contains(pr.Roles, carechain.RoleRegistrationClerk)
}

// deskFindPage is the find form and what it found.
type deskFindPage struct {
	Identifier, Name, BirthDate string
	Searched                    bool
	Problem                     string
	Found                       []deskPatientRow
}

type deskPatientRow struct {
	ID, Short, Name, BirthDate, Gender, Identifiers string
}

// deskFind finds patients by identifier, or by name and birth date.
func (p *Portal) deskFind(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	page := deskFindPage{Identifier: strings.TrimSpace(q.Get("identifier")), Name: strings.TrimSpace(q.Get("name")),
		BirthDate: strings.TrimSpace(q.Get("birthdate"))}
	status := http.StatusOK
	switch {
	case page.Identifier == "" && page.Name == "" && page.BirthDate == "":
	case page.Identifier == "" && (page.Name == "" || page.BirthDate == ""):
		page.Problem, status = "Give an identifier, or a name and a birth date.", http.StatusBadRequest
	case page.Identifier == "" && !validDate(page.BirthDate):
		page.Problem, status = "The birth date is not a date (YYYY-MM-DD).", http.StatusBadRequest
	default:
		page.Searched = true
		found, err := p.findPatients(r.Context(), s.who.ID, page.Identifier, page.Name, page.BirthDate)
		switch {
		case errors.Is(err, records.ErrNoIndex):
			page.Problem, status = "This node keeps no search index for your organization: patients cannot be found here.", http.StatusConflict
		case errors.Is(err, records.ErrTooBroad):
			page.Problem, status = "Too many patients match: give more of the name.", http.StatusBadRequest
		case err != nil:
			p.failErr(w, r, s, err)
			return
		}
		page.Found = found
	}
	p.render(w, s, status, "desk", "Registration desk", page)
}

func validDate(s string) bool { _, err := time.Parse("2006-01-02", s); return err == nil }

// findPatients are the Patients the requester may read that have
// identifier (its value, or system|value), or whose names start with each
// word of name and who were born on birthDate. The index narrows; each
// candidate is read through the consented, logged read path and matched
// here, as a FHIR search across patients is.
func (p *Portal) findPatients(ctx context.Context, requester, identifier, name, birthDate string) ([]deskPatientRow, error) {
	var conds []records.IndexCondition
	add := func(param, value string) {
		if c, ok := records.SearchTerms("Patient", param, value); ok {
			conds = append(conds, c)
		}
	}
	if identifier != "" {
		add("identifier", identifier)
	} else {
		for _, word := range strings.Fields(name) {
			add("name", word)
		}
		add("birthdate", birthDate)
	}
	recs, err := p.records.SearchIndex(ctx, records.IndexQuery{Requester: requester, Purpose: purpose, Conditions: conds,
		Keep: func(h *carechain.RecordHead) bool { return h.ResourceType == "Patient" && !h.Deleted }})
	if err != nil {
		return nil, err
	}
	var out []deskPatientRow
	for _, rec := range recs {
		var m fhirMap
		err := json.Unmarshal(rec.Resource, &m)
		clear(rec.Resource)
		if err != nil {
			continue
		}
		d := demographicsOf(m)
		if identifier != "" && !d.hasIdentifier(identifier) || identifier == "" && (d.BirthDate != birthDate || !d.namedLike(name)) {
			continue
		}
		out = append(out, deskPatientRow{ID: carechain.PatientPrefix + rec.RecordID, Short: rec.RecordID, Name: d.Name,
			BirthDate: d.BirthDate, Gender: d.Gender, Identifiers: strings.Join(d.Identifiers, ", ")})
	}
	return out, nil
}

// demographics are what the desk shows of a Patient.
type demographics struct {
	Name, BirthDate, Gender string
	Identifiers             []string // system|value
	nameParts               []string // lower-case
}

func demographicsOf(m fhirMap) demographics {
	var c card
	patientCard(&c, m)
	d := demographics{Name: c.Title, BirthDate: m.str("birthDate"), Gender: m.str("gender")}
	for _, n := range list(m["name"]) {
		d.nameParts = append(d.nameParts, strings.ToLower(n.str("family")))
		for _, g := range strList(n["given"]) {
			d.nameParts = append(d.nameParts, strings.ToLower(g))
		}
	}
	for _, id := range list(m["identifier"]) {
		d.Identifiers = append(d.Identifiers, strings.TrimPrefix(id.str("system")+"|"+id.str("value"), "|"))
	}
	return d
}

// hasIdentifier reports whether d has q, given as FHIR token search takes
// it: the value alone (any system), system|value, or |value (no system).
func (d demographics) hasIdentifier(q string) bool {
	return slices.ContainsFunc(d.Identifiers, func(id string) bool {
		system, value, ok := strings.Cut(id, "|")
		if !ok {
			system, value = "", id
		}
		qs, qv, qok := strings.Cut(q, "|")
		if !qok {
			return value == q
		}
		return system == qs && value == qv
	})
}

// namedLike reports whether every word of name starts a part of d's names
// (case-insensitive), as FHIR's name search matches.
func (d demographics) namedLike(name string) bool {
	for _, word := range strings.Fields(strings.ToLower(name)) {
		if !slices.ContainsFunc(d.nameParts, func(part string) bool { return strings.HasPrefix(part, word) }) {
			return false
		}
	}
	return true
}

// list is a JSON array of objects.
func list(v any) []fhirMap {
	var out []fhirMap
	a, _ := v.([]any)
	for _, x := range a {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// strList is a JSON array of strings.
func strList(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// deskRegisterPage is the registration form.
type deskRegisterPage struct {
	Insurers []option
	Enrols   bool
	MRNHint  string
}

func (p *Portal) insurers() []option {
	orgs, _ := p.app.Latest().Organizations()
	var out []option
	for _, o := range orgs {
		if o.Type == carechain.OrgInsurer {
			out = append(out, option{Value: o.ID, Label: cmpOr(o.Name, o.ID)})
		}
	}
	return out
}

func (p *Portal) deskRegisterPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, s, http.StatusOK, "deskregister", "Register a patient",
		deskRegisterPage{Insurers: p.insurers(), Enrols: p.keystore != nil, MRNHint: mrnSystem(s.who.Org)})
}

// mrnSystem is the identifier system of org's medical record numbers.
func mrnSystem(org string) string { return "urn:" + org + ":mrn" }

// deskRegister registers a new patient at the clerk's organization: the
// identity (keys this node makes under an enrolment code shown once), the
// Patient and, if an insurer is chosen, the Coverage.
func (p *Portal) deskRegister(w http.ResponseWriter, r *http.Request, s *session) {
	patientDoc, coverageDoc, err := registrationResources(r.PostForm, s.who.Org, p.insurers())
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Nobody was registered: "+err.Error()+".")
		return
	}
	id := carechain.NewPatientID()
	out, pub, enc, ok := p.newKeys(w, r, s, id, true)
	if !ok || !p.submitRegistration(w, r, s, tx.Register{ID: id, Kind: carechain.KindPatient, PublicKey: pub, EncryptionKey: enc}) {
		return
	}
	out.ID, out.Short, out.Patient, out.Desk = id, strings.TrimPrefix(id, carechain.PatientPrefix), true, true
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	var problems []string
	if _, err := p.putRecord(r.Context(), signer, id, "demographics", out.Short, 0, patientDoc(out.Short)); err != nil {
		problems = append(problems, "the Patient record was not written: "+err.Error())
	}
	if coverageDoc != nil {
		if _, err := p.putRecord(r.Context(), signer, id, "billing", records.NewRecordID(), 0, coverageDoc(out.Short)); err != nil {
			problems = append(problems, "the Coverage was not written: "+err.Error())
		}
	}
	out.Problem = strings.Join(problems, "; ")
	p.render(w, s, http.StatusOK, "enrolled", "Registered "+id, out)
}

// registrationResources check the registration form and make the Patient
// and Coverage (nil: no insurer chosen) of a patient whose short ID is
// given later. org's medical record number system names the MRN.
func registrationResources(f url.Values, org string, insurers []option) (patient, coverage func(short string) []byte, err error) {
	given, err := formText(f, "given", "Given name", true, maxFormNameText)
	if err != nil {
		return nil, nil, err
	}
	family, err := formText(f, "family", "Family name", true, maxFormNameText)
	if err != nil {
		return nil, nil, err
	}
	mrn, err := formText(f, "mrn", "Medical record number", true, 64)
	if err != nil {
		return nil, nil, err
	}
	birth, gender := strings.TrimSpace(f.Get("birthdate")), f.Get("gender")
	if !validDate(birth) {
		return nil, nil, errors.New("Birth date: enter a date (YYYY-MM-DD)")
	}
	if !slices.Contains([]string{"female", "male", "other", "unknown"}, gender) {
		return nil, nil, errors.New("Gender: choose one from the list")
	}
	patient = func(short string) []byte {
		b, _ := json.Marshal(jsonObj{"resourceType": "Patient", "identifier": []jsonObj{{"system": mrnSystem(org), "value": mrn}},
			"name": []jsonObj{{"family": family, "given": strings.Fields(given)}}, "birthDate": birth, "gender": gender,
			"managingOrganization": jsonObj{"reference": "Organization/" + org}})
		return b
	}
	insurer := f.Get("insurer")
	if insurer == "" {
		return patient, nil, nil
	}
	i := slices.IndexFunc(insurers, func(o option) bool { return o.Value == insurer })
	if i < 0 {
		return nil, nil, errors.New("Insurer: choose one from the list")
	}
	member, err := formText(f, "member", "Member number", true, 64)
	if err != nil {
		return nil, nil, err
	}
	coverage = func(short string) []byte {
		b, _ := json.Marshal(jsonObj{"resourceType": "Coverage", "status": "active", "subscriberId": member,
			"beneficiary": jsonObj{"reference": "Patient/" + short},
			"payor":       []jsonObj{{"reference": "Organization/" + insurer, "display": insurers[i].Label}}})
		return b
	}
	return patient, coverage, nil
}
