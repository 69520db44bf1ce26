package fhirrest

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// fhirIDPattern is R4's id data type, which every Resource.id has.
var fhirIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// TestAuditEventIDIsAFHIRID: an access event's ID starts with its node's
// principal ID ("st-mary/node-…"), and a '/' is not allowed in a FHIR id.
func TestAuditEventIDIsAFHIRID(t *testing.T) {
	for _, e := range []records.Event{
		{ID: "st-mary/node-1796234420233708956-36", Time: time.Unix(1, 0), Requester: "st-mary/dr-chen"},
		{ID: "st-mary/node-1796234420233708956-37", Time: time.Unix(1, 0), Unverifiable: true},
	} {
		if id, _ := auditEvent(e)["id"].(string); !fhirIDPattern.MatchString(id) {
			t.Errorf("AuditEvent id %q (event %s) is not a FHIR id", id, e.ID)
		}
	}
}

// TestRefusalAuditEventIsValid: a refusal before authentication has no
// purpose, no requester principal and no version; its AuditEvent leaves
// out the empty purpose code, shows the placeholder requester as a display
// (not a reference to Practitioner/(unauthenticated)) and names the record.
func TestRefusalAuditEventIsValid(t *testing.T) {
	ae := auditEvent(records.Event{ID: "n-1-2", Time: time.Unix(1, 0), Requester: "(unauthenticated)", Source: "192.0.2.1",
		RecordID: "rec-1", ResourceType: "Observation", Decision: carechain.DecisionDeny, Reason: "no valid bearer token"})
	if _, ok := ae["purposeOfEvent"]; ok {
		t.Errorf("purposeOfEvent without a purpose: %v", ae["purposeOfEvent"])
	}
	who := ae["agent"].([]map[string]any)[0]["who"].(map[string]string)
	if who["reference"] != "" || who["display"] != "(unauthenticated)" {
		t.Errorf("agent.who of an unauthenticated request: %v", who)
	}
	what := ae["entity"].([]map[string]any)[0]["what"].(map[string]string)["reference"]
	if what != "Observation/rec-1" {
		t.Errorf("entity.what of a refusal: %q, want Observation/rec-1", what)
	}
}

// TestConsentHasAPolicyRule: R4's ppc-1 requires a Consent to have a policy
// or a policyRule.
func TestConsentHasAPolicyRule(t *testing.T) {
	c := consentResource(ledger.StoredGrant{Grant: consent.Grant{ID: "g-1", Patient: "patient/p",
		Grantee: consent.Grantee{Principal: "hosp-a/dr-a"}, Actions: []consent.Action{consent.ActionRead}}})
	if c["policy"] == nil && c["policyRule"] == nil {
		t.Errorf("Consent without policy or policyRule: %v", c)
	}
}

// TestPatientIsReferencedAsPatient: a patient reading their own record is
// their Patient in the AuditEvent, not a Practitioner that does not exist.
func TestPatientIsReferencedAsPatient(t *testing.T) {
	ae := auditEvent(records.Event{ID: "n-1-3", Time: time.Unix(1, 0), Requester: carechain.PatientPrefix + "p",
		RecordID: "rec-1", ResourceType: "Observation", Version: 1, Decision: carechain.DecisionAllow, Purpose: "treatment"})
	if who := ae["agent"].([]map[string]any)[0]["who"].(map[string]string); who["reference"] != "Patient/p" {
		t.Errorf("agent.who of the patient: %v, want Patient/p", who)
	}
}

// TestConsentToARoleHasALogicalReference: a grant to a role at an
// organization names its grantee by a logical reference, since a
// conditional reference (PractitionerRole?…) is valid only in a transaction.
func TestConsentToARoleHasALogicalReference(t *testing.T) {
	c := consentResource(ledger.StoredGrant{Grant: consent.Grant{ID: "g-2", Patient: "patient/p",
		Grantee: consent.Grantee{Org: "biomed", Role: carechain.RoleResearcher}, Actions: []consent.Action{consent.ActionRead}}})
	actor := c["provision"].(map[string]any)["actor"].([]any)[0].(map[string]any)
	ref, _ := actor["reference"].(map[string]any)
	id, _ := ref["identifier"].(map[string]string)
	if ref["type"] != "PractitionerRole" || id["value"] != "biomed/researcher" || ref["reference"] != nil {
		t.Errorf("actor of a grant to researchers of biomed: %v", actor["reference"])
	}
}

// TestPractitionerQualificationIsValidR4: a Practitioner's qualifications
// are its credentials valid now (not the revoked, expired or future ones),
// and it stays valid FHIR R4.
func TestPractitionerQualificationIsValidR4(t *testing.T) {
	now := time.Unix(1_850_000_000, 0)
	cred := func(id string, edit func(*carechain.Credential)) *carechain.Credential {
		c := &carechain.Credential{ID: id, Practitioner: "clinic/dr-card", Kind: carechain.CredentialSpecialty, Value: "cardiology",
			IssuerOrg: "board", Issuer: "board/admin", ValidFrom: 1_800_000_000, Expiry: 1_900_000_000}
		if edit != nil {
			edit(c)
		}
		return c
	}
	quals := qualifications([]*carechain.Credential{
		cred("valid", nil),
		cred("revoked", func(c *carechain.Credential) { c.RevokedAt = 9 }),
		cred("expired", func(c *carechain.Credential) { c.Expiry = now.Unix() }),
		cred("future", func(c *carechain.Credential) { c.ValidFrom = now.Unix() + 1 }),
		cred("no-expiry", func(c *carechain.Credential) {
			c.Expiry = 0
			c.Kind = carechain.CredentialLicence
			c.Value = "GMC-7731"
		}),
	}, now)
	if len(quals) != 2 || quals[0]["identifier"].([]map[string]string)[0]["value"] != "valid" || quals[1]["period"].(map[string]string)["end"] != "" {
		t.Fatalf("qualifications: %v", quals)
	}
	res := practitioner(carechain.Principal{ID: "clinic/dr-card", Name: "Dr Card", Status: carechain.StatusActive})
	res["qualification"] = quals
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fhirjson.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
}
