package fhirrest

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// The CapabilityStatement (GET /fhir/metadata) is generated from the
// tables that serve requests: the types (clinicalTypes, viewTypes), their
// search parameters (searchparams.go) and the operations (operations, whose
// routes Register adds). It lists only what is implemented.

type capParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type capInteraction struct {
	Code          string `json:"code"`
	Documentation string `json:"documentation,omitempty"`
}

type capOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// An operation is a FHIR operation: the route that serves it and what the
// CapabilityStatement says of it.
type operation struct {
	route   string // the ServeMux pattern
	typ     string // the resource type it is on
	cap     capOperation
	handler func(http.ResponseWriter, *http.Request, caller)
}

// operations are the operations this server serves.
func (s *server) operations() []operation {
	op := func(route, typ, name, definition string, h func(http.ResponseWriter, *http.Request, caller)) operation {
		return operation{route: route, typ: typ, cap: capOperation{Name: name, Definition: definition}, handler: h}
	}
	return append([]operation{
		op("GET /fhir/Patient/{id}/$everything", "Patient", "everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything", s.everything),
		op("GET /fhir/Patient/{id}/$export", "Patient", "export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export", s.exportKickoff),
		op("GET /fhir/Group/{id}/$export", "Group", "export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export", s.exportKickoff),
		op("POST /fhir/Patient/{id}/$emergency-rule", "Patient", "emergency-rule", "urn:carechain:operation:emergency-rule", s.patientOperation(s.setEmergencyRule)),
		op("POST /fhir/Patient/{id}/$delegate", "Patient", "delegate", "urn:carechain:operation:delegate", s.patientOperation(s.addDelegate)),
		op("POST /fhir/Patient/{id}/$remove-delegate", "Patient", "remove-delegate", "urn:carechain:operation:remove-delegate", s.patientOperation(s.removeDelegate)),
		op("POST /fhir/Encounter/{id}/$capture-charges", "Encounter", "capture-charges", "urn:carechain:operation:capture-charges", s.captureCharges),
		op("POST /fhir/Patient/$merge", "Patient", "merge", "http://hl7.org/fhir/OperationDefinition/Patient-merge", s.merge),
		op("POST /fhir/Task/{id}/$approve", "Task", "approve", "urn:carechain:operation:approve", s.reviewTask(false)),
		op("POST /fhir/Task/{id}/$reject", "Task", "reject", "urn:carechain:operation:reject", s.reviewTask(true)),
	}, s.claimOperations()...) // claims.go
}

// operationsOn are the CapabilityStatement's operations on type typ.
func (s *server) operationsOn(typ string) []capOperation {
	var out []capOperation
	for _, op := range s.operations() {
		if op.typ == typ {
			out = append(out, op.cap)
		}
	}
	return out
}

// Conditional interactions and PATCH, as the interactions document them.
const (
	conditionalUpdateDoc = "Also conditional: PUT [type]?search, within the body's patient; no match creates, one match is updated, several are a 412."
	conditionalDeleteDoc = "Also conditional: DELETE [type]?search with patient=; no match is a 204, one match is deleted, several are a 412."
	patchDoc             = "JSON Patch (application/json-patch+json) of the latest version, written as an update (If-Match, approval policies and validation apply); FHIRPath Patch is not supported."
)

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
	SearchParam   []capParam       `json:"searchParam,omitempty"`
	ConditionalCr bool             `json:"conditionalCreate"`
	ConditionalUp bool             `json:"conditionalUpdate"`
	ConditionalRd string           `json:"conditionalRead,omitempty"`
	ConditionalDl string           `json:"conditionalDelete,omitempty"`
	SearchInclude []string         `json:"searchInclude,omitempty"`
	SearchRevInc  []string         `json:"searchRevInclude,omitempty"`
	Operation     []capOperation   `json:"operation,omitempty"`
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
		"patchFormat": []string{"application/json-patch+json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"description": "SMART backend services: POST a private_key_jwt client assertion (EdDSA, signed with the principal's ledger key, or RS384 or ES384, signed by the kid-named key of a client an organization's admin registered on the ledger, for the principal it acts for and within its registered scopes; single-use jti; iat required, not before the server started nor more than 30 s ahead) to /auth/token, with SMART v1 or v2 scopes (system/, user/ or, for a patient, patient/ scopes; see .well-known/smart-configuration), which every request is held to. Purpose of use in the X-Purpose-Of-Use header (default treatment). Access needs the patient's consent and the organization's role policy; a resource the caller may not read is answered as absent (404). Break-glass: a read or search of a patient's records with the X-Break-Glass-Reason header first invokes emergency access under the patient's emergency rule (403 if the ledger refuses) and is then served for purpose emergency. An update of a record under an approval policy is a proposal: 202 with its Task (reason in X-Amendment-Reason). A patient's own writes are stored as patient-reported data and served with meta.tag " + TagSystem + "|" + TagPatientReported + ".",
				"extension": []map[string]any{{
					"url":       "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
					"extension": s.oauthURIs(),
				}},
				"cors": false,
				"service": []map[string]any{{
					"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}},
					"text":   s.smartServices(),
				}},
			},
			"resource":    slices.Concat(s.clinicalCapabilities(), s.viewCapabilities(), orgCapabilities(), binaryCapabilities(), s.claimCapabilities()),
			"interaction": []capInteraction{{Code: "transaction"}, {Code: "batch"}, {Code: "history-system", Documentation: patientHistoryDoc}},
			"operation": append(s.operationsOn("Group"), // Group is no resource here: its $export is listed with the system's
				capOperation{Name: "export", Definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}),
		}},
	})
}

// clinicalCapabilities are those of the clinical types, in type order.
func (s *server) clinicalCapabilities() []capResource {
	var out []capResource
	for _, t := range slices.Sorted(maps.Keys(clinicalTypes)) {
		ints := []capInteraction{{Code: "read"}, {Code: "vread"}, {Code: "update", Documentation: conditionalUpdateDoc},
			{Code: "patch", Documentation: patchDoc}, {Code: "delete", Documentation: conditionalDeleteDoc},
			{Code: "history-instance", Documentation: historyDoc}, {Code: "history-type", Documentation: patientHistoryDoc}, {Code: "search-type", Documentation: searchDoc(t)}}
		condDelete := "single"
		if t == "Communication" { // a message, once sent, is not deleted (records/write.go buildDelete)
			ints = slices.DeleteFunc(ints, func(i capInteraction) bool { return i.Code == "delete" })
			condDelete = "not-supported"
		}
		if creatable(t) {
			ints = append(ints, capInteraction{Code: "create"})
		}
		out = append(out, capResource{Type: t, Interaction: ints, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true,
			SearchParam: capParams(t), ConditionalCr: creatable(t), ConditionalUp: true, ConditionalRd: "full-support", ConditionalDl: condDelete,
			SearchInclude: includable(t), SearchRevInc: revIncludable(t),
			Operation: s.operationsOn(t)})
	}
	return out
}

// binaryCapabilities are Binary's: create and read (binary.go).
func binaryCapabilities() []capResource {
	doc := fmt.Sprintf(binaryDoc, carechain.MaxBlobBytes)
	return []capResource{{Type: records.BinaryType, Versioning: "versioned",
		Interaction: []capInteraction{{Code: "create", Documentation: doc}, {Code: "read", Documentation: doc}}}}
}

// claimCapabilities are those of the claim types (claims.go) and the
// study types (studies.go), in type order.
func (s *server) claimCapabilities() []capResource {
	var out []capResource
	types := maps.Clone(claimTypes)
	maps.Copy(types, studyTypes) // studies.go
	for _, t := range slices.Sorted(maps.Keys(types)) {
		res := capResource{Type: t, Interaction: types[t], Versioning: "no-version", Operation: s.operationsOn(t)}
		if t == "ResearchStudy" {
			res.Versioning = "versioned"
		}
		res.SearchParam = studySearchParams[t]
		if claimSearchTypes[t] {
			res.Interaction = append(slices.Clone(res.Interaction), capInteraction{Code: "search-type", Documentation: claimSearchDoc})
			res.SearchParam = []capParam{{Name: "patient", Type: "reference", Documentation: t + ".patient: the patient whose claims"}}
		}
		out = append(out, res)
	}
	return out
}

// creatable reports whether a resource of clinical type typ is created by
// POST: a Patient is not (create refuses it), it is made by a PUT of the
// patient's pseudonym.
func creatable(typ string) bool { return typ != "Patient" }

// viewCapabilities are those of the view types, in type order.
// searchDoc documents the search of clinical type t: of one patient, and
// across patients by the parameters the blind index serves.
func searchDoc(t string) string {
	ps := records.IndexedParams(t)
	if len(ps) == 0 {
		return clinicalSearchDoc
	}
	return clinicalSearchDoc + " Across patients, without patient=: by " + strings.Join(ps, ", ") +
		" (dates eq at year, month or day precision; strings by prefix or :exact), through the blind index of the caller's organization on this node." +
		" Other parameters, modifiers (:contains, :not, :missing), date ranges and _sort then filter and order what those find, after decryption: a search of those alone is refused (400)." +
		fmt.Sprintf(" Every candidate the index finds is decrypted, consent-checked and logged as an access, whether a filter keeps it or not; a search whose indexed parameters find over %d candidates is refused (400). total counts only what the caller may read.", records.MaxIndexCandidates)
}

func (s *server) viewCapabilities() []capResource {
	var out []capResource
	for _, t := range slices.Sorted(maps.Keys(viewTypes)) {
		ints := []capInteraction{{Code: "search-type", Documentation: viewSearchDoc}}
		if _, ok := productTypes[t]; ok { // supplyproducts.go
			ints = []capInteraction{{Code: "search-type", Documentation: viewSearchDoc + productSearchDoc}, {Code: "read", Documentation: productReadDoc}}
		} else if viewTypes[t] {
			ints = append(ints, capInteraction{Code: "read"})
		} else {
			ints = append(ints, capInteraction{Code: "read", Documentation: "Only what the type's search shows the caller: a Consent to its patient and the grantees it names, an AuditEvent to its patient, a Provenance ({record}-{version}) to whoever may read the record; anything else is a 404."})
		}
		if t == "Consent" {
			ints = append(ints, capInteraction{Code: "create"}, capInteraction{Code: "update"}, capInteraction{Code: "delete"})
		}
		out = append(out, capResource{Type: t, Interaction: ints, Versioning: "no-version", SearchParam: capParams(t), Operation: s.operationsOn(t)})
	}
	return out
}

// capParams are the search parameters of typ as the CapabilityStatement
// lists them; the documentation gives the R4 FHIRPath expression.
func capParams(typ string) []capParam {
	var out []capParam
	for _, p := range searchParamsOf(typ) {
		out = append(out, capParam{Name: p.name, Type: p.typ, Documentation: p.expression + ": " + p.doc})
	}
	return out
}

// includable are the _include values a search of typ takes: its reference
// parameters (include.go).
func includable(typ string) []string {
	var out []string
	for _, p := range searchParamsOf(typ) {
		if p.typ == "reference" {
			out = append(out, typ+":"+p.name)
		}
	}
	return out
}

// revIncludable are the _revinclude values that can find resources
// referencing one of typ: every clinical type's reference parameters, but
// those naming a record's patient only for a Patient.
func revIncludable(typ string) []string {
	var out []string
	for _, u := range slices.Sorted(maps.Keys(clinicalTypes)) {
		for _, p := range searchParamsOf(u) {
			if p.typ == "reference" && (!p.byCaller || typ == "Patient") {
				out = append(out, u+":"+p.name)
			}
		}
	}
	return out
}

// oauthURIs are the oauth-uris extension's: the token endpoint, and the
// authorization endpoint when App Launch is on (Options.Codes).
func (s *server) oauthURIs() []map[string]string {
	uris := []map[string]string{{"url": "token", "valueUri": s.tokenURL()}}
	if s.Codes != nil {
		uris = append(uris, map[string]string{"url": "authorize", "valueUri": s.authorizeURL()})
	}
	return uris
}

func (s *server) smartServices() string {
	if s.Codes != nil {
		return "SMART backend services and App Launch (standalone, authorization code with PKCE S256, public clients); discovery at .well-known/smart-configuration"
	}
	return "SMART backend services; discovery at .well-known/smart-configuration"
}
