package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Clinical resources are records: the types stored as records, and how a
// written resource becomes a record version (its id, its patient, the
// category it is sealed under).

// clinicalTypes are the resource types stored as records, with the category
// a resource goes to when nothing in it says otherwise.
var clinicalTypes = map[string]string{
	"Patient": "demographics", "Encounter": "general", "Observation": "general", "Condition": "general",
	"AllergyIntolerance": "allergy", "MedicationRequest": "medication", "MedicationDispense": "medication", "Immunization": "general",
	"ChargeItem": "billing", "Invoice": "billing", "Coverage": "billing",
	"ServiceRequest": "general", "Specimen": "lab", "ImagingStudy": "imaging", "CarePlan": "general", "CareTeam": "general",
	"Procedure": "general", "DiagnosticReport": "lab", "DocumentReference": "general", "Appointment": "administrative",
	"Communication": "general", // a message: sealed to its parties only (records/messages.go)
}

// categoryHeader, if set on a write, is the category its records go to,
// whatever the resources say.
const categoryHeader = "X-Carechain-Category"

// categoryFor is the category a write of record id goes to: the header's
// if set, else, for an existing record, the category it was created in (a
// record never changes category: its versions share the category's keys),
// else "" (categoryOf the resource decides).
func categoryFor(v *ledger.View, id, header string) string {
	if header != "" {
		return header
	}
	if head, err := v.Record(id); err == nil {
		return head.Category
	}
	return ""
}

// categoryCodes map a resource's category codes to a record category: the
// first row with a code the resource has wins. The codes are those of the
// observation-category code system and HL7 v2 table 0074 (DiagnosticReport).
var categoryCodes = []struct {
	category string
	codes    []string
}{
	{"vital-signs", []string{"vital-signs"}},
	{"lab", []string{"laboratory", "LAB", "108252007"}},  // 108252007: SNOMED CT laboratory procedure (ServiceRequest)
	{"imaging", []string{"imaging", "RAD", "363679005"}}, // 363679005: SNOMED CT imaging (ServiceRequest)
}

// categoryOf is the record category of res: what its category codes say,
// else its type's default.
func categoryOf(res *fhirjson.Resource) string {
	codes := res.CodingCodes("category")
	for _, row := range categoryCodes {
		if slices.ContainsFunc(codes, func(c string) bool { return slices.Contains(row.codes, c) }) {
			return row.category
		}
	}
	return clinicalTypes[res.Type()]
}

// authoredBy is it as author may write it. A patient writes records of
// themselves only (another patient's is 403 forbidden), always in
// carechain.CategoryPatientReported, whatever its category codes or the
// category header say: the ledger's rule, so that what a patient enters is
// never filed as a clinician's. Anyone else's write is left as it is (the
// ledger refuses it in patient-reported).
func authoredBy(author *carechain.Principal, it records.PutItem) (records.PutItem, error) {
	if author.Kind != carechain.KindPatient {
		return it, nil
	}
	if it.Patient != author.ID {
		return it, carechain.E(carechain.KindPermission, fmt.Errorf("%s writes records of themselves only, not of %s", patientRef(author.ID), patientRef(it.Patient)))
	}
	it.Category = carechain.CategoryPatientReported
	return it, nil
}

// patientRef is the FHIR reference of a patient principal: "patient/x" → "Patient/x".
func patientRef(id string) string {
	return "Patient/" + strings.TrimPrefix(id, carechain.PatientPrefix)
}

// patientOf maps a reference ("Patient/x", or the bare id "x") to a patient
// principal ID.
func patientOf(ref string) (string, bool) {
	local := strings.TrimPrefix(ref, "Patient/")
	if local == "" || strings.Contains(local, "/") {
		return "", false
	}
	return carechain.PatientPrefix + local, true
}

// parseAs parses and validates a written resource, once (fhirjson.Parse),
// as a resource of typ, the type its URL names. A resource of another type
// is refused for that first, whether or not it is valid.
func parseAs(body []byte, typ string) (*fhirjson.Resource, error) {
	res, err := fhirjson.Parse(body)
	got := ""
	var verr *fhirjson.ValidationError
	switch {
	case err == nil:
		got = res.Type()
	case errors.As(err, &verr):
		got = verr.ResourceType // "" when it could not be told
	}
	if got != "" && got != typ {
		return nil, &requestError{kind: carechain.KindMalformed, path: "resourceType",
			err: fmt.Errorf("resourceType %q does not match the URL's %q", got, typ)}
	}
	return res, err
}

// recordVersion is the record version res is written as: res with its id
// set (the server's for a create, the URL's for an update) and meta dropped
// (the server owns meta), for the patient it is about, in category if set,
// else the one its codes say.
func recordVersion(res *fhirjson.Resource, id, category string) (records.PutItem, error) {
	if err := res.SetID(id); err != nil {
		return records.PutItem{}, err
	}
	res.DropMeta()
	patient, err := patientOfResource(res)
	if err != nil {
		return records.PutItem{}, err
	}
	if category == "" {
		category = categoryOf(res)
	}
	return records.PutItem{Patient: patient, Category: category, RecordID: id, Parsed: res}, nil
}

// appointmentPatient is the one Patient among an Appointment's participants
// (an Appointment has no subject): the record is sealed to that patient.
func appointmentPatient(res *fhirjson.Resource) (string, error) {
	var patient string
	for _, ref := range res.ArrayReferences("participant", "actor") {
		if !strings.HasPrefix(ref, "Patient/") || ref == patient {
			continue
		}
		if patient != "" {
			return "", &requestError{kind: carechain.KindInvalid, code: "value", path: "Appointment.participant",
				err: fmt.Errorf("an Appointment is stored for one patient; it names %s and %s", patient, ref)}
		}
		patient = ref
	}
	return patient, nil
}

// patientOfResource is the patient principal res is about: a Patient is its
// own; any other resource names it in subject (or patient), an Appointment
// among its participants.
func patientOfResource(res *fhirjson.Resource) (string, error) {
	typ := res.Type()
	ref := "Patient/" + res.ID()
	if typ != "Patient" {
		if ref = res.Reference("subject"); ref == "" {
			ref = res.Reference("patient")
		}
	}
	if ref == "" && typ == "Coverage" {
		ref = res.Reference("beneficiary")
	}
	if ref == "" && typ == "Appointment" {
		var err error
		if ref, err = appointmentPatient(res); err != nil {
			return "", err
		}
	}
	if ref == "" {
		return "", &requestError{kind: carechain.KindInvalid, code: "required", path: typ + ".subject",
			err: fmt.Errorf("%s needs a subject or patient reference to a Patient", typ)}
	}
	patient, ok := patientOf(ref)
	if !ok {
		return "", &requestError{kind: carechain.KindInvalid, code: "value", path: typ + ".subject",
			err: fmt.Errorf("reference %q is not Patient/<id>", ref)}
	}
	return patient, nil
}

func (s *server) supported(w http.ResponseWriter, typ string) bool {
	if typ == records.BinaryType { // create and read only (binary.go)
		s.fail(w, http.StatusMethodNotAllowed, "not-supported", errors.New("Binary is served for create (POST /fhir/Binary) and read (GET /fhir/Binary/{id}) only"))
		return false
	}
	if _, ok := clinicalTypes[typ]; !ok {
		if isOrgType(typ) {
			s.fail(w, http.StatusMethodNotAllowed, "not-supported", fmt.Errorf("%s is %s", typ, orgOperationsDoc))
			return false
		}
		if fhirjson.IsResourceType(typ) {
			s.fail(w, http.StatusNotFound, "not-supported", notSupported(typ))
		} else {
			s.fail(w, http.StatusNotFound, "not-supported", fmt.Errorf("unknown resource type %q", typ))
		}
		return false
	}
	return true
}
