package main

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalStudiesInChromium: on the demo, whose BioMed Research
// Institute registered study glyco-1 with City General as its ethics board,
// committed its seed, enrolled patient demo-14 and proposed amendment 2, a
// patient finds "Studies" in the navigation, reads the study's sponsor,
// data categories, period and the plain-language consent summary the CLI
// prints, joins (the study consent), then sees what is shared and that
// they are not enrolled yet, and withdraws (what was recorded before
// stays, later data is not shared) and may join again. City General's
// admin finds "Study amendments", reads amendment 2's reason and changes
// and approves it with the board's reason; BioMed's admin finds "Sponsored
// studies" with version 2 approved (with the board's reason), version 1,
// the seed committed and one enrolment. The enrolled patient sees their
// enrolment, its group concealed while the study is blinded. St Mary's
// admin, of no ethics board, has no Study amendments page but registers a
// study of its own on Sponsored studies, uploading its protocol and
// analysis plan (the page shows the protocol's SHA-256). St Mary's
// physician finds glyco-1 on Study enrolment (not the new study, whose
// randomization is not committed) and is refused the patient who withdrew;
// a physician has neither the patient's nor the sponsor's page. Each page
// passes the axe checks.
func TestPortalStudiesInChromium(t *testing.T) {
	_, _, addr := demoForBrowser(t)
	b := newBrowser(t, "http://"+addr)
	b.signIn("patient/demo-05")
	b.want("Studies")
	b.open("/portal/studies")
	b.want(demo.StudyTitle, "BioMed Research Institute (biomed)", "Data categories", "lab", "until you withdraw",
		`Joining study glyco-1 ("`+demo.StudyTitle+`") lets researchers of its sponsor biomed read your records in these categories: lab`,
		"They receive them de-identified", "You may withdraw at any time", "Join")
	b.screenshot("studies-patient")
	b.submit("#join-glyco-1")
	b.want("You joined the study.", "What is shared", "researchers of BioMed Research Institute (biomed) read your records in these categories: lab, de-identified, for research only",
		"You are not enrolled yet", "Withdraw")
	b.screenshot("studies-joined")
	b.submit("#withdraw-glyco-1")
	b.want("You withdrew from the study: nothing you record from now on is shared with it; what was recorded before stays in the study's data",
		"You withdrew from this study", "Join")
	if strings.Contains(b.text(), "What is shared") {
		t.Error("after withdrawing the page still shows what is shared")
	}
	b.screenshot("studies-withdrawn")
	b.signOut()

	b.signIn("city-general/admin")
	b.want("Study amendments")
	b.open("/portal/studies/review")
	b.want("Amendment 2 of glyco-1", demo.StudyAmendReason, "adds secondary endpoint weight-6m", "BioMed Research Institute (biomed)")
	b.screenshot("studies-review")
	b.fill(map[string]string{"reason-glyco-1-2": "weight is a known signal of the class"})
	b.submit("#approve-glyco-1-2")
	b.want("Approved amendment 2 of study glyco-1. It is the protocol in force from now on.", "No amendment awaits your decision.",
		"approved by city-general/admin", "weight is a known signal of the class")
	b.screenshot("studies-decided")
	b.signOut()

	b.signIn("biomed/admin")
	b.want("Sponsored studies")
	b.open("/portal/studies/sponsor")
	b.want(demo.StudyTitle+" (glyco-1)", "City General Hospital (city-general)", "version 2", "approved: weight is a known signal of the class",
		"adds secondary endpoint weight-6m", "registered", "No report of results yet.", "No data lock yet.", "seed committed, blinded")
	if got := b.textOf("enrolled-glyco-1"); got != "1" {
		t.Errorf("the sponsor's page shows %q enrolled, want 1", got)
	}
	b.screenshot("studies-sponsor")
	b.signOut()

	b.signIn(demo.StudyPatient)
	b.open("/portal/studies")
	b.want("What is shared", "You are enrolled as subject glyco-1.1: the study's criteria of version 1 found you eligible.",
		"Your group stays concealed until the study is unblinded.")
	b.screenshot("studies-enrolled")
	b.signOut()

	b.signIn("st-mary/admin")
	if txt := b.text(); strings.Contains(txt, "Study amendments") || !strings.Contains(txt, "Sponsored studies") {
		t.Error("an admin of no ethics board has Study amendments in the navigation, or lacks Sponsored studies (any organization may sponsor)")
	}
	// St Mary's registers a study of its own, uploading its documents.
	b.open("/portal/studies/sponsor")
	b.want("Your organization sponsors no study yet.", "Register a study")
	docs := t.TempDir()
	writeFile(t, filepath.Join(docs, "protocol.pdf"), "St Mary's protocol")
	writeFile(t, filepath.Join(docs, "sap.pdf"), "St Mary's analysis plan")
	b.fill(map[string]string{"study-id": "bp-9", "study-title": "Home blood pressure", "study-board": "city-general",
		"study-endpoints": "primary: sbp-3m: Systolic pressure at 3 months", "study-arms": "app: Reminder app\ncare: Usual care",
		"study-criteria": "adult: age >= 18", "study-categories": "vital-signs", "study-eligibility": "Adults with hypertension"})
	b.do("attach the documents", chromedp.SetUploadFiles(chromedp.ID("study-protocol"), []string{filepath.Join(docs, "protocol.pdf")}),
		chromedp.SetUploadFiles(chromedp.ID("study-plan"), []string{filepath.Join(docs, "sap.pdf")}))
	b.submit("#register")
	sum := sha256.Sum256([]byte("St Mary's protocol"))
	b.want(fmt.Sprintf("Registered study bp-9: protocol version 1 is locked on the ledger, protocol document SHA-256 %x.", sum), "Home blood pressure (bp-9)",
		"City General Hospital (city-general)", "no seed committed")
	b.screenshot("studies-registered")
	if resp := b.open("/portal/studies/review"); resp == nil || resp.Status != http.StatusForbidden {
		t.Errorf("St Mary's admin's review page: %+v", resp)
	}
	b.want("This page is for the admins of a study's ethics board.")
	b.signOut()
	b.signIn("st-mary/dr-chen")
	// The site's page: glyco-1 is open (its seed is committed); a patient
	// who withdrew is refused with the reason.
	b.want("Study enrolment")
	b.open("/portal/studies/site")
	b.want(demo.StudyTitle+" (glyco-1)", `glucose: "2345-7" in observations`, "Check eligibility and enrol")
	if strings.Contains(b.text(), "bp-9") {
		t.Error("the site's page lists bp-9, whose randomization is not committed")
	}
	b.fill(map[string]string{"enrol-patient": "patient/demo-05"})
	b.submit("#enrol")
	b.want("Not done: access denied: enrolment in study glyco-1 requires the patient's consent to it: patient/demo-05 has none in force.")
	b.screenshot("studies-site")
	for _, path := range []string{"/portal/studies", "/portal/studies/sponsor"} {
		if resp := b.open(path); resp == nil || resp.Status != http.StatusForbidden {
			t.Errorf("a physician's %s: %+v", path, resp)
		}
	}
}
