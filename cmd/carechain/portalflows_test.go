package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// approveXRayCorrection has the four signers of the demo's correction of
// patient/demo-04's chest X-ray sign in and approve it on the Approvals
// page, each seeing the current and the proposed version side by side;
// after the last signature the patient sees the corrected version, locked.
func approveXRayCorrection(t *testing.T, b *browser) {
	t.Helper()
	const patient = "patient/demo-04"
	signers := []string{"st-mary/ms-reyes", "st-mary/dr-novak", "st-mary/dr-ito", patient}
	for _, who := range signers {
		b.signIn(who)
		b.open("/portal/approvals")
		b.want("Correction am-", "demo-04-chest-xray", "Proposed version", "Small left apical pneumothorax", "missed finding on first read")
		if who == "st-mary/dr-novak" { // a radiologist reads the current version too
			b.want("Current version", "No acute cardiopulmonary abnormality", "1 of 4 signatures")
			b.screenshot("approvals")
		}
		b.submit("button.approve")
		b.want("Your approval is on the ledger", "Nothing waits for your signature")
		b.signOut()
	}
	b.signIn(patient)
	b.open("/portal/records?category=imaging")
	b.want("Small left apical pneumothorax", "Approved correction (am-", "locked", "version 2")
	if strings.Contains(b.text(), "No acute cardiopulmonary abnormality") {
		t.Fatal("the patient's records still show the uncorrected version")
	}
	b.screenshot("corrected-record")
	b.signOut()
}

// rejectCorrection has St Mary's radiologist propose, over FHIR, a
// correction of patient/demo-08's chest X-ray (under the same approval
// policy); the hospital authority rejects it in the browser, which needs a
// reason, and it no longer waits for anyone.
func rejectCorrection(t *testing.T, b *browser, base string) {
	t.Helper()
	body := `{"resourceType":"DiagnosticReport","id":"demo-08-chest-xray","status":"amended",
		"code":{"coding":[{"system":"http://loinc.org","code":"36643-5","display":"XR Chest 2 Views"}]},
		"subject":{"reference":"Patient/demo-08"},"conclusion":"Right lower lobe consolidation."}`
	if code := fhirStatus(t, http.MethodPut, base+"/fhir/DiagnosticReport/demo-08-chest-xray", demoToken(t, base, "st-mary/dr-okafor"), body); code != http.StatusAccepted {
		t.Fatalf("PUT DiagnosticReport/demo-08-chest-xray: HTTP %d, want 202", code)
	}
	b.signIn("st-mary/ms-reyes")
	b.open("/portal/approvals")
	b.want("demo-08-chest-xray", "Right lower lobe consolidation")
	b.do("clear the reason's required flag", chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=reason]").required = false`))
	b.submit("button.danger") // the server, too, refuses a rejection without a reason
	b.want("Say why you reject the correction")
	b.open("/portal/approvals")
	b.do("state a reason", chromedp.SendKeys(chromedp.CSS("input[name=reason]"), "the image is of another patient"))
	b.submit("button.danger")
	b.want("Your rejection is on the ledger", "Nothing waits for your signature")
	b.screenshot("approvals-rejected")
	b.signOut()
}

// breakGlass has a physician of another hospital, refused the chart of
// patient/demo-02 (registered at St Mary's), break the glass in the
// browser with a reason and read it; the patient's access log then shows
// the emergency access highlighted.
func breakGlass(t *testing.T, b *browser) {
	t.Helper()
	const patient, physician = "patient/demo-02", "city-general/dr-meyer"
	b.signIn(physician)
	if resp := b.open("/portal/patients/demo-02"); resp.Status != http.StatusForbidden {
		t.Fatalf("chart of %s without consent: HTTP %d", patient, resp.Status)
	}
	b.want("Access refused", "Emergency access")
	b.do("clear the form's required flag", chromedp.Evaluate[chromedp.Void](`document.querySelector("#emergency-reason").required = false`))
	b.submit("#break-glass button") // the server, too, refuses it without a reason
	b.want("Emergency access needs a reason")
	b.open("/portal/patients/demo-02")
	b.do("state a reason", chromedp.SendKeys(chromedp.ID("emergency-reason"), "unconscious in the emergency department"))
	b.screenshot("break-glass-form")
	b.submit("#break-glass button")
	b.want("Chart of "+patient, "Emergency access", "Glucose")
	b.screenshot("break-glass-chart")
	b.signOut()

	b.signIn(patient)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/portal/log?person=" + url.QueryEscape(physician))
		n, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.log tr.allowed.emergency").length`))
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log shows no emergency access of %s:\n%s", physician, b.text())
		}
		time.Sleep(300 * time.Millisecond) // the log is on the ledger: nothing to wait on from here
	}
	b.want("Emergency access", "unconscious in the emergency department")
	b.screenshot("access-log-emergency")
	b.signOut()
}

// verifiedHistory has the patient open the version history of their
// corrected X-ray: both versions carry a green mark, computed in the
// browser from the node's proofs against the validator set pinned at this
// first visit. A proof with one changed byte turns a mark red, and so does
// every proof once the browser's pinned set is another, until the patient
// accepts the set the node reports.
func verifiedHistory(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("patient/demo-04")
	b.open("/portal/records?category=imaging")
	b.submit(`a[href="/portal/history/demo-04-chest-xray"]`)
	wantMarks(t, b, "ok", 2)
	b.want("Versions of demo-04-chest-xray", "approved by", "Ana Reyes", "Dr. Jana Novak", "Validator set pinned in this browser: fingerprint")
	b.screenshot("version-history")

	tampered, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => {
		const m = document.querySelector("[data-proof]");
		const bundle = await (await fetch(m.dataset.proof)).json();
		const c = Uint8Array.from(atob(bundle.content), (x) => x.charCodeAt(0));
		c[10] ^= 1;
		bundle.content = btoa(String.fromCharCode(...c));
		await carechainProof.check(m, bundle);
		return m.className + ": " + m.textContent;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(tampered, "mark bad: ") || !strings.Contains(tampered, "content does not match") {
		t.Fatalf("a tampered proof: %q, %v", tampered, err)
	}
	b.screenshot("version-history-tampered")

	b.do("pin another validator set", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("carechain.validators",
		JSON.stringify([{key: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))), power: "10"}]))`))
	b.open("/portal/history/demo-04-chest-xray")
	wantMarks(t, b, "bad", 2)
	b.want("not signed by more than two thirds of your pinned validator set", "different from the one pinned")
	b.screenshot("version-history-other-set")
	b.submit("#accept-set")
	wantMarks(t, b, "ok", 2)
	b.signOut()
}

// wantMarks waits for the page's verified marks to be computed and fails
// unless n of them are of class (ok or bad).
func wantMarks(t *testing.T, b *browser, class string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(".mark:not(.ok):not(.bad)").length`))
		if err == nil && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verified marks are still being computed: %v\n%s", err, b.text())
		}
		time.Sleep(100 * time.Millisecond) // the browser computes them: nothing to wait on from here
	}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(".mark.`+class+`").length`))
	if err != nil || got != n {
		t.Fatalf("%d marks of class %s, want %d (%v):\n%s", got, class, n, err, b.text())
	}
}
