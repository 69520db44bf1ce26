package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/vc"
)

// TestPortalCredentialsInChromium: St Mary's admin (a hospital issues
// credentials as its credentialing office) finds "Credentials" in the
// navigation, issues Dr. Chen a cardiology specialty, is refused a second
// credential with the same ID (the ledger's reason on the page),
// downloads the credential as a W3C Verifiable Credential that verifies
// (eddsa-jcs-2022, did:key of the admin's key) and names its status URL
// on this node, and revokes it, which the table then shows with the
// reason. A physician has neither the link nor the page. Each page passes
// the axe checks.
func TestPortalCredentialsInChromium(t *testing.T) {
	_, _, addr := demoForBrowser(t)
	b := newBrowser(t, "http://"+addr)
	b.signIn("st-mary/admin")
	b.want("Credentials")
	b.open("/portal/credentials")
	b.want("Your organization has issued no credential.", "Issue a credential")
	b.screenshot("credentials-empty")
	issue := map[string]string{"credential-id": "card-1", "credential-practitioner": "st-mary/dr-chen", "credential-kind": "specialty",
		"credential-value": "cardiology", "credential-until": "2030-12-31"}
	b.fill(issue)
	b.submit("#credential-issue")
	b.want("Issued credential card-1 (specialty cardiology) to st-mary/dr-chen.", "specialty: cardiology", "to 2030-12-31", "active")
	b.screenshot("credentials-issued")
	b.fill(issue)
	b.submit("#credential-issue")
	b.want("Not done:", "card-1")

	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch("/portal/credentials/card-1/vc").then(r => r.ok ? r.text() : "status " + r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := vc.Verify([]byte(raw))
	if err != nil {
		t.Fatalf("the downloaded credential does not verify: %v\n%s", err, raw)
	}
	if !strings.Contains(raw, `"cardiology"`) || !strings.Contains(raw, "http://"+addr+"/v1/credentials/card-1/status") || doc["issuer"] == nil {
		t.Fatalf("the verifiable credential lacks the value, the status URL on this node or its issuer:\n%s", raw)
	}

	b.fill(map[string]string{"reason-card-1": "licence suspended by the board"})
	b.submit("#revoke-card-1")
	b.want("Revoked credential card-1", "revoked", "licence suspended by the board")
	b.screenshot("credentials-revoked")
	if raw, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch("/portal/credentials/nope/vc").then(r => "status " + r.status)`, chromedp.EvalAwaitPromise)); raw != "status 404" {
		t.Errorf("the verifiable credential of a credential never issued answered %s", raw)
	}
	b.signOut()

	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Credentials") {
		t.Error("a physician's navigation has Credentials")
	}
	if resp := b.open("/portal/credentials"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("a physician's credentials page: %+v", resp)
	}
	b.want("This page is for a licensing body's or a hospital's admins and credentialing officers.")
}
