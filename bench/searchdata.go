package bench

import (
	"fmt"
	"net/url"
	"time"

	"github.com/carechain/carechain/records"
)

// The synthetic population of Search: patient i is "patient/s<i>", whose
// Patient resource (record "s<i>", category demographics) has a medical
// record number, a name and a birth date, and whose Observations (records
// "s<i>-o<j>", category lab) carry one of a handful of LOINC codes, but for
// the last one, which carries one of the panel codes: each panel code is
// shared by about panelPatients patients, so that a search across patients
// by it reads a few hundred candidates.

// panelPatients is about how many patients share one panel code. It keeps a
// search by panel code under records.MaxIndexCandidates at every size.
const panelPatients = 200

// Code systems of the population.
const (
	mrnSystem   = "urn:carechain:bench:mrn"
	loincSystem = "http://loinc.org"
	panelSystem = "urn:carechain:bench:panel"
)

// labCode is a common laboratory code of the population.
type labCode struct {
	code, display, unit string
	low, span           int // values fall in [low, low+span)
}

var labCodes = []labCode{
	{"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 80},
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 8},
	{"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 120, 160},
	{"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 9, 10},
	{"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 1, 3},
}

var (
	families = []string{"Okafor", "Nakamura", "Fernandes", "Kowalski", "Haddad", "Lindqvist", "Mensah", "Petrov",
		"Quispe", "Oyelaran", "Moreau", "Schneider", "Rossi", "Novak", "Jansen", "Horvath", "Kaur", "Tanaka",
		"Abebe", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ivanova", "Jovanovic", "Kim",
		"Larsen", "Mwangi", "Nielsen", "Olsen", "Papadopoulos", "Qureshi", "Rahman", "Silva", "Torres", "Ueda",
		"Vargas", "Weber", "Xu", "Yilmaz", "Zhang", "Achebe", "Bianchi", "Costa", "Diallo", "Esposito", "Farah", "Gomez"}
	givens = []string{"Ada", "Kenji", "Maria", "Piotr", "Layla", "Erik", "Kwame", "Olga", "Rosa", "Tunde",
		"Claire", "Jonas", "Giulia", "Tomas", "Sanne", "Zsofia", "Harpreet", "Yuki", "Selam", "Diego"}
	birthEpoch = time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
)

// searchData is the population of Search, for its options.
type searchData struct {
	opts   SearchOptions
	panels int // panel codes
}

func newSearchData(opts SearchOptions) searchData {
	return searchData{opts: opts, panels: max(1, (opts.Patients+panelPatients-1)/panelPatients)}
}

// patientID is the principal of patient i.
func (searchData) patientID(i int) string { return fmt.Sprintf("patient/s%d", i) }

// granted reports whether patient i grants the searcher's organization
// read access: a fraction opts.Granted of the patients, spread evenly.
func (d searchData) granted(i int) bool {
	return int(float64(i+1)*d.opts.Granted) > int(float64(i)*d.opts.Granted)
}

func (searchData) mrn(i int) string { return fmt.Sprintf("MRN-%08d", i) }

func (searchData) family(i int) string { return families[i%len(families)] }

// birthDate spreads the patients over 80 years of birth dates.
func (searchData) birthDate(i int) string {
	return birthEpoch.AddDate(0, 0, (i*7919)%(80*365)).Format(time.DateOnly)
}

// code is the system, code and display of observation j of patient i.
func (d searchData) code(i, j int) (system, code, display string) {
	if j == d.opts.Records-2 {
		return panelSystem, fmt.Sprintf("P%03d", i%d.panels), "Bench panel"
	}
	c := labCodes[(i+j)%len(labCodes)]
	return loincSystem, c.code, c.display
}

// items are patient i's records: its Patient resource and Records-1
// Observations, written in one batch.
func (d searchData) items(i int) []records.PutItem {
	p := d.patientID(i)
	gender := [2]string{"female", "male"}[i%2]
	items := []records.PutItem{{Patient: p, Category: "demographics", RecordID: fmt.Sprintf("s%d", i), Resource: fmt.Appendf(nil,
		`{"resourceType":"Patient","id":"s%d","identifier":[{"system":%q,"value":%q}],"name":[{"family":%q,"given":[%q]}],"gender":%q,"birthDate":%q}`,
		i, mrnSystem, d.mrn(i), d.family(i), givens[(i/len(families))%len(givens)], gender, d.birthDate(i))}}
	for j := range d.opts.Records - 1 {
		system, code, display := d.code(i, j)
		unit, value := "1", 1+(i+j)%9
		if system == loincSystem {
			c := labCodes[(i+j)%len(labCodes)]
			unit, value = c.unit, c.low+(i*31+j*17)%c.span
		}
		items = append(items, records.PutItem{Patient: p, Category: "lab", RecordID: fmt.Sprintf("s%d-o%d", i, j), Resource: fmt.Appendf(nil,
			`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":%q,"code":%q,"display":%q}]},`+
				`"subject":{"reference":"Patient/s%d"},"effectiveDateTime":"2026-%02d-%02dT08:00:00Z",`+
				`"valueQuantity":{"value":%d,"unit":%q,"system":"http://unitsofmeasure.org","code":%q}}`,
			system, code, display, i, 1+j%12, 1+i%28, value, unit, unit)})
	}
	return items
}

// searchKind is one kind of timed request: query(q) is the path of its
// q-th request.
type searchKind struct {
	name  string
	query func(q int) string
}

// kinds are the timed requests of Search: the baseline first. Requests
// that must find a readable record go to the patients who granted
// (grantedIDs); searches across patients go to every patient alike, so
// about 1-Granted of their candidates are refused by consent.
func (d searchData) kinds(grantedIDs []int) []searchKind {
	spread := func(q, n int) int { return (q * 7919) % n }
	token := func(system, code string) string { return url.QueryEscape(system + "|" + code) }
	return []searchKind{
		{"read Patient/{id} (baseline)", func(q int) string {
			return fmt.Sprintf("/fhir/Patient/s%d", grantedIDs[spread(q, len(grantedIDs))])
		}},
		{"one patient: Observation?patient=&code=", func(q int) string {
			i := grantedIDs[spread(q+1, len(grantedIDs))]
			system, code, _ := d.code(i, 0)
			return fmt.Sprintf("/fhir/Observation?patient=Patient/s%d&code=%s", i, token(system, code))
		}},
		{"index: Patient?identifier=", func(q int) string {
			return "/fhir/Patient?identifier=" + token(mrnSystem, d.mrn(spread(q+2, d.opts.Patients)))
		}},
		{"index: Patient?family=&birthdate=", func(q int) string {
			i := spread(q+3, d.opts.Patients)
			return fmt.Sprintf("/fhir/Patient?family=%s&birthdate=%s", d.family(i), d.birthDate(i))
		}},
		{"index: Observation?code= (panel)", func(q int) string {
			return "/fhir/Observation?code=" + token(panelSystem, fmt.Sprintf("P%03d", q%d.panels))
		}},
	}
}
