package fhirrest

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// Clinical resources are records: the types stored as records, the patient a
// resource belongs to and the category it is sealed under.

// clinicalTypes are the resource types stored as records, with the category
// a resource goes to when nothing in it says otherwise.
var clinicalTypes = map[string]string{
	"Patient": "general", "Encounter": "general", "Observation": "general", "Condition": "general",
	"AllergyIntolerance": "allergy", "MedicationRequest": "medication", "Immunization": "general",
	"Procedure": "general", "DiagnosticReport": "lab", "DocumentReference": "general", "Appointment": "general",
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

// categoryOf picks the record category: the X-Carechain-Category header,
// else what the resource's own category codes say, else the type's default.
func categoryOf(r *http.Request, typ string, info resourceInfo) string {
	if c := r.Header.Get("X-Carechain-Category"); c != "" {
		return c
	}
	cat := string(info.Category)
	switch {
	case strings.Contains(cat, `"vital-signs"`):
		return "vital-signs"
	case strings.Contains(cat, `"laboratory"`), strings.Contains(cat, `"LAB"`):
		return "lab"
	case strings.Contains(cat, `"imaging"`), strings.Contains(cat, `"RAD"`):
		return "imaging"
	}
	return clinicalTypes[typ]
}

func (s *server) supported(w http.ResponseWriter, typ string) bool {
	if _, ok := clinicalTypes[typ]; !ok {
		if fhirjson.IsResourceType(typ) {
			s.fail(w, http.StatusNotFound, "not-supported", notSupported(typ))
		} else {
			s.fail(w, http.StatusNotFound, "not-supported", fmt.Errorf("unknown resource type %q", typ))
		}
		return false
	}
	return true
}
