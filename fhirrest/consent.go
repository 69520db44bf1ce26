package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
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
	Provision struct {
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
	} `json:"provision"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// grantOf maps a FHIR Consent to a grant; errors name the failing element.
func grantOf(fc *fhirConsent, now time.Time) (consent.Grant, string, error) {
	var g consent.Grant
	if fc.Patient == nil {
		return g, "Consent.patient", errors.New("a consent names its patient")
	}
	p, ok := patientOf(fc.Patient.Reference)
	if !ok {
		return g, "Consent.patient", fmt.Errorf("patient %q is not Patient/<id>", fc.Patient.Reference)
	}
	g.Patient = p
	pr := fc.Provision
	if len(pr.Actor) != 1 {
		return g, "Consent.provision.actor", errors.New("name exactly one actor (the grantee)")
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
		return g, "Consent.provision.actor.reference", fmt.Errorf("actor %q: want Practitioner/<id> or Organization/<id>", ref)
	}
	for _, a := range pr.Action {
		for _, c := range a.Coding {
			switch c.Code {
			case "access", "use", "read":
				g.Actions = append(g.Actions, consent.ActionRead)
			case "correct", "collect", "write":
				g.Actions = append(g.Actions, consent.ActionWrite)
			default:
				return g, "Consent.provision.action", fmt.Errorf("action %q: want access (read) or correct (write)", c.Code)
			}
		}
	}
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
	g.NotBefore = now.Unix()
	if pr.Period != nil {
		for _, b := range []struct {
			v   string
			dst *int64
		}{{pr.Period.Start, &g.NotBefore}, {pr.Period.End, &g.NotAfter}} {
			if b.v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, b.v)
			if err != nil {
				return g, "Consent.provision.period", fmt.Errorf("period: %v", err)
			}
			*b.dst = t.Unix()
		}
	}
	for _, e := range fc.Extension {
		if e.URL == "urn:carechain:consent-condition-cel" {
			g.Condition = e.ValueString
		}
	}
	g.Actions, g.Purposes = slices.Compact(g.Actions), slices.Compact(g.Purposes)
	check := g
	check.ID = "check"
	if err := check.Validate(); err != nil {
		return g, "Consent.provision", err
	}
	return g, "", nil
}

func (s *server) createConsent(w http.ResponseWriter, r *http.Request, c caller) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, carechain.MaxSmallRequestBytes))
	if err != nil {
		s.fail(w, http.StatusRequestEntityTooLarge, "too-costly", errors.New("consent over 64 KiB"))
		return
	}
	var fc fhirConsent
	if err := json.Unmarshal(b, &fc); err != nil || fc.ResourceType != "Consent" {
		s.fail(w, http.StatusBadRequest, "structure", errors.New("body is not a FHIR Consent"))
		return
	}
	if fc.Status != "" && fc.Status != "active" {
		s.fail(w, http.StatusBadRequest, "value", errors.New("a new consent is active"), "Consent.status")
		return
	}
	g, path, err := grantOf(&fc, s.Now())
	if err != nil {
		s.fail(w, http.StatusBadRequest, "invalid", err, path)
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
	v, err := s.App.View(0) // after the grant committed
	if err != nil {
		s.failErr(w, err)
		return
	}
	grants, err := v.Grants(g.Patient)
	if err != nil {
		s.failErr(w, err)
		return
	}
	i := slices.IndexFunc(grants, func(sg ledger.StoredGrant) bool { return sg.ID == id })
	if i < 0 {
		s.fail(w, http.StatusInternalServerError, "exception", fmt.Errorf("grant %s not found after commit", id))
		return
	}
	w.Header().Set("Location", strings.TrimRight(s.BaseURL, "/")+"/fhir/Consent/"+id)
	writeFHIR(w, http.StatusCreated, consentResource(grants[i]))
}

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
		if strings.Contains(err.Error(), "has no grant") {
			s.fail(w, http.StatusNotFound, "not-found", err)
			return
		}
		s.failErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
