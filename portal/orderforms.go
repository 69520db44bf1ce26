package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
)

// The FHIR R4 resources of the order, worklist and pharmacy pages
// (orders.go, worklists.go, pharmacy.go): a ServiceRequest to another
// organization, a lab's Observation and DiagnosticReport and a
// radiologist's DiagnosticReport based on it, a MedicationDispense against
// a prescription. Like the chart's write forms (fhirforms.go) they are
// built here from a few fields and written through records.Service, which
// validates them against the R4 schema; the ledger's order and dispensing
// rules (ledger/orders.go, ledger/dispensing.go) judge them.

// orderable is a lab test or an imaging procedure the order form offers.
type orderable struct {
	Kind       string // "lab" or "imaging": the order's record category
	Code, Name string // LOINC
}

// Value is the form's value of o.
func (o orderable) Value() string { return o.Kind + ":" + o.Code }

// labTests are the lab tests the order form offers (LOINC).
var labTests = []orderable{
	{"lab", "2345-7", "Glucose [Mass/volume] in Serum or Plasma"},
	{"lab", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"},
	{"lab", "58410-2", "CBC panel - Blood by Automated count"},
	{"lab", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"},
	{"lab", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"},
}

// imagingOrderables are the imaging procedures the order form offers: the
// imaging report form's studies.
func imagingOrderables() []orderable {
	out := make([]orderable, len(imagingStudies))
	for i, s := range imagingStudies {
		out[i] = orderable{"imaging", s.Code, s.Name}
	}
	return out
}

// orderableOf is the test or procedure of the form's value.
func orderableOf(value string) (orderable, bool) {
	all := append(slices.Clone(labTests), imagingOrderables()...)
	i := slices.IndexFunc(all, func(o orderable) bool { return o.Value() == value })
	if i < 0 {
		return orderable{}, false
	}
	return all[i], true
}

// orderCategories are a ServiceRequest's category codes by record
// category (SNOMED CT, as fhirrest's category mapping reads them).
var orderCategories = map[string]jsonObj{
	"lab":     coded("http://snomed.info/sct", "108252007", "Laboratory procedure"),
	"imaging": coded("http://snomed.info/sct", "363679005", "Imaging"),
}

// orderForm is what the order form says: what, to whom, why, and the
// records it names.
type orderForm struct {
	What      orderable
	Performer string // an organization ID
	Reason    string
	Names     []string // "<Type>/<record>" of the patient's records
}

// readOrderForm reads the order form; orgs are the organizations it may
// be to.
func readOrderForm(f url.Values, orgs []string) (orderForm, error) {
	var o orderForm
	var ok bool
	if o.What, ok = orderableOf(f.Get("what")); !ok {
		return o, errors.New("Test or procedure: choose one from the list")
	}
	if o.Performer = f.Get("performer"); !slices.Contains(orgs, o.Performer) {
		return o, errors.New("To: choose an organization from the directory")
	}
	reason, err := formText(f, "reason", "Reason", true, maxFormText)
	if err != nil {
		return o, err
	}
	o.Reason = reason
	for _, n := range f["names"] {
		typ, id, ok := strings.Cut(n, "/")
		if !ok || typ == "" || id == "" || strings.Contains(id, "/") {
			return o, fmt.Errorf("Records: %q is not a record", n)
		}
		o.Names = append(o.Names, n)
	}
	if len(o.Names) > 20 {
		return o, errors.New("Records: name at most 20")
	}
	return o, nil
}

// serviceRequestResource is an active order of o for patient, by the
// practitioner named requester, to o's organization.
func serviceRequestResource(o orderForm, patient, requester, performerName string, now time.Time) ([]byte, error) {
	sr := jsonObj{"resourceType": "ServiceRequest", "status": "active", "intent": "order",
		"category": []jsonObj{orderCategories[o.What.Kind]}, "code": coded(loinc, o.What.Code, o.What.Name),
		"subject": subjectOf(patient), "authoredOn": now.UTC().Format(time.RFC3339),
		"requester":  jsonObj{"display": requester},
		"performer":  []jsonObj{{"reference": "Organization/" + o.Performer, "display": performerName}},
		"reasonCode": []jsonObj{{"text": o.Reason}}}
	if len(o.Names) > 0 {
		var refs []jsonObj
		for _, n := range o.Names {
			refs = append(refs, jsonObj{"reference": n})
		}
		sr["supportingInfo"] = refs
	}
	return json.Marshal(sr)
}

// basedOnOrder is the basedOn of a result of order (a record ID).
func basedOnOrder(order string) []jsonObj {
	return []jsonObj{{"reference": "ServiceRequest/" + order}}
}

// labReportResources are a lab's answer to order: an Observation of the
// ordered test with the form's value (labResource's fields), and a final
// DiagnosticReport (category LAB) with its conclusion, both based on the
// order, the report naming the Observation obsID.
func labReportResources(f url.Values, patient, order, obsID string, what orderable, now time.Time) (obs, report []byte, err error) {
	f = cloneValues(f)
	f.Set("test", what.Name)
	f.Set("loinc", what.Code)
	if obs, err = labResource(f, patient, now); err != nil {
		return nil, nil, err
	}
	var o jsonObj
	if err := json.Unmarshal(obs, &o); err != nil {
		return nil, nil, err
	}
	o["basedOn"] = basedOnOrder(order)
	if obs, err = json.Marshal(o); err != nil {
		return nil, nil, err
	}
	conclusion, err := formText(f, "conclusion", "Conclusion", false, maxFormText)
	if err != nil {
		return nil, nil, err
	}
	dr := jsonObj{"resourceType": "DiagnosticReport", "status": "final", "basedOn": basedOnOrder(order),
		"category": []jsonObj{coded("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")},
		"code":     coded(loinc, what.Code, what.Name), "subject": subjectOf(patient),
		"effectiveDateTime": now.UTC().Format(time.RFC3339), "issued": now.UTC().Format(time.RFC3339),
		"result": []jsonObj{{"reference": "Observation/" + obsID}}}
	if conclusion != "" {
		dr["conclusion"] = conclusion
	}
	report, err = json.Marshal(dr)
	return obs, report, err
}

// radiologyReportResource is a radiologist's answer to order: a final
// DiagnosticReport (category RAD) of the ordered study with the
// conclusion, based on the order (imagingResource's fields).
func radiologyReportResource(f url.Values, patient, order string, what orderable, now time.Time) ([]byte, error) {
	f = cloneValues(f)
	f.Set("study", what.Code)
	b, err := imagingResource(f, patient, now)
	if err != nil {
		return nil, err
	}
	var dr jsonObj
	if err := json.Unmarshal(b, &dr); err != nil {
		return nil, err
	}
	dr["basedOn"] = basedOnOrder(order)
	return json.Marshal(dr)
}

// dispenseResource is a completed MedicationDispense of the form's
// quantity of medication (the prescription's, as a FHIR
// CodeableConcept) against prescription rx.
func dispenseResource(f url.Values, patient, rx string, medication any, now time.Time) ([]byte, error) {
	q, err := formNumber(f, "quantity", "Quantity", 0.001, 1e6)
	if err != nil {
		return nil, err
	}
	if medication == nil {
		medication = jsonObj{"text": "as prescribed"}
	}
	d := jsonObj{"resourceType": "MedicationDispense", "status": "completed",
		"medicationCodeableConcept": medication, "subject": subjectOf(patient),
		"authorizingPrescription": []jsonObj{{"reference": "MedicationRequest/" + rx}},
		"quantity":                jsonObj{"value": q}, "whenHandedOver": now.UTC().Format(time.RFC3339)}
	units, err := dispensedUnits(f.Get("units"))
	if err != nil {
		return nil, err
	}
	if len(units) > 0 {
		d["extension"] = units
	}
	return json.Marshal(d)
}

// dispensedUnits are the extensions naming the serialized units of the
// form's field units: the packs' GS1 element strings as scanned, one a line
// (records.DispensedUnitURL). The pharmacist's node verifies and dispenses
// them before it writes the record.
func dispensedUnits(field string) ([]jsonObj, error) {
	var out []jsonObj
	for i, line := range strings.Split(field, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		scan, err := supply.ParseElementString(line)
		if err != nil {
			return nil, fmt.Errorf("pack %d: %s", i+1, strings.TrimPrefix(err.Error(), "invalid: "))
		}
		out = append(out, jsonObj{"url": records.DispensedUnitURL,
			"valueIdentifier": jsonObj{"system": records.GTINSystem + scan.GTIN, "value": scan.Serial}})
	}
	return out, nil
}

func cloneValues(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

// shortPatient is a patient principal's ID without its prefix, as the
// portal's URLs name it.
func shortPatient(patient string) string { return strings.TrimPrefix(patient, carechain.PatientPrefix) }
