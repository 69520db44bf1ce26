package fhirrest

import (
	"maps"
	"net/http"
	"slices"
)

// The CapabilityStatement (GET /fhir/metadata) lists only what is
// implemented.

type capParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type capInteraction struct {
	Code          string `json:"code"`
	Documentation string `json:"documentation,omitempty"`
}

// History's parameters and scope, as the interactions document them.
const (
	historyDoc        = "Newest first; _since (instant), _count and _offset page with next links."
	patientHistoryDoc = historyDoc + " Of one patient's resources: patient=Patient/<id> is required unless the caller is a patient; only versions the caller may read."
)

type capResource struct {
	Type          string           `json:"type"`
	Interaction   []capInteraction `json:"interaction"`
	Versioning    string           `json:"versioning"`
	ReadHistory   bool             `json:"readHistory"`
	UpdateCreate  bool             `json:"updateCreate"`
	SearchParam   []capParam       `json:"searchParam"`
	ConditionalCr bool             `json:"conditionalCreate"`
}

// metadata serves the CapabilityStatement.
func (s *server) metadata(w http.ResponseWriter, r *http.Request) {
	writeFHIR(w, http.StatusOK, map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-24",
		"kind":         "instance",
		"software":     map[string]string{"name": "carechain"},
		"implementation": map[string]string{
			"description": "carechain node: records encrypted on a consortium ledger, consent enforced on every request",
			"url":         s.abs("/fhir"),
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"description": "SMART backend services: POST a private_key_jwt client assertion (EdDSA, signed with the principal's ledger key; single-use jti; iat required, not before the server started nor more than 30 s ahead) to /auth/token. Purpose of use in the X-Purpose-Of-Use header (default treatment). Access needs the patient's consent and the organization's role policy; a resource the caller may not read is answered as absent (404). Break-glass: a read or search of a patient's records with the X-Break-Glass-Reason header first invokes emergency access under the patient's emergency rule (403 if the ledger refuses) and is then served for purpose emergency. An update of a record under an approval policy is a proposal: 202 with its Task (reason in X-Amendment-Reason). A patient's own writes are stored as patient-reported data and served with meta.tag " + TagSystem + "|" + TagPatientReported + ".",
				"extension": []map[string]any{{
					"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					"extension": []map[string]string{{"url": "token", "valueUri": s.tokenURL()}},
				}},
			},
			"resource":    append(clinicalCapabilities(), viewCapabilities()...),
			"interaction": []capInteraction{{Code: "transaction"}, {Code: "batch"}, {Code: "history-system", Documentation: patientHistoryDoc}},
			"operation": []map[string]string{
				{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"},
				{"name": "emergency-rule", "definition": "urn:carechain:operation:emergency-rule"},
				{"name": "delegate", "definition": "urn:carechain:operation:delegate"},
				{"name": "remove-delegate", "definition": "urn:carechain:operation:remove-delegate"},
				{"name": "approve", "definition": "urn:carechain:operation:approve"},
				{"name": "reject", "definition": "urn:carechain:operation:reject"},
			},
		}},
	})
}

// clinicalCapabilities are those of the clinical types, in type order.
func clinicalCapabilities() []capResource {
	var out []capResource
	for _, t := range slices.Sorted(maps.Keys(clinicalTypes)) {
		ints := []capInteraction{{Code: "read"}, {Code: "vread"}, {Code: "update"}, {Code: "delete"},
			{Code: "history-instance", Documentation: historyDoc}, {Code: "history-type", Documentation: patientHistoryDoc}, {Code: "search-type"}}
		if creatable(t) {
			ints = append(ints, capInteraction{Code: "create"})
		}
		ps := []capParam{{"patient", "reference"}, {"subject", "reference"}, {"_id", "token"}, {"_count", "number"}, {"_offset", "number"}, {"_sort", "string"}, {"_lastUpdated", "date"}}
		if t == "Patient" {
			ps = append(ps, capParam{"identifier", "token"}, capParam{"name", "string"}, capParam{"family", "string"}, capParam{"given", "string"}, capParam{"birthdate", "date"}, capParam{"gender", "token"})
		} else {
			ps = append(ps, capParam{"code", "token"}, capParam{"category", "token"}, capParam{"status", "token"}, capParam{"date", "date"})
		}
		out = append(out, capResource{Type: t, Interaction: ints, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true, SearchParam: ps, ConditionalCr: creatable(t)})
	}
	return out
}

// creatable reports whether a resource of clinical type typ is created by
// POST: a Patient is not (create refuses it), it is made by a PUT of the
// patient's pseudonym.
func creatable(typ string) bool { return typ != "Patient" }

// viewCapabilities are those of the view types, in type order.
func viewCapabilities() []capResource {
	var out []capResource
	for _, t := range slices.Sorted(maps.Keys(viewTypes)) {
		ints := []capInteraction{{Code: "search-type"}}
		if viewTypes[t] {
			ints = append(ints, capInteraction{Code: "read"})
		}
		if t == "Consent" {
			ints = append(ints, capInteraction{Code: "create"}, capInteraction{Code: "update"}, capInteraction{Code: "delete"})
		}
		out = append(out, capResource{Type: t, Interaction: ints, Versioning: "no-version"})
	}
	return out
}
