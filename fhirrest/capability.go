package fhirrest

import (
	"net/http"
	"sort"
	"strings"
)

// metadata serves a CapabilityStatement that lists only what is implemented.
func (s *server) metadata(w http.ResponseWriter, r *http.Request) {
	type param struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type interaction struct {
		Code string `json:"code"`
	}
	type resource struct {
		Type          string        `json:"type"`
		Interaction   []interaction `json:"interaction"`
		Versioning    string        `json:"versioning"`
		ReadHistory   bool          `json:"readHistory"`
		UpdateCreate  bool          `json:"updateCreate"`
		SearchParam   []param       `json:"searchParam"`
		ConditionalCr bool          `json:"conditionalCreate"`
	}
	var types []string
	for t := range clinicalTypes {
		types = append(types, t)
	}
	sort.Strings(types)
	var resources []resource
	for _, t := range types {
		ints := []interaction{{"read"}, {"vread"}, {"update"}, {"delete"}, {"history-instance"}, {"history-type"}, {"search-type"}}
		if t != "Patient" {
			ints = append(ints, interaction{"create"})
		}
		ps := []param{{"patient", "reference"}, {"subject", "reference"}, {"_id", "token"}, {"_count", "number"}, {"_offset", "number"}, {"_sort", "string"}, {"_lastUpdated", "date"}}
		if t == "Patient" {
			ps = append(ps, param{"identifier", "token"}, param{"name", "string"}, param{"family", "string"}, param{"given", "string"}, param{"birthdate", "date"}, param{"gender", "token"})
		} else {
			ps = append(ps, param{"code", "token"}, param{"category", "token"}, param{"status", "token"}, param{"date", "date"})
		}
		resources = append(resources, resource{Type: t, Interaction: ints, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true, SearchParam: ps, ConditionalCr: t != "Patient"})
	}
	var views []string
	for t := range viewTypes {
		views = append(views, t)
	}
	sort.Strings(views)
	for _, t := range views {
		ints := []interaction{{"search-type"}}
		if viewTypes[t] {
			ints = append(ints, interaction{"read"})
		}
		if t == "Consent" {
			ints = append(ints, interaction{"create"}, interaction{"delete"})
		}
		resources = append(resources, resource{Type: t, Interaction: ints, Versioning: "no-version"})
	}
	base := strings.TrimRight(s.BaseURL, "/")
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-24",
		"kind":         "instance",
		"software":     map[string]string{"name": "carechain"},
		"implementation": map[string]string{
			"description": "carechain node: records encrypted on a consortium ledger, consent enforced on every request",
			"url":         base + "/fhir",
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"description": "SMART backend services: POST a private_key_jwt client assertion (EdDSA, signed with the principal's ledger key) to /auth/token. Purpose of use in the X-Purpose-Of-Use header (default treatment).",
				"extension": []map[string]any{{
					"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					"extension": []map[string]string{{"url": "token", "valueUri": base + "/auth/token"}},
				}},
			},
			"resource":    resources,
			"interaction": []map[string]string{{"code": "transaction"}, {"code": "batch"}},
			"operation": []map[string]string{
				{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"},
				{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"},
			},
		}},
	}
	writeFHIR(w, http.StatusOK, cs)
}
