package fhirrest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// The search parameters of each resource type, in one table (searchTable):
// search refuses a parameter that is not in it (checkParams), matches by
// what it says (matchAll, searchmatch.go), and the CapabilityStatement
// lists exactly it, with the modifiers each type takes (modifiers).
// So the statement cannot claim a parameter search ignores, nor search
// accept one the statement does not list. Names, types and FHIRPath
// expressions are those of the R4 SearchParameter registry.

// A searchParam is one search parameter of a resource type.
type searchParam struct {
	name string
	typ  string // R4 search parameter type: token, string, date, reference
	// expression is the parameter's FHIRPath expression in R4.
	expression string
	doc        string
	// paths are the JSON elements expression selects, dotted ("name.family"),
	// a choice type spelt out for each of its types this server matches
	// (effectiveDateTime, effectivePeriod).
	paths []string
	// byCaller marks a parameter the search applies itself (the patient a
	// search is about, a record's id), so matchAll skips it.
	byCaller bool
}

// Result parameters shape the answer rather than select resources; the
// clinical search pages and sorts (search.go), a view does neither.
var (
	clinicalResultParams = []string{"_count", "_offset", "_sort", "_format", "_summary", "_total", "_elements",
		"_include", "_include:iterate", "_revinclude", "_revinclude:iterate"}
	viewResultParams = []string{"_count", "_offset", "_format"}
	// orgResultParams are those of an organization resource's search: no
	// _include (what it references may be a sealed record).
	orgResultParams = []string{"_count", "_offset", "_sort", "_format", "_summary", "_total", "_elements"}
)

// Searches the interactions document, with the result parameters.
const (
	clinicalSearchDoc = "Of one patient's resources: patient= (or subject=, or a Patient's _id) is required unless the caller is a patient; only what the caller may read. A parameter not listed is refused (400). Comma-separated values are alternatives, repeated parameters all apply. Results: _count (at most 1000) and _offset page with next links; _sort by _lastUpdated, _id or any listed parameter (its first value; commas for several keys, '-' for descending); _summary=count (the total alone), _summary=true|text|data (R4's summary elements; the narrative with mandatory elements; all but the narrative), _total=none, _elements=a,b (those top-level elements; a subset is tagged SUBSETTED); _include and _revinclude (with :iterate, one level) of the page's matches, each read as the caller and logged. POST [type]/_search takes the parameters as a form. patient and subject chain to a Patient parameter (patient.identifier=system|value, subject:Patient.family=…): the Patients found (through the blind index) are searched one by one. A reference value may be an absolute URL of this server, or carry its type as a modifier (subject:Patient=id). _has:Type:reference:parameter=value (one level) keeps results some resource of Type of the same patient references and matches, each read as the caller."
	viewSearchDoc     = "A parameter not listed is refused (400). Comma-separated values are alternatives, repeated parameters all apply. Every match in one Bundle, unless _count (at most 1000) and _offset page it with next links."
)

// Documentation of each parameter type's matching and modifiers.
const (
	missingDoc = " :missing=true matches resources without the element, :missing=false those with it."
	tokenDoc   = "[system|]code; a comma means or. :not matches resources with no matching value (none at all included). :text matches the start of the text of the value (CodeableConcept.text, a Coding's display, an Identifier's type text), case-insensitive." + missingDoc
	stringDoc  = "Case-insensitive prefix of any of its strings; :exact the whole string, case and accents included; :contains anywhere in it, case-insensitive." + missingDoc
	dateDoc    = "Prefixes eq (default), ne, lt, le, gt, ge, sa, eb, ap (within 10% of the time to now, at least a day); compared at the precision both values have; a Period matches as a range; a value that is not a date is refused (400)." + missingDoc
	refDoc     = "Type/id or id." + missingDoc
)

// modifiers are the search modifiers (R4 search.html) each parameter type
// takes here; a parameter the search applies itself takes none.
var modifiers = map[string][]string{
	"token":     {"not", "missing", "text"},
	"string":    {"exact", "contains", "missing"},
	"date":      {"missing"},
	"reference": {"missing"},
}

func token(name, expr string, paths ...string) searchParam {
	return searchParam{name: name, typ: "token", expression: expr, doc: tokenDoc, paths: paths}
}

func str(name, expr string, paths ...string) searchParam {
	return searchParam{name: name, typ: "string", expression: expr, doc: stringDoc, paths: paths}
}

func date(name, expr string, paths ...string) searchParam {
	return searchParam{name: name, typ: "date", expression: expr, doc: dateDoc, paths: paths}
}

func ref(name, expr string, paths ...string) searchParam {
	return searchParam{name: name, typ: "reference", expression: expr, doc: refDoc, paths: paths}
}

// applied marks p as applied by the search itself, documented by doc.
func applied(p searchParam, doc string) searchParam {
	p.byCaller, p.doc = true, doc
	return p
}

// patientOfRecord is a clinical type's patient parameter: the patient whose
// records are searched.
func patientOfRecord(expr string) searchParam {
	return applied(ref("patient", expr), "Patient/id: the patient whose records are searched.")
}

// clinicalCommon are the parameters of every clinical type: _id selects the
// record; _lastUpdated is its version's time on the ledger.
func clinicalCommon(typ string) []searchParam {
	return []searchParam{
		applied(token("_id", "Resource.id"), "The record's id."),
		date("_lastUpdated", "Resource.meta.lastUpdated"),
		token("identifier", typ+".identifier", "identifier"),
	}
}

// subjectPatient are the patient and subject parameters of a type whose
// subject is its patient.
func subjectPatient(typ string) []searchParam {
	return []searchParam{
		patientOfRecord(typ + ".subject.where(resolve() is Patient)"),
		applied(ref("subject", typ+".subject"), "Patient/id: as patient (only patients are subjects here)."),
	}
}

// clinicalParams are each clinical type's own parameters.
var clinicalParams = map[string][]searchParam{
	"Patient": {
		str("name", "Patient.name", "name"), str("family", "Patient.name.family", "name.family"),
		str("given", "Patient.name.given", "name.given"), date("birthdate", "Patient.birthDate", "birthDate"),
		token("gender", "Patient.gender", "gender"),
		ref("general-practitioner", "Patient.generalPractitioner", "generalPractitioner"),
		ref("organization", "Patient.managingOrganization", "managingOrganization"),
	},
	"Observation": {
		token("code", "Observation.code", "code"), token("category", "Observation.category", "category"),
		token("status", "Observation.status", "status"),
		date("date", "Observation.effective", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
		ref("performer", "Observation.performer", "performer"), ref("encounter", "Observation.encounter", "encounter"),
	},
	"Condition": {
		token("code", "Condition.code", "code"), token("category", "Condition.category", "category"),
		token("clinical-status", "Condition.clinicalStatus", "clinicalStatus"),
		token("verification-status", "Condition.verificationStatus", "verificationStatus"),
		date("onset-date", "Condition.onset.as(dateTime) | Condition.onset.as(Period)", "onsetDateTime", "onsetPeriod"),
		date("recorded-date", "Condition.recordedDate", "recordedDate"),
	},
	"AllergyIntolerance": {
		token("code", "AllergyIntolerance.code | AllergyIntolerance.reaction.substance", "code", "reaction.substance"),
		token("category", "AllergyIntolerance.category", "category"),
		token("clinical-status", "AllergyIntolerance.clinicalStatus", "clinicalStatus"),
		token("verification-status", "AllergyIntolerance.verificationStatus", "verificationStatus"),
		token("criticality", "AllergyIntolerance.criticality", "criticality"),
		date("date", "AllergyIntolerance.recordedDate", "recordedDate"),
	},
	"Encounter": {
		token("status", "Encounter.status", "status"), token("class", "Encounter.class", "class"),
		token("type", "Encounter.type", "type"), date("date", "Encounter.period", "period"),
	},
	"MedicationRequest": {
		token("status", "MedicationRequest.status", "status"), token("intent", "MedicationRequest.intent", "intent"),
		token("category", "MedicationRequest.category", "category"),
		token("code", "(MedicationRequest.medication as CodeableConcept)", "medicationCodeableConcept"),
		date("authoredon", "MedicationRequest.authoredOn", "authoredOn"),
	},
	"MedicationDispense": {
		token("status", "MedicationDispense.status", "status"),
		token("code", "(MedicationDispense.medication as CodeableConcept)", "medicationCodeableConcept"),
		ref("prescription", "MedicationDispense.authorizingPrescription", "authorizingPrescription"),
		date("whenhandedover", "MedicationDispense.whenHandedOver", "whenHandedOver"),
	},
	"ChargeItem": {
		token("code", "ChargeItem.code", "code"), ref("context", "ChargeItem.context", "context"),
		date("entered-date", "ChargeItem.enteredDate", "enteredDate"),
	},
	"Invoice": {
		token("status", "Invoice.status", "status"), date("date", "Invoice.date", "date"),
		ref("issuer", "Invoice.issuer", "issuer"),
	},
	"ServiceRequest": {
		token("status", "ServiceRequest.status", "status"), token("intent", "ServiceRequest.intent", "intent"),
		token("code", "ServiceRequest.code", "code"), token("category", "ServiceRequest.category", "category"),
		date("authored", "ServiceRequest.authoredOn", "authoredOn"),
		ref("performer", "ServiceRequest.performer", "performer"), ref("requester", "ServiceRequest.requester", "requester"),
		ref("encounter", "ServiceRequest.encounter", "encounter"),
	},
	"Specimen": {
		token("type", "Specimen.type", "type"), token("status", "Specimen.status", "status"),
		token("accession", "Specimen.accessionIdentifier", "accessionIdentifier"),
		date("collected", "Specimen.collection.collected", "collection.collectedDateTime", "collection.collectedPeriod"),
	},
	"ImagingStudy": {
		token("status", "ImagingStudy.status", "status"), token("modality", "ImagingStudy.series.modality", "series.modality"),
		date("started", "ImagingStudy.started", "started"), ref("basedon", "ImagingStudy.basedOn", "basedOn"),
	},
	"CarePlan": {
		token("status", "CarePlan.status", "status"), token("intent", "CarePlan.intent", "intent"),
		token("category", "CarePlan.category", "category"), date("date", "CarePlan.period", "period"),
		ref("encounter", "CarePlan.encounter", "encounter"),
	},
	"CareTeam": {
		token("status", "CareTeam.status", "status"), token("category", "CareTeam.category", "category"),
		ref("participant", "CareTeam.participant.member", "participant.member"), date("date", "CareTeam.period", "period"),
	},
	"Coverage": {
		token("status", "Coverage.status", "status"), token("type", "Coverage.type", "type"),
		ref("payor", "Coverage.payor", "payor"),
	},
	"Immunization": {
		token("status", "Immunization.status", "status"), token("vaccine-code", "Immunization.vaccineCode", "vaccineCode"),
		date("date", "Immunization.occurrence", "occurrenceDateTime"),
	},
	"Procedure": {
		token("status", "Procedure.status", "status"), token("code", "Procedure.code", "code"),
		token("category", "Procedure.category", "category"),
		date("date", "Procedure.performed", "performedDateTime", "performedPeriod"),
	},
	"DiagnosticReport": {
		token("status", "DiagnosticReport.status", "status"), token("code", "DiagnosticReport.code", "code"),
		token("category", "DiagnosticReport.category", "category"),
		date("date", "DiagnosticReport.effective", "effectiveDateTime", "effectivePeriod"),
		date("issued", "DiagnosticReport.issued", "issued"),
		ref("result", "DiagnosticReport.result", "result"),
	},
	"DocumentReference": {
		token("status", "DocumentReference.status", "status"), token("type", "DocumentReference.type", "type"),
		token("category", "DocumentReference.category", "category"), date("date", "DocumentReference.date", "date"),
	},
	"Appointment": {
		token("status", "Appointment.status", "status"), token("service-type", "Appointment.serviceType", "serviceType"),
		date("date", "Appointment.start", "start"),
		ref("supporting-info", "Appointment.supportingInformation", "supportingInformation"),
	},
}

// viewParams are the parameters of each view type (views.go).
var viewParams = map[string][]searchParam{
	"Practitioner": {
		token("_id", "Resource.id", "id"), token("identifier", "Practitioner.identifier", "identifier"),
		str("name", "Practitioner.name", "name"), token("active", "Practitioner.active", "active"),
	},
	"PractitionerRole": {
		token("_id", "Resource.id", "id"), ref("organization", "PractitionerRole.organization", "organization"),
		ref("practitioner", "PractitionerRole.practitioner", "practitioner"),
		token("role", "PractitionerRole.code", "code"), token("active", "PractitionerRole.active", "active"),
	},
	"Organization": {
		token("_id", "Resource.id", "id"), str("name", "Organization.name", "name"),
		token("type", "Organization.type", "type"), token("active", "Organization.active", "active"),
	},
	"Medication": { // registered drugs (supplyproducts.go)
		token("_id", "Resource.id", "id"), token("code", "Medication.code", "code"),
		token("identifier", "Medication.identifier", "identifier"), token("status", "Medication.status", "status"),
		ref("manufacturer", "Medication.manufacturer", "manufacturer"),
	},
	"Device": { // registered devices (supplyproducts.go)
		token("_id", "Resource.id", "id"), token("identifier", "Device.identifier", "identifier"),
		str("udi-di", "Device.udiCarrier.deviceIdentifier", "udiCarrier.deviceIdentifier"),
		str("device-name", "Device.deviceName.name | Device.type.coding.display | Device.type.text", "deviceName.name", "type.text"),
		str("manufacturer", "Device.manufacturer", "manufacturer"), token("status", "Device.status", "status"),
	},
	"Task": {
		token("_id", "Resource.id", "id"), token("status", "Task.status", "status"),
		ref("focus", "Task.focus", "focus"), ref("patient", "Task.for.where(resolve() is Patient)", "for"),
		ref("requester", "Task.requester", "requester"),
		applied(ref("owner", "Task.owner"), "Any value: only the Tasks waiting for the caller's approval (a Task here has no single owner)."),
	},
	"Consent": {
		applied(ref("patient", "Consent.patient"), "Patient/id: the patient whose grants are listed; required unless the caller is the patient."),
		token("_id", "Resource.id", "id"), token("status", "Consent.status", "status"),
	},
	"AuditEvent": {
		applied(ref("patient", "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)"),
			"Patient/id: the patient whose access log is listed; only the patient may."),
		token("_id", "Resource.id", "id"), date("date", "AuditEvent.recorded", "recorded"),
		token("outcome", "AuditEvent.outcome", "outcome"), ref("agent", "AuditEvent.agent.who", "agent.who"),
		ref("entity", "AuditEvent.entity.what", "entity.what"),
	},
	"Provenance": {
		applied(ref("target", "Provenance.target"), "Type/id: required; the record whose versions are listed."),
		token("_id", "Resource.id", "id"), ref("agent", "Provenance.agent.who", "agent.who"),
	},
}

// orgParams are the parameters of each organization resource type
// (orgrecords.go), besides orgCommon's.
var orgParams = map[string][]searchParam{
	"Schedule": {
		token("active", "Schedule.active", "active"),
		ref("actor", "Schedule.actor", "actor"), token("service-type", "Schedule.serviceType", "serviceType"),
		date("date", "Schedule.planningHorizon", "planningHorizon"),
	},
	"Slot": {
		ref("schedule", "Slot.schedule", "schedule"),
		token("status", "Slot.status", "status"), date("start", "Slot.start", "start"),
		token("service-type", "Slot.serviceType", "serviceType"),
	},
	"HealthcareService": {
		token("active", "HealthcareService.active", "active"),
		str("name", "HealthcareService.name", "name"), ref("organization", "HealthcareService.providedBy", "providedBy"),
		token("service-type", "HealthcareService.type", "type"), token("specialty", "HealthcareService.specialty", "specialty"),
		ref("location", "HealthcareService.location", "location"),
	},
	"ChargeItemDefinition": {
		token("status", "ChargeItemDefinition.status", "status"),
		str("title", "ChargeItemDefinition.title", "title"), str("publisher", "ChargeItemDefinition.publisher", "publisher"),
		date("date", "ChargeItemDefinition.date", "date"), date("effective", "ChargeItemDefinition.effectivePeriod", "effectivePeriod"),
	},
}

// orgCommon are the parameters of every organization resource type.
func orgCommon(typ string) []searchParam {
	return []searchParam{token("_id", "Resource.id", "id"), date("_lastUpdated", "Resource.meta.lastUpdated"),
		token("identifier", typ+".identifier", "identifier")}
}

// searchTable are the search parameters of each type this server serves.
var searchTable = func() map[string][]searchParam {
	t := maps.Clone(viewParams)
	for typ, ps := range orgParams {
		t[typ] = append(orgCommon(typ), ps...)
	}
	for typ := range clinicalTypes {
		t[typ] = clinicalSearchParams(typ)
	}
	return t
}()

// searchParamsOf are the search parameters of resource type typ.
func searchParamsOf(typ string) []searchParam { return searchTable[typ] }

// clinicalSearchParams are the search parameters of clinical type typ.
func clinicalSearchParams(typ string) []searchParam {
	ps := clinicalCommon(typ)
	switch typ {
	case "Patient":
	case "AllergyIntolerance", "Immunization":
		ps = append(ps, patientOfRecord(typ+".patient"))
	case "Appointment":
		ps = append(ps, patientOfRecord("Appointment.participant.actor.where(resolve() is Patient)"))
	case "Coverage":
		ps = append(ps, patientOfRecord("Coverage.beneficiary"))
	default:
		ps = append(ps, subjectPatient(typ)...)
	}
	if typ == "DocumentReference" {
		ps[2] = token("identifier", "DocumentReference.masterIdentifier | DocumentReference.identifier", "masterIdentifier", "identifier")
	}
	return append(ps, clinicalParams[typ]...)
}

// lookupParam is typ's parameter name.
func lookupParam(typ, name string) (searchParam, bool) {
	for _, p := range searchParamsOf(typ) {
		if p.name == name {
			return p, true
		}
	}
	return searchParam{}, false
}

// queryParam is the parameter of typ that a search's key names, with its
// modifier ("family:exact" → family, "exact"); false if typ has no such
// parameter or it takes no such modifier.
func queryParam(typ, key string) (searchParam, string, bool) {
	name, modifier, _ := strings.Cut(key, ":")
	p, ok := lookupParam(typ, name)
	if !ok || modifier != "" && (p.byCaller || !slices.Contains(modifiers[p.typ], modifier)) {
		return searchParam{}, "", false
	}
	return p, modifier, true
}

// resultParamsOf are the result parameters a search of typ accepts.
func resultParamsOf(typ string) []string {
	if _, ok := viewParams[typ]; ok {
		return viewResultParams
	}
	if _, ok := orgParams[typ]; ok {
		return orgResultParams
	}
	return clinicalResultParams
}

// checkParams refuses a parameter that typ does not have, or a modifier
// it does not take (code:text), or a :missing that is not true or false.
func checkParams(typ string, q map[string][]string) error {
	for k, values := range q {
		if _, has, err := hasClauseOf(typ, k, values); has {
			if err != nil {
				return err
			}
			continue
		}
		_, modifier, ok := queryParam(typ, k)
		if !ok && !slices.Contains(resultParamsOf(typ), k) {
			return &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("search parameter %q is not supported for %s (see /fhir/metadata)", k, typ)}
		}
		if modifier == "missing" && slices.ContainsFunc(values, func(v string) bool { return v != "true" && v != "false" }) {
			return &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("%s must be true or false", k)}
		}
		if p, _, _ := queryParam(typ, k); ok && p.typ == "date" && modifier != "missing" {
			for _, v := range values {
				for _, alt := range strings.Split(v, ",") {
					if err := checkDate(k, alt); err != nil {
						return err
					}
				}
			}
		}
	}
	// The search is of one patient's records: patient and subject, which
	// both name that patient, must agree (the search applies only one).
	if p, sub := q["patient"], q["subject"]; len(p) > 0 && len(sub) > 0 && (len(p) != 1 || len(sub) != 1 || p[0] != sub[0]) {
		return &requestError{kind: carechain.KindMalformed, code: "value", err: errors.New("patient and subject name different patients: a search is of one patient's records")}
	}
	return nil
}
