package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// The search parameters of each resource type, in one table (searchTable):
// search refuses a parameter that is not in it (checkParams), matches by
// what it says (matchParam), and the CapabilityStatement lists exactly it.
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
	// search is about, a record's id), so matchParam skips it.
	byCaller bool
}

// Result parameters shape the answer rather than select resources; the
// clinical search pages and sorts (search.go), a view does neither.
var (
	clinicalResultParams = []string{"_count", "_offset", "_sort", "_format"}
	viewResultParams     = []string{"_format"}
)

// Searches the interactions document, with the result parameters.
const (
	clinicalSearchDoc = "Of one patient's resources: patient= (or subject=, or a Patient's _id) is required unless the caller is a patient; only what the caller may read. A parameter not listed is refused (400). Comma-separated values are alternatives, repeated parameters all apply. Results: _count (at most 1000) and _offset page with next links; _sort=_lastUpdated, or date where the type has a date parameter, '-' for descending."
	viewSearchDoc     = "A parameter not listed is refused (400). Comma-separated values are alternatives, repeated parameters all apply. No paging: every match in one Bundle."
)

// Documentation of each parameter type's matching.
const (
	tokenDoc  = "[system|]code; a comma means or."
	stringDoc = "Case-insensitive prefix of any of its strings."
	dateDoc   = "Prefixes eq (default), ne, lt, le, gt, ge; compared at the precision both values have; a Period matches as a range."
	refDoc    = "Type/id or id."
)

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
	},
	"Observation": {
		token("code", "Observation.code", "code"), token("category", "Observation.category", "category"),
		token("status", "Observation.status", "status"),
		date("date", "Observation.effective", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
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
	},
	"DocumentReference": {
		token("status", "DocumentReference.status", "status"), token("type", "DocumentReference.type", "type"),
		token("category", "DocumentReference.category", "category"), date("date", "DocumentReference.date", "date"),
	},
	"Appointment": {
		token("status", "Appointment.status", "status"), token("service-type", "Appointment.serviceType", "serviceType"),
		date("date", "Appointment.start", "start"),
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

// searchTable are the search parameters of each type this server serves.
var searchTable = func() map[string][]searchParam {
	t := maps.Clone(viewParams)
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

// resultParamsOf are the result parameters a search of typ accepts.
func resultParamsOf(typ string) []string {
	if _, ok := viewParams[typ]; ok {
		return viewResultParams
	}
	return clinicalResultParams
}

// checkParams refuses a parameter that typ does not have (modifiers
// included: code:text is not code).
func checkParams(typ string, q map[string][]string) error {
	for k := range q {
		if _, ok := lookupParam(typ, k); ok || slices.Contains(resultParamsOf(typ), k) {
			continue
		}
		return &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("search parameter %q is not supported for %s (see /fhir/metadata)", k, typ)}
	}
	// The search is of one patient's records: patient and subject, which
	// both name that patient, must agree (the search applies only one).
	if p, sub := q["patient"], q["subject"]; len(p) > 0 && len(sub) > 0 && (len(p) != 1 || len(sub) != 1 || p[0] != sub[0]) {
		return &requestError{kind: carechain.KindMalformed, code: "value", err: errors.New("patient and subject name different patients: a search is of one patient's records")}
	}
	return nil
}

// matchAll reports whether the resource doc (decoded JSON) of typ has what
// every parameter of q asks for; lastUpdated is its version's time (RFC
// 3339), for _lastUpdated. Parameters the search applies itself, result
// parameters and unknown ones (checkParams refuses them first) pass.
func matchAll(typ string, doc any, lastUpdated string, q map[string][]string) bool {
	for name, values := range q {
		p, ok := lookupParam(typ, name)
		if !ok || p.byCaller {
			continue
		}
		for _, v := range values {
			if !p.match(doc, lastUpdated, v) {
				return false
			}
		}
	}
	return true
}

// match reports whether doc has value v (commas: alternatives) of p.
func (p searchParam) match(doc any, lastUpdated, v string) bool {
	var leaves []any
	if p.name == "_lastUpdated" {
		leaves = []any{lastUpdated}
	}
	for _, path := range p.paths {
		leaves = append(leaves, elements(doc, strings.Split(path, "."))...)
	}
	for _, alt := range strings.Split(v, ",") {
		for _, leaf := range leaves {
			if p.matchLeaf(leaf, alt) {
				return true
			}
		}
	}
	return false
}

func (p searchParam) matchLeaf(leaf any, v string) bool {
	switch p.typ {
	case "token":
		return tokenMatch(leaf, v)
	case "string":
		return stringMatch(leaf, strings.ToLower(v))
	case "date":
		return dateLeafMatch(leaf, v)
	case "reference":
		return refMatch(leaf, v)
	}
	return false
}

// elements are the values at path in doc, arrays flattened.
func elements(doc any, path []string) []any {
	if arr, ok := doc.([]any); ok {
		var out []any
		for _, x := range arr {
			out = append(out, elements(x, path)...)
		}
		return out
	}
	if len(path) == 0 {
		return []any{doc}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	next, ok := m[path[0]]
	if !ok {
		return nil
	}
	return elements(next, path[1:])
}

// tokenMatch matches a code, boolean, Coding, CodeableConcept or
// Identifier with "[system|]code".
func tokenMatch(leaf any, v string) bool {
	system, code, withSystem := strings.Cut(v, "|")
	if !withSystem {
		code = system
	}
	switch x := leaf.(type) {
	case string:
		return x == code
	case bool:
		return fmt.Sprint(x) == code
	case map[string]any:
		if coding, ok := x["coding"].([]any); ok {
			for _, c := range coding {
				if tokenMatch(c, v) {
					return true
				}
			}
			return false
		}
		value, ok := x["code"]
		if !ok {
			value = x["value"] // an Identifier
		}
		return value == code && (!withSystem || x["system"] == system)
	}
	return false
}

// stringMatch: any string in leaf starts with prefix (lower case).
func stringMatch(leaf any, prefix string) bool {
	switch x := leaf.(type) {
	case string:
		return strings.HasPrefix(strings.ToLower(x), prefix)
	case []any:
		for _, e := range x {
			if stringMatch(e, prefix) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if stringMatch(e, prefix) {
				return true
			}
		}
	}
	return false
}

// dateLeafMatch matches a date, dateTime or instant, or a Period as the
// range from its start to its end (either open if absent), with a date
// parameter.
func dateLeafMatch(leaf any, v string) bool {
	switch x := leaf.(type) {
	case string:
		return matchDate(x, v)
	case map[string]any:
		start, _ := x["start"].(string)
		end, _ := x["end"].(string)
		op, at := "eq", v
		if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
			op, at = v[:2], v[2:]
		}
		after := end == "" || matchDate(end, "ge"+at)      // the period reaches at
		before := start == "" || matchDate(start, "le"+at) // the period begins by at
		switch op {
		case "eq":
			return after && before
		case "ne":
			return !(after && before)
		case "gt", "ge":
			return end == "" || matchDate(end, op+at)
		case "lt", "le":
			return start == "" || matchDate(start, op+at)
		}
	}
	return false
}

// firstDate is the first date of date parameter p in the resource res (a
// Period's start), "" if it has none.
func (p searchParam) firstDate(res json.RawMessage) string {
	var doc any
	if json.Unmarshal(res, &doc) != nil {
		return ""
	}
	for _, path := range p.paths {
		for _, leaf := range elements(doc, strings.Split(path, ".")) {
			switch x := leaf.(type) {
			case string:
				return x
			case map[string]any:
				if start, ok := x["start"].(string); ok {
					return start
				}
			}
		}
	}
	return ""
}

// refMatch matches a Reference with "Type/id" or "id"; a version in the
// reference (…/_history/n) is ignored.
func refMatch(leaf any, v string) bool {
	m, ok := leaf.(map[string]any)
	if !ok {
		return false
	}
	r, _ := m["reference"].(string)
	r, _, _ = strings.Cut(r, "/_history/")
	return r != "" && (r == v || strings.HasSuffix(r, "/"+v) && !strings.Contains(v, "/"))
}

// decoded is v as plain JSON values (maps, slices, strings …), as the
// matchers walk them.
func decoded(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc any
	return doc, json.Unmarshal(b, &doc)
}
