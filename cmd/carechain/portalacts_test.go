package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalActsInChromium drives the patient's and the clinician's
// everyday actions through the portal of its own demo node in headless
// Chromium: the patient adds their own data, sets their emergency rule,
// shares for a second opinion (one share ending seconds later), downloads
// everything with proofs; a physician of another hospital is refused a
// write and the chart, asks for access, and reads once the patient grants
// the request (another request is declined); the registering hospital's
// physician writes a vital sign, a lab result, a note and a prescription
// through the forms; a radiologist proposes a correction that its signers
// then see on their Approvals page, and writes an imaging report; the ended second-opinion share no
// longer reads while the other does; the patient names another patient as
// a delegate (a refusal shows the ledger's reason) and removes them. Each new page is screenshotted after
// axe-core checked it.
func TestPortalActsInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	const patient = "patient/demo-09"
	var b *browser
	// Each step has a browser of its own: newBrowser's bounds each browser's
	// whole life (90 s), and this test is longer.
	step := func(f func(t *testing.T, b *browser)) {
		next := newBrowser(t, base)
		if b != nil {
			next.n, next.checked = b.n, b.checked
		}
		b = next
		f(t, b)
	}
	var ends time.Time
	step(func(t *testing.T, b *browser) {
		b.signIn(patient)
		patientAddsData(t, b)
		patientSetsEmergencyRule(t, b)
		ends = patientSharesForSecondOpinion(t, b)
	})
	step(func(t *testing.T, b *browser) { b.signIn(patient); patientDownloads(t, b) })
	step(clinicianRequestsAccess)
	step(func(t *testing.T, b *browser) {
		b.signIn(patient)
		patientAnswersRequests(t, b)
		b.signOut()
		b.signIn("st-mary/dr-chen")
		b.open("/portal/patients/demo-09")
		b.want("Chart of "+patient, "Glucose", "Heart rate")
		b.signOut()
	})
	step(clinicianWrites)
	step(clinicianProposesCorrection)
	step(radiologistWritesImaging)
	step(func(t *testing.T, b *browser) { secondOpinionEnds(t, b, ends) })
	step(patientManagesDelegates)
	if b.axe != "" {
		t.Logf("axe-core found no serious or critical violation on %d pages", b.checked)
	}
	noPlaintext(t, home, p.output(), "Headache since Tuesday", "Amoxicillin", "cardiology review", "Left lower lobe consolidation")
}

// patientAddsData: a weight, a blood pressure and a symptom note, each on
// the timeline marked patient-reported.
func patientAddsData(t *testing.T, b *browser) {
	t.Helper()
	b.open("/portal/add")
	b.want("A measurement", "A symptom")
	b.screenshot("acts-add-data")
	b.do("weight", chromedp.SetValue(chromedp.ID("measure"), "body-weight"), chromedp.SendKeys(chromedp.ID("value"), "72.5"))
	b.submit("#add-measure")
	b.want("Body weight", "72.5 kg", "patient-reported")
	b.open("/portal/add")
	b.do("blood pressure", chromedp.SetValue(chromedp.ID("measure"), "blood-pressure"),
		chromedp.SendKeys(chromedp.ID("systolic"), "128"), chromedp.SendKeys(chromedp.ID("diastolic"), "84"))
	b.submit("#add-measure")
	b.want("Blood pressure panel", "128/84 mmHg")
	b.open("/portal/add")
	b.do("symptom", chromedp.SendKeys(chromedp.ID("symptom"), "Headache since Tuesday"))
	b.submit("#add-symptom")
	b.want("Symptom", "Headache since Tuesday", "Recorded by patient/demo-09 (patient)")
	if strings.Contains(b.text(), "Metformin") {
		t.Fatal("the patient-reported filter shows a clinician's record")
	}
	b.screenshot("acts-patient-reported")
	// A value out of range is refused and adds nothing.
	b.open("/portal/add")
	b.do("weight out of range", chromedp.SetValue(chromedp.ID("measure"), "body-weight"), chromedp.SendKeys(chromedp.ID("value"), "7000"))
	b.submit("#add-measure")
	b.want("Nothing was added", "outside")
}

// patientSetsEmergencyRule: none set, then one for physicians, in words.
func patientSetsEmergencyRule(t *testing.T, b *browser) {
	t.Helper()
	b.open("/portal/emergency-rule")
	b.want("You have set no emergency rule")
	b.do("rule", chromedp.Click(chromedp.CSS(`input[name=role][value=physician]`)), chromedp.Click(chromedp.CSS(`input[name=orgtype][value=hospital]`)),
		chromedp.SetValue(chromedp.ID("hours"), "12"))
	b.submit("#save-rule")
	b.want("Your emergency rule is on the ledger", "staff with the role physician at hospital may read all your records",
		"12 hour(s)", "They must give a reason", "Turn emergency access off")
	b.screenshot("acts-emergency-rule")
	b.submit("#clear-rule")
	b.want("Emergency access is off", "You have set no emergency rule")
	b.do("the rule again", chromedp.Click(chromedp.CSS(`input[name=role][value=physician]`)))
	b.submit("#save-rule")
	b.want("Your emergency rule is on the ledger", "staff with the role physician at any kind of organization", "1 day(s)")
}

// patientSharesForSecondOpinion shares lab results with Dr. Ito until the
// default end (14 days) and with Dr. Novak until a few seconds from now,
// which it returns.
func patientSharesForSecondOpinion(t *testing.T, b *browser) time.Time {
	t.Helper()
	b.open("/portal/second-opinion")
	def, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("so-ends").value`))
	if want := time.Now().UTC().Add(14 * 24 * time.Hour).Format("2006-01-02"); err != nil || !strings.HasPrefix(def, want) {
		t.Fatalf("the default end is %q (%v), want 14 days from now (%s)", def, err, want)
	}
	b.screenshot("acts-second-opinion")
	b.do("share with Dr. Ito", chromedp.SetValue(chromedp.ID("so-grantee"), "principal:st-mary/dr-ito"),
		chromedp.Click(chromedp.CSS(`input[name=category][value=lab]`)))
	b.submit("#share-second-opinion")
	b.want("Access granted", "Dr. Kenji Ito", "second-opinion", "until "+time.Now().UTC().Add(14*24*time.Hour).Format("2 Jan 2006"))
	ends := time.Now().UTC().Add(15 * time.Second).Truncate(time.Second)
	if ends.Second() == 0 {
		// A datetime-local input shows 12:05:00 as "12:05", so SetValue
		// would read back another value than it set and fail.
		ends = ends.Add(time.Second)
	}
	b.open("/portal/second-opinion")
	b.do("share with Dr. Novak", chromedp.SetValue(chromedp.ID("so-grantee"), "principal:st-mary/dr-novak"),
		chromedp.Click(chromedp.CSS(`input[name=category][value=lab]`)), chromedp.SetValue(chromedp.ID("so-ends"), ends.Format("2006-01-02T15:04:05")))
	b.submit("#share-second-opinion")
	b.want("Access granted", "Dr. Jana Novak")
	b.screenshot("acts-second-opinion-shared")
	return ends
}

// patientDownloads prepares the download, watches its progress page
// until it is ready, and reads the file: a FHIR Bundle of every record and
// a proof of each.
func patientDownloads(t *testing.T, b *browser) {
	t.Helper()
	b.open("/portal/download")
	b.want("Prepare my download", "carechain-download/1")
	b.screenshot("acts-download")
	b.submit("#prepare-download")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("[data-poll], #download-file").length`)); err != nil || n != 1 {
		t.Fatalf("after preparing, neither a progress page nor the file link (%d, %v):\n%s", n, err, b.text())
	}
	if strings.Contains(b.text(), "Preparing your download") {
		b.screenshot("acts-download-progress")
	}
	b.do("wait until ready", chromedp.WaitVisible(chromedp.ID("download-file"))) // the page reloads itself (static/portal.js)
	b.want("Your download is ready")
	b.screenshot("acts-download-ready")
	type doc struct {
		Format string `json:"format"`
		Bundle struct {
			ResourceType string `json:"resourceType"`
			Type         string `json:"type"`
			Total        int    `json:"total"`
			Entry        []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		} `json:"bundle"`
		Proofs []struct {
			Record string          `json:"record"`
			Proof  json.RawMessage `json:"proof"`
		} `json:"proofs"`
	}
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(document.getElementById("download-file").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	var d doc
	if err == nil {
		err = json.Unmarshal([]byte(raw), &d)
	}
	if err != nil {
		t.Fatalf("the download: %v", err)
	}
	if d.Format != "carechain-download/1" || d.Bundle.ResourceType != "Bundle" || d.Bundle.Type != "collection" ||
		d.Bundle.Total < 7 || len(d.Bundle.Entry) != d.Bundle.Total || len(d.Proofs) != d.Bundle.Total {
		t.Fatalf("the download: format %q, %s %s, total %d, %d entries, %d proofs", d.Format, d.Bundle.ResourceType, d.Bundle.Type,
			d.Bundle.Total, len(d.Bundle.Entry), len(d.Proofs))
	}
	if !strings.Contains(raw, "Headache since Tuesday") || !strings.Contains(raw, `"code": "patient-reported"`) || !strings.Contains(raw, "Metformin") {
		t.Fatal("the download lacks the patient's own data, its patient-reported tag, or a clinician's record")
	}
	for _, p := range d.Proofs {
		if len(p.Proof) < 100 || !strings.Contains(string(p.Proof), "signed_header") {
			t.Fatalf("the proof of %s is not a proof bundle: %.200s", p.Record, p.Proof)
		}
	}
}

// clinicianRequestsAccess: Dr. Chen of another hospital is refused a write
// and the chart, and asks for access; Dr. Okafor asks too.
func clinicianRequestsAccess(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/patients/demo-09/write")
	b.want("Vital sign", "Lab result", "Prescription")
	b.do("a heart rate", chromedp.SetValue(chromedp.ID("vital-measure"), "heart-rate"), chromedp.SendKeys(chromedp.ID("vital-value"), "77"))
	b.submit("#write-vital")
	b.want("Not written", "may not write records of patient/demo-09")
	b.screenshot("acts-write-refused")
	if resp := b.open("/portal/patients/demo-09"); resp.Status != http.StatusForbidden {
		t.Fatalf("Dr. Chen's chart of patient/demo-09 without a grant: HTTP %d", resp.Status)
	}
	b.submit(`a[href="/portal/request-access?patient=demo-09"]`)
	fill := chromedp.Steps(chromedp.Click(chromedp.CSS(`input[name=category][value=lab]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value="vital-signs"]`)), chromedp.SendKeys(chromedp.ID("ra-reason"), "Referred for cardiology review"))
	b.do("the request", fill)
	b.screenshot("acts-request-access")
	b.submit("#send-request")
	b.want("Your request is on the ledger")
	b.do("the same request again", fill) // one open request per clinician and patient
	b.submit("#send-request")
	b.want("open request")
	b.signOut()
	b.signIn("st-mary/dr-okafor")
	b.open("/portal/request-access?patient=demo-09")
	b.do("another request", chromedp.Click(chromedp.CSS(`input[name=category][value=imaging]`)), chromedp.SendKeys(chromedp.ID("ra-reason"), "Imaging follow-up"))
	b.submit("#send-request")
	b.want("Your request is on the ledger")
	b.signOut()
}

// patientAnswersRequests grants Dr. Chen's request as asked and declines
// Dr. Okafor's.
func patientAnswersRequests(t *testing.T, b *browser) {
	t.Helper()
	b.open("/portal/requests")
	b.want("Dr. Mei Chen (physician, St Mary", "Referred for cardiology review", "Dr. Emeka Okafor", "Imaging follow-up", "open")
	checked, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("section.request input[name=category]:checked").length`))
	if err != nil || checked != 3 { // lab and vital-signs for Dr. Chen, imaging for Dr. Okafor
		t.Fatalf("the grant forms tick %d categories (%v), want what was asked (3)", checked, err)
	}
	b.screenshot("acts-requests")
	b.submit(`section[data-requester="st-mary/dr-okafor"] form[action$="/decline"] button`)
	b.want("Request declined", "declined")
	b.submit(`form[action$="/grant"] button`)
	b.want("Access granted", "granted")
	b.open("/portal/sharing")
	b.want("Dr. Mei Chen", "lab, vital-signs", "treatment")
}

// clinicianWrites: the registering hospital's physician writes through
// each form; the chart shows each.
func clinicianWrites(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("city-general/dr-meyer")
	b.open("/portal/patients/demo-09")
	b.submit(`a[href="/portal/patients/demo-09/write"]`)
	b.screenshot("acts-write-forms")
	b.do("phone width", chromedp.EmulateViewport(390, 844))
	b.screenshot("acts-write-forms-phone")
	b.do("desktop width", chromedp.EmulateViewport(1200, 900))
	b.do("blood pressure", chromedp.SetValue(chromedp.ID("vital-measure"), "blood-pressure"),
		chromedp.SendKeys(chromedp.ID("vital-systolic"), "141"), chromedp.SendKeys(chromedp.ID("vital-diastolic"), "92"))
	b.submit("#write-vital")
	b.want("Vital sign written", "141/92 mmHg")
	b.open("/portal/patients/demo-09/write")
	b.do("lab", chromedp.SendKeys(chromedp.ID("lab-test"), "Hemoglobin A1c"), chromedp.SendKeys(chromedp.ID("lab-loinc"), "4548-4"),
		chromedp.SendKeys(chromedp.ID("lab-value"), "6.4"), chromedp.SetValue(chromedp.ID("lab-unit"), "%"),
		chromedp.SendKeys(chromedp.ID("lab-low"), "4"), chromedp.SendKeys(chromedp.ID("lab-high"), "5.6"))
	b.submit("#write-lab")
	b.want("Lab result written", "Hemoglobin A1c", "6.4 %", "high")
	b.open("/portal/patients/demo-09/write")
	b.do("note", chromedp.SendKeys(chromedp.ID("note-title"), "Follow-up visit"), chromedp.SendKeys(chromedp.ID("note-text"), "Blood pressure raised; recheck in 2 weeks."))
	b.submit("#write-note")
	b.want("Note written", "Follow-up visit", "recheck in 2 weeks")
	b.open("/portal/patients/demo-09/write")
	b.do("prescription", chromedp.SendKeys(chromedp.ID("rx-medication"), "Amoxicillin 500 mg capsule"), chromedp.SendKeys(chromedp.ID("rx-dosage"), "1 capsule 3 times a day for 7 days"))
	b.submit("#write-prescription")
	b.want("Prescription written", "Amoxicillin 500 mg capsule", "1 capsule 3 times a day", "Recorded by Dr. Paul Meyer")
	b.screenshot("acts-chart-written")
	// No approval policy covers City General's records: a correction is
	// written as the record's next version.
	href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.card")].find(c => c.innerText.includes("Follow-up visit")).querySelector("a[href*='/correct/']").getAttribute("href")`))
	if err != nil {
		t.Fatalf("the note's correction link: %v", err)
	}
	b.open(href)
	b.want("No approval rule covers this record", "Version 1 of")
	b.do("the corrected note", chromedp.Evaluate[chromedp.Void](`(() => { const r = document.getElementById("resource");
		r.value = r.value.replace("Follow-up visit", "Follow-up visit, cardiology"); })()`), chromedp.SendKeys(chromedp.ID("reason"), "title"))
	b.submit("#propose")
	b.want("Correction written as the record's next version", "Follow-up visit, cardiology", "version 2")
	b.signOut()
}

// clinicianProposesCorrection: St Mary's radiologist proposes a corrected
// chest X-ray report of patient/demo-08 (under St Mary's approval policy);
// the head of radiology sees it on her Approvals page.
func clinicianProposesCorrection(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("st-mary/dr-okafor")
	b.open("/portal/patients/demo-08?category=imaging")
	b.submit(`a[href="/portal/patients/demo-08/correct/demo-08-chest-xray"]`)
	b.want("An approval rule covers this record")
	b.do("the corrected report", chromedp.Evaluate[chromedp.Void](`(() => { const r = document.getElementById("resource");
		r.value = r.value.replace("No acute cardiopulmonary abnormality.", "Small right rib fracture, missed on first read.").replace('"final"', '"amended"'); })()`),
		chromedp.SendKeys(chromedp.ID("reason"), "rib fracture missed"))
	b.screenshot("acts-correct")
	b.submit("#propose")
	b.want("is proposed", "demo-08-chest-xray")
	b.screenshot("acts-correction-proposed")
	b.signOut()
	b.signIn("st-mary/dr-novak")
	b.open("/portal/approvals")
	b.want("demo-08-chest-xray", "Small right rib fracture, missed on first read.", "rib fracture missed", "0 of 4 signatures")
	b.signOut()
}

// secondOpinionEnds: after its end, Dr. Novak's second-opinion share reads
// nothing, while Dr. Ito's still does.
func secondOpinionEnds(t *testing.T, b *browser, ends time.Time) {
	t.Helper()
	if wait := time.Until(ends.Add(time.Second)); wait > 0 {
		time.Sleep(wait) // the share ends at a wall-clock time: nothing else to wait on
	}
	b.signIn("st-mary/dr-ito")
	b.open("/portal/patients/demo-09?purpose=second-opinion")
	b.want("shared with you for a second opinion", "Glucose")
	b.screenshot("acts-second-opinion-read")
	b.signOut()
	b.signIn("st-mary/dr-novak")
	if resp := b.open("/portal/patients/demo-09?purpose=second-opinion"); resp.Status != http.StatusForbidden {
		t.Fatalf("Dr. Novak's second opinion after its end: HTTP %d\n%s", resp.Status, b.text())
	}
	b.want("Access refused", "second-opinion")
	b.screenshot("acts-second-opinion-ended")
	b.signOut()
	b.signIn("patient/demo-09")
	b.open("/portal/sharing")
	b.want("Dr. Jana Novak", "expired")
	b.signOut()
}

// radiologistWritesImaging: St Mary's radiologist writes a chest X-ray
// report (a DiagnosticReport, category RAD) into patient/demo-08's chart
// through the imaging report form; the chart shows it.
func radiologistWritesImaging(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("st-mary/dr-okafor")
	b.open("/portal/patients/demo-08/write")
	b.want("Imaging report", "XR Chest 2 Views (LOINC 36643-5)")
	b.do("imaging report", chromedp.SetValue(chromedp.ID("imaging-study"), "36643-5"),
		chromedp.SendKeys(chromedp.ID("imaging-conclusion"), "Left lower lobe consolidation, consistent with pneumonia."))
	b.screenshot("acts-imaging-form")
	b.submit("#write-imaging")
	b.want("Imaging report written", "XR Chest 2 Views", "Left lower lobe consolidation", "Recorded by Dr. Emeka Okafor")
	b.screenshot("acts-imaging-written")
	b.signOut()
}

// patientManagesDelegates: the patient names another demo patient as a
// delegate, sees them listed with what a delegate can do, is refused
// naming themself (the ledger's reason shown) and a clinician (refused
// before the ledger: no key to deliver to), and removes the delegate.
func patientManagesDelegates(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("patient/demo-09")
	b.open("/portal/sharing")
	b.submit(`a[href="/portal/sharing/delegates"]`)
	b.want("What a delegate can do", "You have no delegates")
	b.screenshot("acts-delegates")
	b.do("delegate", chromedp.SendKeys(chromedp.ID("delegate"), "patient/demo-10"))
	b.submit("#add-delegate")
	b.want("Delegate named", "patient/demo-10")
	if strings.Contains(b.text(), "You have no delegates") {
		t.Fatal("after naming one, the page says there are no delegates")
	}
	b.screenshot("acts-delegate-named")
	b.do("themself", chromedp.SendKeys(chromedp.ID("delegate"), "patient/demo-09"))
	b.submit("#add-delegate")
	b.want("Not changed: the ledger refused it", "must be another registered person")
	b.open("/portal/sharing/delegates")
	b.do("a clinician", chromedp.SendKeys(chromedp.ID("delegate"), "st-mary/dr-chen"))
	b.submit("#add-delegate")
	b.want("Not changed: st-mary/dr-chen is not a person registered with their own key")
	b.open("/portal/sharing/delegates")
	b.submit(`form[action="/portal/sharing/delegates/remove"] button`)
	b.want("Delegate removed", "You have no delegates")
	b.signOut()
}
