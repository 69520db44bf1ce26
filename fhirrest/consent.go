package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
)

// A FHIR Consent is a consent contract on the ledger: POST /fhir/Consent
// grants, DELETE /fhir/Consent/{id} revokes. Only the patient (or a delegate
// they named) does either; the node must hold their signing key (passphrase
// login) and their encryption key (to deliver record keys to the grantee).

type fhirConsent struct {
	ResourceType string     `json:"resourceType"`
	Status       string     `json:"status"`
	Patient      *reference `json:"patient"`
	Extension    []struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	} `json:"extension"`
	Provision consentProvision `json:"provision"`
}

type consentProvision struct {
	Period *struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	Actor []struct {
		Reference reference       `json:"reference"`
		Role      codeableConcept `json:"role"`
	} `json:"actor"`
	Action  []codeableConcept `json:"action"`
	Purpose []coding          `json:"purpose"`
	Class   []coding          `json:"class"`
	Data    []struct {
		Reference reference `json:"reference"`
	} `json:"data"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type reference struct {
	Reference string `json:"reference"`
}

// badConsent is a Consent refused for its element at path.
func badConsent(path string, err error) error {
	return &requestError{kind: carechain.KindMalformed, path: path, err: err}
}

// grantOf maps a FHIR Consent to a grant; errors name the failing element.
func grantOf(fc *fhirConsent, now time.Time) (consent.Grant, error) {
	var g consent.Grant
	if fc.Patient == nil {
		return g, badConsent("Consent.patient", errors.New("a consent names its patient"))
	}
	p, ok := patientOf(fc.Patient.Reference)
	if !ok {
		return g, badConsent("Consent.patient", fmt.Errorf("patient %q is not Patient/<id>", fc.Patient.Reference))
	}
	g.Patient = p
	pr := &fc.Provision
	if err := setGrantee(&g, pr); err != nil {
		return g, err
	}
	if err := setActions(&g, pr); err != nil {
		return g, err
	}
	setScope(&g, pr)
	if err := setPeriod(&g, pr, now); err != nil {
		return g, err
	}
	for _, e := range fc.Extension {
		if e.URL == "urn:carechain:consent-condition-cel" {
			g.Condition = e.ValueString
		}
	}
	g.Actions, g.Purposes = slices.Compact(g.Actions), slices.Compact(g.Purposes)
	check := g
	check.ID = "check" // the ledger assigns the ID; Validate wants one
	if err := check.Validate(); err != nil {
		return g, badConsent("Consent.provision", err)
	}
	return g, nil
}

// setGrantee sets the grantee: the provision's one actor, a practitioner or
// an organization (with a role, if the actor names one).
func setGrantee(g *consent.Grant, pr *consentProvision) error {
	if len(pr.Actor) != 1 {
		return badConsent("Consent.provision.actor", errors.New("name exactly one actor (the grantee)"))
	}
	switch ref := pr.Actor[0].Reference.Reference; {
	case strings.HasPrefix(ref, "Practitioner/"):
		g.Grantee.Principal = principalID(strings.TrimPrefix(ref, "Practitioner/"))
	case strings.HasPrefix(ref, "Organization/"):
		g.Grantee.Org = strings.TrimPrefix(ref, "Organization/")
		for _, c := range pr.Actor[0].Role.Coding {
			if c.System == "urn:carechain:role" {
				g.Grantee.Role = carechain.Role(c.Code)
			}
		}
	default:
		return badConsent("Consent.provision.actor.reference", fmt.Errorf("actor %q: want Practitioner/<id> or Organization/<id>", ref))
	}
	return nil
}

// setActions maps the provision's consent actions to read and write.
func setActions(g *consent.Grant, pr *consentProvision) error {
	for _, a := range pr.Action {
		for _, c := range a.Coding {
			switch c.Code {
			case "access", "use", "read":
				g.Actions = append(g.Actions, consent.ActionRead)
			case "correct", "collect", "write":
				g.Actions = append(g.Actions, consent.ActionWrite)
			default:
				return badConsent("Consent.provision.action", fmt.Errorf("action %q: want access (read) or correct (write)", c.Code))
			}
		}
	}
	return nil
}

// setScope sets the purposes, and what the grant covers: resource types and
// categories (the provision's classes) or one record (its data).
func setScope(g *consent.Grant, pr *consentProvision) {
	for _, c := range pr.Purpose {
		g.Purposes = append(g.Purposes, consent.Purpose(c.Code))
	}
	for _, c := range pr.Class {
		if c.System == "http://hl7.org/fhir/resource-types" {
			g.ResourceTypes = append(g.ResourceTypes, c.Code)
		} else {
			g.Categories = append(g.Categories, c.Code)
		}
	}
	if len(pr.Data) == 1 {
		_, id, _ := strings.Cut(pr.Data[0].Reference.Reference, "/")
		g.RecordID = id
	}
}

// setPeriod sets when the grant holds: from now, or the provision's period.
func setPeriod(g *consent.Grant, pr *consentProvision, now time.Time) error {
	g.NotBefore = now.Unix()
	if pr.Period == nil {
		return nil
	}
	for _, b := range []struct {
		v   string
		dst *int64
	}{{pr.Period.Start, &g.NotBefore}, {pr.Period.End, &g.NotAfter}} {
		if b.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.v)
		if err != nil {
			return badConsent("Consent.provision.period", fmt.Errorf("period: %v", err))
		}
		*b.dst = t.Unix()
	}
	return nil
}

func (s *server) createConsent(w http.ResponseWriter, r *http.Request, c caller) {
	g, err := s.readConsent(w, r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	id, err := s.Records.Grant(r.Context(), signer, g)
	if err != nil {
		s.failErr(w, err)
		return
	}
	grants, err := s.App.Latest().Grants(g.Patient) // after the grant committed
	if err != nil {
		s.failErr(w, err)
		return
	}
	i := slices.IndexFunc(grants, func(sg ledger.StoredGrant) bool { return sg.ID == id })
	if i < 0 {
		s.failErr(w, fmt.Errorf("grant %s not found after commit", id))
		return
	}
	w.Header().Set("Location", s.abs("/fhir/Consent/"+id))
	writeFHIR(w, http.StatusCreated, consentResource(grants[i]))
}

// readConsent reads the body of POST /fhir/Consent: a new, active Consent,
// as the grant it makes.
func (s *server) readConsent(w http.ResponseWriter, r *http.Request) (consent.Grant, error) {
	b, err := readBody(w, r, carechain.MaxSmallRequestBytes)
	if err != nil {
		return consent.Grant{}, err
	}
	var fc fhirConsent
	if err := fhirjson.Unmarshal(b, &fc); err != nil {
		return consent.Grant{}, fmt.Errorf("the Consent: %w", err)
	}
	if fc.ResourceType != "Consent" {
		return consent.Grant{}, &requestError{kind: carechain.KindMalformed, code: "structure", err: errors.New("body is not a FHIR Consent")}
	}
	if fc.Status != "" && fc.Status != "active" {
		return consent.Grant{}, &requestError{kind: carechain.KindMalformed, code: "value", path: "Consent.status", err: errors.New("a new consent is active")}
	}
	return grantOf(&fc, s.Now())
}

// deleteConsent revokes a grant. An unknown grant is 404 (records.Revoke
// wraps ledger.ErrNotFound).
func (s *server) deleteConsent(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	patient := c.principal.ID
	if p := r.URL.Query().Get("patient"); p != "" { // a delegate names the patient
		if pid, ok := patientOf(p); ok {
			patient = pid
		}
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	if err := s.Records.Revoke(r.Context(), signer, patient, id); err != nil {
		s.failErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
