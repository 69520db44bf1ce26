package fhirrest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// A FHIR Consent is a consent contract on the ledger: POST /fhir/Consent
// grants, PUT /fhir/Consent/{id} replaces, DELETE /fhir/Consent/{id}
// revokes. Only the patient (or a delegate they named) does any of them; the
// node must hold their signing key (passphrase login) and their encryption
// key (to deliver record keys to the grantee).
//
// A grant's terms never change on the ledger, so a replacement is a new
// grant: PUT revokes grant {id} and makes the new one in one transaction
// (both or neither), and answers 201 with the new Consent, whose id is new
// and whose Location is given; Consent {id} stays, inactive.

// IdentifiedExtension, valueBoolean true on a Consent for research, lets
// the researcher have the patient's data identified (deid.go); without it
// research answers are de-identified.
const IdentifiedExtension = "urn:carechain:research-identified"

type fhirConsent struct {
	ResourceType string     `json:"resourceType"`
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Patient      *reference `json:"patient"`
	Extension    []struct {
		URL          string `json:"url"`
		ValueString  string `json:"valueString"`
		ValueBoolean bool   `json:"valueBoolean"`
	} `json:"extension"`
	Provision consentProvision `json:"provision"`
}

func (fc *fhirConsent) resourceType() string { return fc.ResourceType }

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
		switch e.URL {
		case "urn:carechain:consent-condition-cel":
			g.Condition = e.ValueString
		case IdentifiedExtension:
			g.Identified = e.ValueBoolean
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
	s.grant(w, r, c, "", s.Records.Grant)
}

// updateConsent replaces grant {id} of the Consent's patient with the
// Consent's terms (records.Service.Replace). A grant of another patient is
// not found among this one's: 404, like an unknown id.
func (s *server) updateConsent(w http.ResponseWriter, r *http.Request, c caller) {
	old := r.PathValue("id")
	s.grant(w, r, c, old, func(ctx context.Context, signer records.Signer, g consent.Grant) (string, error) {
		return s.Records.Replace(ctx, signer, g.Patient, old, g)
	})
}

// grant makes the grant the request's Consent says (readConsent; id is the
// URL's, if any) with grantWith, signed by the caller, and answers 201 with it.
func (s *server) grant(w http.ResponseWriter, r *http.Request, c caller, id string, grantWith func(context.Context, records.Signer, consent.Grant) (string, error)) {
	g, err := s.readConsent(w, r, id)
	if err != nil {
		s.failErr(w, err)
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	made, err := grantWith(r.Context(), signer, g)
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.writeGrant(w, g.Patient, made)
}

// writeGrant answers 201 with the committed grant id of patient as a Consent.
func (s *server) writeGrant(w http.ResponseWriter, patient, id string) {
	grants, err := s.App.Latest().Grants(patient) // after the grant committed
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

// readConsent reads the body of POST /fhir/Consent (id "") or PUT
// /fhir/Consent/{id}: a new, active Consent, as the grant it makes. In an
// update, an id in the body must be the URL's, as in any FHIR update; a
// create ignores it (the ledger names grants).
func (s *server) readConsent(w http.ResponseWriter, r *http.Request, id string) (consent.Grant, error) {
	var fc fhirConsent
	if err := readTyped(w, r, carechain.MaxSmallRequestBytes, "Consent", &fc, "body is not a FHIR Consent"); err != nil {
		return consent.Grant{}, err
	}
	if id != "" && fc.ID != "" && fc.ID != id {
		return consent.Grant{}, &requestError{kind: carechain.KindMalformed, code: "value", path: "Consent.id",
			err: fmt.Errorf("Consent id %q does not match the URL's %q", fc.ID, id)}
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
