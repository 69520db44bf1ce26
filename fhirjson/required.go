package fhirjson

// requiredElements lists, per resource type, the top-level elements whose
// FHIR R4 cardinality is 1..1 or 1..* but which the HL7 JSON schema does not
// put in "required".
//
// Why the schema cannot express them: in FHIR JSON a primitive element may be
// sent as its value ("status"), as its extension-only twin ("_status", e.g.
// carrying a data-absent-reason), or both; and a choice element value[x] is
// sent under one of several names (valueQuantity, valueString, ...). JSON
// Schema "required" names one property, so the generator leaves these out,
// and e.g. an Observation without "status" passes fhir.schema.json although
// Observation.status is 1..1.
//
// The rule applied here is the FHIR one: the element is present when the
// value key, its "_" twin, or (for [x]) any "<name><Type>" key is present.
// The schema itself has already rejected unknown keys, so any such key is a
// real variant of the element.
//
// Source: the R4 (4.0.1) resource definitions' cardinalities. The primitive
// entries were cross-checked mechanically against the required (non-optional)
// members of the R4 TypeScript interfaces in @medplum/fhirtypes 4.5.2, which
// are generated from those definitions, minus what the schema already
// requires. Nested backbone elements are not covered.
var requiredElements = map[string][]string{
	"Account":                     {"status"},
	"ActivityDefinition":          {"status"},
	"AdverseEvent":                {"actuality"},
	"Appointment":                 {"status"},
	"AppointmentResponse":         {"participantStatus"},
	"AuditEvent":                  {"recorded"},
	"Binary":                      {"contentType"},
	"Bundle":                      {"type"},
	"CapabilityStatement":         {"status", "date", "kind", "fhirVersion", "format"},
	"CarePlan":                    {"status", "intent"},
	"CatalogEntry":                {"orderable"},
	"ChargeItem":                  {"status"},
	"ChargeItemDefinition":        {"url", "status"},
	"Claim":                       {"status", "use", "created"},
	"ClaimResponse":               {"status", "use", "created", "outcome"},
	"ClinicalImpression":          {"status"},
	"CodeSystem":                  {"status", "content"},
	"Communication":               {"status"},
	"CommunicationRequest":        {"status"},
	"CompartmentDefinition":       {"url", "name", "status", "code", "search"},
	"Composition":                 {"status", "date", "title"},
	"ConceptMap":                  {"status"},
	"Consent":                     {"status"},
	"Coverage":                    {"status"},
	"CoverageEligibilityRequest":  {"status", "purpose", "created"},
	"CoverageEligibilityResponse": {"status", "purpose", "created", "outcome"},
	"DetectedIssue":               {"status"},
	"DeviceMetric":                {"category"},
	"DeviceRequest":               {"intent", "code[x]"},
	"DeviceUseStatement":          {"status"},
	"DiagnosticReport":            {"status"},
	"DocumentManifest":            {"status"},
	"DocumentReference":           {"status"},
	"EffectEvidenceSynthesis":     {"status"},
	"Encounter":                   {"status"},
	"Endpoint":                    {"status", "address"},
	"EpisodeOfCare":               {"status"},
	"EventDefinition":             {"status"},
	"Evidence":                    {"status"},
	"EvidenceVariable":            {"status"},
	"ExampleScenario":             {"status"},
	"ExplanationOfBenefit":        {"status", "use", "created", "outcome"},
	"FamilyMemberHistory":         {"status"},
	"Flag":                        {"status"},
	"Goal":                        {"lifecycleStatus"},
	"GraphDefinition":             {"name", "status", "start"},
	"Group":                       {"type", "actual"},
	"GuidanceResponse":            {"status"},
	"ImagingStudy":                {"status"},
	"Immunization":                {"status", "occurrence[x]"},
	"ImmunizationEvaluation":      {"status"},
	"ImmunizationRecommendation":  {"date"},
	"ImplementationGuide":         {"url", "name", "status", "packageId", "fhirVersion"},
	"Invoice":                     {"status"},
	"Library":                     {"status"},
	"List":                        {"status", "mode"},
	"Measure":                     {"status"},
	"MeasureReport":               {"status", "type"},
	"Media":                       {"status"},
	"MedicationAdministration":    {"status", "medication[x]", "effective[x]"},
	"MedicationDispense":          {"status", "medication[x]"},
	"MedicationRequest":           {"status", "intent", "medication[x]"},
	"MedicationStatement":         {"status", "medication[x]"},
	"MessageDefinition":           {"status", "date"},
	"MolecularSequence":           {"coordinateSystem"},
	"NamingSystem":                {"name", "status", "kind", "date"},
	"NutritionOrder":              {"status", "intent", "dateTime"},
	"Observation":                 {"status"},
	"OperationDefinition":         {"name", "status", "kind", "code", "system", "type", "instance"},
	"PaymentNotice":               {"status", "created"},
	"PaymentReconciliation":       {"status", "created", "paymentDate"},
	"PlanDefinition":              {"status"},
	"Procedure":                   {"status"},
	"Provenance":                  {"recorded"},
	"Questionnaire":               {"status"},
	"QuestionnaireResponse":       {"status"},
	"RequestGroup":                {"status", "intent"},
	"ResearchDefinition":          {"status"},
	"ResearchElementDefinition":   {"status", "type"},
	"ResearchStudy":               {"status"},
	"ResearchSubject":             {"status"},
	"RiskAssessment":              {"status"},
	"RiskEvidenceSynthesis":       {"status"},
	"SearchParameter":             {"url", "name", "status", "description", "code", "base", "type"},
	"ServiceRequest":              {"status", "intent"},
	"Slot":                        {"status", "start", "end"},
	"StructureDefinition":         {"url", "name", "status", "kind", "abstract", "type"},
	"StructureMap":                {"url", "name", "status"},
	"Subscription":                {"status", "reason", "criteria"},
	"SupplyRequest":               {"item[x]"},
	"Task":                        {"status", "intent"},
	"TerminologyCapabilities":     {"status", "date", "kind"},
	"TestReport":                  {"status", "result"},
	"TestScript":                  {"url", "name", "status"},
	"ValueSet":                    {"status"},
	"VerificationResult":          {"status"},
	"VisionPrescription":          {"status", "created", "dateWritten"},
}

// missingRequired returns the names of requiredElements entries absent from
// the top level of obj (choice names keep their "[x]" suffix).
func missingRequired(resourceType string, obj map[string]any) []string {
	var missing []string
	for _, name := range requiredElements[resourceType] {
		if !elementPresent(obj, name) {
			missing = append(missing, name)
		}
	}
	return missing
}

func elementPresent(obj map[string]any, name string) bool {
	if n := len(name); n > 3 && name[n-3:] == "[x]" {
		prefix := name[:n-3]
		for k := range obj {
			if s := trimUnderscore(k); len(s) > len(prefix) && s[:len(prefix)] == prefix {
				if c := s[len(prefix)]; c >= 'A' && c <= 'Z' {
					return true
				}
			}
		}
		return false
	}
	if _, ok := obj[name]; ok {
		return true
	}
	_, ok := obj["_"+name]
	return ok
}

func trimUnderscore(k string) string {
	if len(k) > 0 && k[0] == '_' {
		return k[1:]
	}
	return k
}
