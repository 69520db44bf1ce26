package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Read-only views of ledger state as FHIR resources: identities
// (Practitioner, PractitionerRole, Organization), consents (Consent), the
// access log (AuditEvent) and who signed each version (Provenance).

// viewTypes lists the types served by views, with whether they support read.
var viewTypes = map[string]bool{
	"Practitioner": true, "PractitionerRole": true, "Organization": true,
	"Consent": false, "AuditEvent": false, "Provenance": false, "Task": true,
	"Medication": true, "Device": true, // registered products (supplyproducts.go)
}

// fhirID maps a principal ID to a FHIR id ("st-mary/dr-chen" → "st-mary.dr-chen").
func fhirID(principal string) string { return strings.ReplaceAll(principal, "/", ".") }

func principalID(fid string) string { return strings.Replace(fid, ".", "/", 1) }

// principalRef references a principal: a patient as their Patient, anyone
// else as a Practitioner (a patient is not in the directory).
func principalRef(id string) string {
	if strings.HasPrefix(id, carechain.PatientPrefix) {
		return patientRef(id)
	}
	return "Practitioner/" + fhirID(id)
}

func practitioner(p carechain.Principal) map[string]any {
	return map[string]any{
		"resourceType": "Practitioner", "id": fhirID(p.ID), "active": p.Status == carechain.StatusActive,
		"identifier": []map[string]string{{"system": "urn:carechain:principal", "value": p.ID}},
		"name":       []map[string]string{{"text": p.Name}},
	}
}

func practitionerRole(p carechain.Principal) map[string]any {
	var codes []map[string]any
	for _, r := range p.Roles {
		codes = append(codes, map[string]any{"coding": []map[string]string{{"system": "urn:carechain:role", "code": string(r)}}})
	}
	role := map[string]any{
		"resourceType": "PractitionerRole", "id": fhirID(p.ID), "active": p.Status == carechain.StatusActive,
		"practitioner": map[string]string{"reference": "Practitioner/" + fhirID(p.ID)},
		"organization": map[string]string{"reference": "Organization/" + p.Org},
	}
	if codes != nil { // FHIR JSON has no nulls: an empty list is left out
		role["code"] = codes
	}
	return role
}

func organization(o carechain.Organization) map[string]any {
	return map[string]any{
		"resourceType": "Organization", "id": o.ID, "active": true, "name": o.Name,
		"type": []map[string]any{{"coding": []map[string]string{{"system": "urn:carechain:org-type", "code": string(o.Type)}}}},
	}
}

func (s *server) viewRead(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	res, err := s.viewResource(c, typ, id)
	if errors.Is(err, ledger.ErrNotFound) {
		err = notFound(typ)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	writeFHIR(w, http.StatusOK, res)
}

// viewResource is the view typ/id. One the caller may not see (a Task it
// may not review; a patient as a Practitioner) is ledger.ErrNotFound, as if
// it were not there.
func (s *server) viewResource(c caller, typ, id string) (any, error) {
	switch typ {
	case "Task":
		p, err := c.view.Proposal(id)
		if err != nil {
			return nil, err
		}
		if !mayReview(c, p) {
			return nil, ledger.ErrNotFound
		}
		return s.task(p), nil
	case "Organization":
		o, err := c.view.Organization(id)
		if err != nil {
			return nil, err
		}
		return organization(*o), nil
	case "Medication", "Device":
		return productResource(c, typ, id) // supplyproducts.go
	}
	p, err := c.view.Principal(principalID(id))
	if err != nil {
		return nil, err
	}
	if !inDirectory(p) {
		return nil, ledger.ErrNotFound
	}
	if typ == "Practitioner" {
		return withQualifications(c.view, practitioner(*p), p.ID, time.Now())
	}
	return practitionerRole(*p), nil
}

func (s *server) viewSearch(w http.ResponseWriter, r *http.Request, c caller, typ string) {
	find := map[string]func(*http.Request, caller) ([]any, error){
		"Organization": organizations, "Practitioner": practitioners, "PractitionerRole": practitioners,
		"Task": s.tasks, "Consent": s.consents, "AuditEvent": s.auditEvents, "Provenance": s.provenance,
		"Medication": products, "Device": products,
	}[typ]
	if err := checkParams(typ, r.URL.Query()); err != nil {
		s.failErr(w, err)
		return
	}
	resources, err := find(r, c)
	if err == nil {
		resources, err = filterView(typ, resources, r.URL.Query())
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeSearchset(w, r, resources)
}

// filterView keeps the resources of view typ that match q.
func filterView(typ string, resources []any, q map[string][]string) ([]any, error) {
	out := resources[:0]
	for _, res := range resources {
		doc, err := decoded(res)
		if err != nil {
			return nil, err
		}
		if matchAll(typ, doc, "", q) {
			out = append(out, res)
		}
	}
	return out, nil
}

// organizations lists the consortium's organizations.
func organizations(_ *http.Request, c caller) ([]any, error) {
	orgs, err := c.view.Organizations()
	if err != nil {
		return nil, err
	}
	var out []any
	for _, o := range orgs {
		out = append(out, organization(o))
	}
	return out, nil
}

// inDirectory reports whether p is listed as a Practitioner: staff and
// admins are; patients and nodes (machines) are not.
func inDirectory(p *carechain.Principal) bool {
	return p.Kind != carechain.KindPatient && p.Kind != carechain.KindNode
}

// practitioners lists staff as Practitioner or PractitionerRole, the type
// searched for.
func practitioners(r *http.Request, c caller) ([]any, error) {
	ps, err := c.view.Principals("") // organization= is a search parameter (filterView)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, p := range ps {
		if !inDirectory(&p) {
			continue
		}
		if r.PathValue("type") == "Practitioner" {
			res, err := withQualifications(c.view, practitioner(p), p.ID, time.Now())
			if err != nil {
				return nil, err
			}
			out = append(out, res)
		} else {
			out = append(out, practitionerRole(p))
		}
	}
	return out, nil
}

// tasks lists the proposals the caller may review: with owner=, only those
// waiting for the caller.
func (s *server) tasks(r *http.Request, c caller) ([]any, error) {
	ps, err := c.view.Proposals()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	waiting := map[string]bool{}
	if q.Get("owner") != "" {
		mine, err := c.view.Waiting(c.principal, time.Now().Unix())
		if err != nil {
			return nil, err
		}
		for _, p := range mine {
			waiting[p.ID] = true
		}
	}
	var out []any
	for i := range ps {
		if !mayReview(c, &ps[i]) || (q.Get("owner") != "" && !waiting[ps[i].ID]) {
			continue
		}
		out = append(out, s.task(&ps[i]))
	}
	return out, nil
}

// writeSearchset answers a view search: each entry with its fullUrl, which
// R4 requires of a searchset's entries, and the Bundle with its self link.
// Every match is in one Bundle unless _count or _offset is given: then the
// page they name, with a next link as a clinical search has.
func (s *server) writeSearchset(w http.ResponseWriter, r *http.Request, resources []any) {
	pg := page{count: len(resources)}
	if q := r.URL.Query(); q.Has("_count") || q.Has("_offset") {
		var err error
		if pg, err = pageOf(q); err != nil {
			s.failErr(w, err)
			return
		}
	}
	total := len(resources)
	resources = resources[min(pg.offset, total):min(pg.offset+pg.count, total)]
	entries := make([]map[string]any, 0, len(resources))
	for _, res := range resources {
		e := map[string]any{"resource": res, "search": map[string]string{"mode": "match"}}
		if m, ok := res.(map[string]any); ok {
			e["fullUrl"] = s.abs(fmt.Sprintf("/fhir/%s/%s", m["resourceType"], m["id"]))
		}
		entries = append(entries, e)
	}
	b := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": total, "link": s.pageLinks(r, pg, total)}
	if len(entries) > 0 { // R4's JSON has no empty arrays
		b["entry"] = entries
	}
	writeFHIR(w, http.StatusOK, b)
}

// viewPatient is the patient a view search is about (see patientParam).
func viewPatient(r *http.Request, c caller) (string, error) {
	p, ok := patientParam(r.URL.Query(), c, "")
	if !ok {
		return "", &records.DeniedError{Reason: "search needs patient=Patient/<id>"}
	}
	return p, nil
}

// consents shows a patient's grants to the patient, their delegates and
// each grant's grantee.
func (s *server) consents(r *http.Request, c caller) ([]any, error) {
	patient, err := viewPatient(r, c)
	if err != nil {
		return nil, err
	}
	grants, err := c.view.Grants(patient)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, g := range grants {
		if c.principal.ID != patient && !g.Grantee.Matches(c.principal) {
			continue
		}
		res := consentResource(g)
		orderData(res, g, c.view)
		out = append(out, res)
	}
	return out, nil
}

// orderData adds to the Consent of an order's grant the records it covers
// (provision.data, the order first) and the order's extension.
func orderData(res map[string]any, g ledger.StoredGrant, v *ledger.View) {
	if g.Order == "" {
		return
	}
	var data []any
	for _, id := range g.Records {
		if head, err := v.Record(id); err == nil {
			data = append(data, map[string]any{"meaning": "instance", "reference": map[string]string{"reference": head.ResourceType + "/" + id}})
		}
	}
	if data != nil {
		res["provision"].(map[string]any)["data"] = data
	}
	res["extension"] = []map[string]any{{"url": "urn:carechain:order-grant", "valueReference": map[string]string{"reference": "ServiceRequest/" + g.Order}}}
}

func consentResource(g ledger.StoredGrant) map[string]any {
	status := "active"
	if g.Revoked {
		status = "inactive"
	}
	actor := map[string]any{"role": map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}}}}
	switch {
	case g.Grantee.Principal != "":
		actor["reference"] = map[string]string{"reference": principalRef(g.Grantee.Principal)}
	case g.Grantee.Role != "":
		// Whoever holds the role at the organization: no one resource, so a
		// logical reference (a conditional one is for transaction requests only).
		actor["reference"] = map[string]any{"type": "PractitionerRole", "display": string(g.Grantee.Role) + " at " + g.Grantee.Org,
			"identifier": map[string]string{"system": "urn:carechain:grantee-role", "value": g.Grantee.Org + "/" + string(g.Grantee.Role)}}
	default:
		actor["reference"] = map[string]string{"reference": "Organization/" + g.Grantee.Org}
	}
	provision := map[string]any{"type": "permit", "actor": []any{actor}}
	period := map[string]string{"start": time.Unix(g.NotBefore, 0).UTC().Format(time.RFC3339)}
	if g.NotAfter != 0 {
		period["end"] = time.Unix(g.NotAfter, 0).UTC().Format(time.RFC3339)
	}
	provision["period"] = period
	var actions, purposes, classes []map[string]any
	for _, a := range g.Actions {
		actions = append(actions, map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": string(a)}}})
	}
	for _, p := range g.Purposes {
		purposes = append(purposes, map[string]any{"system": "urn:carechain:purpose", "code": string(p)})
	}
	for _, cat := range g.Categories {
		classes = append(classes, map[string]any{"system": "urn:carechain:category", "code": cat})
	}
	for k, list := range map[string][]map[string]any{"action": actions, "purpose": purposes, "class": classes} {
		if list != nil { // FHIR JSON has no nulls: an empty list is left out
			provision[k] = list
		}
	}
	res := map[string]any{
		"resourceType": "Consent", "id": g.ID, "status": status,
		"scope":     map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":  []map[string]any{{"coding": []map[string]string{{"system": "http://loinc.org", "code": "59284-0"}}}},
		"patient":   map[string]string{"reference": patientRef(g.Patient)},
		"provision": provision,
		// R4 requires a policy or policyRule (ppc-1): a grant is the patient opting in.
		"policyRule": map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}}},
	}
	var ext []map[string]any
	if g.Condition != "" {
		ext = append(ext, map[string]any{"url": "urn:carechain:consent-condition-cel", "valueString": g.Condition})
	}
	if g.Emergency {
		// The reason is sealed to the patient: it is in their access log.
		ext = append(ext, map[string]any{"url": "urn:carechain:emergency-access", "valueBoolean": true})
	}
	if g.Identified {
		ext = append(ext, map[string]any{"url": IdentifiedExtension, "valueBoolean": true})
	}
	if ext != nil {
		res["extension"] = ext
	}
	return res
}

// auditEvents shows the patient their access log (decrypted with their key
// on this node).
func (s *server) auditEvents(r *http.Request, c caller) ([]any, error) {
	patient, err := viewPatient(r, c)
	if err != nil {
		return nil, err
	}
	if patient != c.principal.ID {
		return nil, &records.DeniedError{Reason: "only the patient reads their access log"}
	}
	events, err := s.Records.AuditLog(patient)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(events))
	for _, e := range events {
		out = append(out, auditEvent(e))
	}
	return out, nil
}

// auditEvent is one access event as a FHIR AuditEvent. An entry that did
// not verify says only that, who anchored it and when (outcome 8).
func auditEvent(e records.Event) map[string]any {
	if e.Unverifiable {
		return map[string]any{
			"resourceType": "AuditEvent", "id": fhirID(e.ID),
			"type":     map[string]string{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
			"recorded": e.Time.Format(time.RFC3339Nano), "outcome": "8", "outcomeDesc": e.Reason,
			"agent":  []map[string]any{{"requestor": false}},
			"source": map[string]any{"observer": map[string]string{"display": e.Node}},
		}
	}
	outcome := "0"
	if e.Decision == carechain.DecisionDeny {
		outcome = "4"
	}
	desc := e.Reason
	if e.Count > 1 {
		desc = fmt.Sprintf("%s (%d times)", e.Reason, e.Count)
	}
	agent := map[string]any{"who": map[string]string{"reference": principalRef(e.Requester)}, "requestor": true}
	if e.Source != "" {
		// A refused request without a valid token: its requester is no
		// principal, only a placeholder such as "(unauthenticated)".
		agent["who"] = map[string]string{"display": e.Requester}
		agent["network"] = map[string]string{"address": e.Source, "type": "2"}
	}
	ae := map[string]any{
		"resourceType": "AuditEvent", "id": fhirID(e.ID), // the event ID starts with its node's principal ID
		"type":     map[string]string{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
		"action":   "R",
		"recorded": e.Time.Format(time.RFC3339Nano), "outcome": outcome, "outcomeDesc": desc,
		"agent":  eventAgents(agent, e.Client),
		"source": map[string]any{"observer": map[string]string{"display": e.Node}},
	}
	if e.Purpose != "" { // a refusal before authentication has none, and R4 has no empty codes
		ae["purposeOfEvent"] = []map[string]any{{"coding": []map[string]string{{"system": "urn:carechain:purpose", "code": string(e.Purpose)}}}}
	}
	if e.RecordID != "" {
		what := e.ResourceType + "/" + e.RecordID
		if e.Version != 0 { // a refusal names the record, not a version
			what = fmt.Sprintf("%s/_history/%d", what, e.Version)
		}
		ae["entity"] = []map[string]any{{"what": map[string]string{"reference": what}}}
	}
	if e.Emergency {
		ae["subtype"] = []map[string]string{{"system": "urn:carechain:access", "code": "break-glass"}}
	}
	return ae
}

// mayReview: proposals are visible to those who review them (Proposal.Reviewable).
func mayReview(c caller, p *ledger.Proposal) bool { return p.Reviewable(c.principal) }

// task shows a proposal as a FHIR Task.
func (s *server) task(p *ledger.Proposal) map[string]any {
	status := map[string]string{ledger.ProposalCommitted: "completed", ledger.ProposalRejected: "rejected"}[p.Status]
	switch {
	case status != "":
	case s.Now().Unix() >= p.Expires:
		status = "cancelled"
	case len(p.Approvals) > 0:
		status = "in-progress"
	default:
		status = "requested"
	}
	var notes []map[string]string
	for _, a := range p.Approvals {
		notes = append(notes, map[string]string{"authorReference": principalRef(a.Signer), "text": "approved as " + a.Term})
	}
	t := map[string]any{
		"resourceType": "Task", "id": p.ID, "status": status, "intent": "proposal",
		"code":        map[string]any{"coding": []map[string]string{{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "change"}}},
		"description": "correction proposed; its reason is sealed with the record (GET /v1/proposals/{id}/content)",
		"focus":       map[string]string{"reference": fmt.Sprintf("%s/%s/_history/%d", p.ResourceType, p.RecordID, p.BaseVersion)},
		"for":         map[string]string{"reference": patientRef(p.Patient)},
		"requester":   map[string]string{"reference": principalRef(p.Author)},
		"restriction": map[string]any{"period": map[string]string{"end": time.Unix(p.Expires, 0).UTC().Format(time.RFC3339)}},
		"input":       []map[string]any{{"type": map[string]string{"text": "rule"}, "valueString": fmt.Sprintf("%s of %v (policy v%d)", p.Rule.Kind, p.Rule.Terms, p.PolicyVersion)}},
	}
	if notes != nil {
		t["note"] = notes
	}
	if p.Status == ledger.ProposalRejected {
		t["statusReason"] = map[string]string{"text": "rejected by " + p.ClosedBy}
	}
	return t
}

// provenance shows who signed each version of a record: target=Type/id.
func (s *server) provenance(r *http.Request, c caller) ([]any, error) {
	typ, id, ok := strings.Cut(r.URL.Query().Get("target"), "/")
	if !ok {
		return nil, &records.DeniedError{Reason: "search needs target=<Type>/<id>"}
	}
	// Only someone who may read the record sees who wrote it; anyone else
	// gets what an absent record gets.
	if _, err := s.Records.Visible(r.Context(), c.principal.ID, id, c.purpose, consent.ActionRead); errors.Is(err, records.ErrNotVisible) {
		return nil, notFound(typ)
	} else if err != nil {
		return nil, err
	}
	if _, err := s.Records.Read(r.Context(), c.principal.ID, id, 0, c.purpose); err != nil {
		return nil, err
	}
	vs, err := c.view.RecordVersions(id)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, v := range vs {
		if v.ResourceType != typ {
			return nil, notFound(typ) // the record is of another type
		}
		author := map[string]any{
			"type":       map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}}},
			"who":        map[string]string{"reference": principalRef(v.Author)},
			"onBehalfOf": map[string]string{"reference": "Organization/" + v.AuthorOrg},
		}
		if v.PatientAuthored() { // a patient writes for themselves, for no organization
			delete(author, "onBehalfOf")
		}
		agents := []map[string]any{author}
		if v.Proposal != "" {
			if p, err := c.view.Proposal(v.Proposal); err == nil {
				for _, a := range p.Approvals {
					agents = append(agents, map[string]any{
						"type": map[string]any{"coding": []map[string]string{{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "attester"}}},
						"role": []map[string]any{{"text": a.Term}},
						"who":  map[string]string{"reference": principalRef(a.Signer)},
					})
				}
			}
		}
		out = append(out, map[string]any{
			"resourceType": "Provenance", "id": fmt.Sprintf("%s-%d", id, v.Version),
			"target":   []map[string]string{{"reference": fmt.Sprintf("%s/%s/_history/%d", typ, id, v.Version)}},
			"recorded": lastUpdated(v).Format(time.RFC3339),
			"agent":    agents,
		})
	}
	return out, nil
}

// eventAgents are an AuditEvent's agents: the requester and, when its
// token was issued to a registered client (a SMART app), that client as
// an agent of type Application (DICOM 110150).
func eventAgents(requester map[string]any, client string) []map[string]any {
	agents := []map[string]any{requester}
	if client != "" {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []map[string]string{{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}}},
			"who":       map[string]any{"identifier": map[string]string{"system": "urn:carechain:client", "value": client}, "display": client},
			"requestor": false,
		})
	}
	return agents
}
