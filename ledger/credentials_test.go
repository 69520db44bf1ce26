package ledger

import (
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

// credentialsHarness adds a licensing body, board (admin board/admin), to
// the two hospitals, a physician of hosp-b (hosp-b/dr) and a clerk of
// hosp-a (hosp-a/clerk).
func credentialsHarness(t *testing.T) *harness {
	h := newHarnessWith(t, func(g *Genesis) {
		g.Organizations = append(g.Organizations, GenesisOrg{
			Organization: carechain.Organization{ID: "board", Name: "Medical Board", Type: carechain.OrgLicensing, EncryptionKey: encKey(t, 4).Public().Bytes()},
			Admins:       []GenesisAdmin{{ID: "board/admin", PublicKey: pub(4)}}})
	})
	h.keys["board/admin"] = key(4)
	codes := h.block(
		h.register("hosp-b/admin", "hosp-b/dr", carechain.KindPractitioner, 61, carechain.RolePhysician),
		h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 62, carechain.RoleRegistrationClerk),
		h.register("board/admin", "board/officer", carechain.KindPractitioner, 63, carechain.RoleCredentialingOfficer),
	)
	for i, c := range codes {
		if c != CodeOK {
			t.Fatalf("setup tx %d: %v", i, c)
		}
	}
	return h
}

func cardiology(id string, expiry int64) *tx.CredentialIssue {
	return &tx.CredentialIssue{ID: id, Practitioner: "hosp-b/dr", Kind: carechain.CredentialSpecialty, Value: "cardiology",
		ValidFrom: blockTime(1).Unix(), Expiry: expiry}
}

// TestCredentialIssueAndRevoke: who may issue and revoke, and a
// revocation applies from its height: consent conditions judged at an
// earlier height still see the credential.
func TestCredentialIssueAndRevoke(t *testing.T) {
	h := credentialsHarness(t)
	for _, tc := range []struct {
		name   string
		signer string
		typ    tx.Type
		body   any
		stage  Stage
		code   Code
		reason string
	}{
		{"a clerk issues", "hosp-a/clerk", tx.TypeCredentialIssue, cardiology("c1", 0), StageFinalize, CodeUnauthorized, "credentialing officer may"},
		{"to a non-practitioner", "board/admin", tx.TypeCredentialIssue, func() *tx.CredentialIssue { c := cardiology("c1", 0); c.Practitioner = "hosp-a/admin"; return c }(), StageFinalize, CodeInvalid, "not an active registered practitioner"},
		{"an unknown kind", "board/admin", tx.TypeCredentialIssue, func() *tx.CredentialIssue { c := cardiology("c1", 0); c.Kind = "hobby"; return c }(), StageCheck, CodeInvalid, "credential kind"},
		{"expiry before start", "board/admin", tx.TypeCredentialIssue, cardiology("c1", 5), StageCheck, CodeInvalid, "expires after it"},
		{"no such credential", "board/admin", tx.TypeCredentialRevoke, &tx.CredentialRevoke{ID: "c9", Reason: "x"}, StageFinalize, CodeInvalid, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) { h.judge(h.sign(tc.signer, tc.typ, tc.body), tc.stage, tc.code, tc.reason) })
	}
	if c := h.block(h.sign("board/officer", tx.TypeCredentialIssue, cardiology("c1", 0)),
		h.sign("hosp-a/admin", tx.TypeCredentialIssue, &tx.CredentialIssue{ID: "c2", Practitioner: "hosp-b/dr", Kind: carechain.CredentialLicence,
			Value: "GMC-7731", ValidFrom: blockTime(1).Unix(), Expiry: blockTime(h.height + 3).Unix()})); c[0] != CodeOK || c[1] != CodeOK {
		t.Fatalf("issue: %v", c)
	}
	issued := h.height
	h.judge(h.sign("board/admin", tx.TypeCredentialIssue, cardiology("c1", 0)), StageFinalize, CodeConflict, "credential c1 exists")
	h.judge(h.sign("hosp-a/admin", tx.TypeCredentialRevoke, &tx.CredentialRevoke{ID: "c1", Reason: "x"}), StageFinalize, CodeUnauthorized, "only its issuer board")
	if c := h.block(h.sign("board/admin", tx.TypeCredentialRevoke, &tx.CredentialRevoke{ID: "c1", Reason: "licence suspended"})); c[0] != CodeOK {
		t.Fatalf("revoke: %v", c)
	}
	h.judge(h.sign("board/admin", tx.TypeCredentialRevoke, &tx.CredentialRevoke{ID: "c1", Reason: "again"}), StageFinalize, CodeConflict, "was revoked at height")

	grant := consent.Grant{ID: "g1", Patient: "patient/p", Grantee: consent.Grantee{Principal: "hosp-b/dr"}, Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, Condition: `grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")`}
	decide := func(v *View, now int64) consent.Decision {
		dr, err := v.Principal("hosp-b/dr")
		if err != nil {
			t.Fatal(err)
		}
		return consent.Evaluate([]consent.Grant{grant}, consent.Request{Requester: dr, Patient: "patient/p", Category: "vital-signs",
			Action: consent.ActionRead, Purpose: consent.PurposeTreatment, Time: now, Credentials: v.ConsentCredentials(dr.ID, now)})
	}
	if d := decide(h.at(issued), blockTime(issued).Unix()); !d.Allowed {
		t.Fatalf("at the issuing height: %+v", d)
	}
	d := decide(h.at(h.height), blockTime(h.height).Unix())
	if d.Allowed || !strings.Contains(d.Reason, "credential c1 was revoked at height") || !strings.Contains(d.Reason, "licence suspended") {
		t.Fatalf("after the revocation: %+v", d)
	}
	// The licence expires at its time: judged later, it is no longer valid.
	grant.Condition = `grantee.credentials.exists(c, c.kind == "licence")`
	if d := decide(h.at(h.height), blockTime(issued).Unix()); !d.Allowed {
		t.Fatalf("licence before its expiry: %+v", d)
	}
	if d := decide(h.at(h.height), blockTime(issued+5).Unix()); d.Allowed || !strings.Contains(d.Reason, "credential c2 expired at") {
		t.Fatalf("licence after its expiry: %+v", d)
	}
}
