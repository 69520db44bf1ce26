package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalHospitalFlowInChromium drives the hospital's workflow for one
// new patient through the portal of its own demo node in headless
// Chromium, each step by the person who does it, on their own page:
// St Mary's clerk registers the patient with an insurance and books an
// appointment; the patient signs in with the enrolment code, sees the
// appointment and sets an order rule that excludes BioMed; the physician
// records the visit (a consultation with an ECG), is refused an order to
// BioMed, orders an HbA1c test of North Lab naming a glucose result of the visit and a chest
// X-ray of City General, and prescribes 10 tablets with 2 refills; North
// Lab's technician enters the result from the lab worklist; the physician
// reads it in the results inbox and completes the order, after which the
// technician's second result is refused with the ledger's reason; City
// General's admin sets an approval policy for imaging reports (the author,
// its head of department, the patient); its radiologist reports from the
// radiology worklist and proposes a correction, which commits when the
// last of the three signs and reaches the physician's inbox corrected;
// the patient shares medication records with Greenleaf Pharmacy, whose
// pharmacist dispenses part, the rest, the refills, and is refused past
// them; once the role policy lets clerks read care records, the clerk
// captures the visit's charges and invoices them (consultation and ECG,
// 120.00 EUR from the demo catalogue); the patient sees the bill, and the
// access log shows the clerk, the technician, the radiologist and the
// pharmacist. Forms posted without their CSRF token change nothing; no
// health data reaches the node's files or output.
func TestPortalHospitalFlowInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	var b *browser
	step := func(f func(t *testing.T, b *browser)) { // a browser per step: each lives 90 s at most
		next := newBrowser(t, base)
		if b != nil {
			next.n, next.checked = b.n, b.checked
		}
		b = next
		f(t, b)
	}
	var short, code string
	step(func(t *testing.T, b *browser) { short, code = deskRegistersAndBooks(t, b) })
	patient := "patient/" + short
	signInPatient := func(b *browser) { b.signInWith(short, code) }
	step(func(t *testing.T, b *browser) {
		signInPatient(b)
		b.open("/portal/appointments")
		b.want("Upcoming", "booked", "Outpatient clinic")
		b.open("/portal/sharing")
		b.submit("#order-rule-link")
		b.want("Your order rule", "the organization it is sent to may read what the order names")
		b.do("all but BioMed", chromedp.Click(chromedp.CSS(`input[name=allow][value=except]`)), chromedp.Click(chromedp.CSS(`input[name=org][value=biomed]`)))
		b.screenshot("flow-order-rule")
		b.submit("#save-order-rule")
		b.want("Your order rule is on the ledger", "Orders to any organization but BioMed")
		b.signOut()
	})
	var labOrder string
	step(func(t *testing.T, b *browser) {
		physicianRecordsVisit(t, b, short)
		labOrder = physicianOrders(t, b, short)
	})
	func() { // two browsers at once, for up to 3 minutes
		lab := newBrowserWithin(t, base, 3*time.Minute)
		lab.n, lab.checked = b.n, b.checked
		labEntersResult(t, lab, patient)
		doctor := newBrowser(t, base) // meanwhile, at St Mary's
		doctor.n, doctor.checked = lab.n, lab.checked
		physicianReadsResultAndCompletes(t, doctor, patient, labOrder)
		lab.n, lab.checked = doctor.n, doctor.checked
		// The technician's second result, from the page opened before the
		// order was completed, is refused by the ledger.
		lab.do("a second result", chromedp.SendKeys(chromedp.ID("result-value"), "7.4"), chromedp.SetValue(chromedp.ID("result-unit"), "%"))
		lab.submit("#write-result")
		lab.want("Not written", "is closed", labOrder)
		lab.screenshot("flow-result-refused")
		b = lab
	}()
	step(func(t *testing.T, b *browser) {
		b.signIn("city-general/admin")
		b.open("/portal/admin/policies")
		b.do("the approval policy", chromedp.SetValue(chromedp.ID("ap-category"), "imaging"), chromedp.SendKeys(chromedp.ID("ap-type"), "DiagnosticReport"),
			chromedp.SetValue(chromedp.ID("ap-rule"), "all-of"), chromedp.SendKeys(chromedp.ID("ap-signers"), "author\nhead-of-department@city-general\npatient"))
		b.submit("#set-approval-policy")
		b.want("The approval policy is on the ledger")
		b.signOut()
		radiologistReports(t, b, patient)
	})
	step(func(t *testing.T, b *browser) { radiologistCorrects(t, b, short) })
	step(func(t *testing.T, b *browser) {
		for _, signer := range []func(){func() { b.signIn("city-general/dr-haddad") }, func() { b.signIn("city-general/dr-lindqvist") }, func() { signInPatient(b) }} {
			signer()
			b.open("/portal/approvals")
			b.want("Proposed version", "Right middle lobe opacity with a small effusion", "effusion missed")
			b.submit("button.approve")
			b.want("Your approval is on the ledger", "Nothing waits for your signature")
			b.signOut()
		}
		b.signIn("st-mary/dr-chen")
		b.open("/portal/results")
		b.want("XR Chest 2 Views", "Right middle lobe opacity with a small effusion", "City General")
		b.screenshot("flow-corrected-report")
		b.signOut()
	})
	step(func(t *testing.T, b *browser) { pharmacistDispenses(t, b, signInPatient) })
	letClerksReadCare(t, home, addr, "st-mary")
	step(func(t *testing.T, b *browser) {
		b.signIn("st-mary/clerk-singh")
		b.open("/portal/billing")
		enc, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("[id^=enc-]")].find(e => e.innerText.includes("`+short+`")).id`))
		if err != nil {
			t.Fatalf("the visit on the billing page: %v\n%s", err, b.text())
		}
		b.submit("#" + enc + " button.invoice")
		b.want("2 charged now", "written: total 120.00 EUR")
		b.screenshot("flow-invoiced")
		b.signOut()
		signInPatient(b)
		b.open("/portal/bills")
		b.want("Consultation", "80.00 EUR", "Electrocardiographic procedure", "40.00 EUR", "Total", "120.00 EUR")
		b.screenshot("flow-bill")
		deadline := time.Now().Add(30 * time.Second)
		for b.open("/portal/log"); !containsAll(b.text(), "Ravi Singh", "Min-jun Kim", "Layla Haddad", "Giulia Rossi"); b.open("/portal/log") {
			if time.Now().After(deadline) {
				t.Fatalf("the access log does not show the clerk, the technician, the radiologist and the pharmacist:\n%s", b.text())
			}
			time.Sleep(300 * time.Millisecond) // the log is on the ledger once anchored: nothing to wait on from here
		}
		b.screenshot("flow-access-log")
	})
	if b.axe != "" {
		t.Logf("axe-core found no serious or critical violation on %d pages", b.checked)
	}
	noPlaintext(t, home, p.output(), "Quillon", "SM-5151", "Chest pain on exertion", "Fasting glucose", "Poorly controlled", "Right middle lobe opacity", "Amoxicillin", "Cough for 3 weeks", code)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// deskRegistersAndBooks: St Mary's clerk registers a new patient with an
// insurance and books the first free slot; it returns the patient's
// short ID and enrolment code.
func deskRegistersAndBooks(t *testing.T, b *browser) (short, code string) {
	t.Helper()
	b.signIn("st-mary/clerk-singh")
	b.open("/portal/desk/register")
	b.do("fill the registration", chromedp.SendKeys(chromedp.ID("given"), "Tamsin"), chromedp.SendKeys(chromedp.ID("family"), "Quillon"),
		chromedp.SetValue(chromedp.ID("reg-birthdate"), "1961-09-03"), chromedp.SetValue(chromedp.ID("gender"), "female"),
		chromedp.SendKeys(chromedp.ID("mrn"), "SM-5151"), chromedp.SetValue(chromedp.ID("insurer"), "carewell"),
		chromedp.SendKeys(chromedp.ID("member"), "CW-515151"))
	b.submit("#register")
	b.want("is registered on the ledger", "Enrolment code")
	short, code = b.textOf("enrolled-id"), b.textOf("enrolment-code")
	b.open("/portal/desk/schedule?patient=" + short)
	b.submit(`tr#slot-` + b.firstBookable() + ` button`)
	b.want("Appointment booked", "booked")
	b.screenshot("flow-booked")
	b.signOut()
	return short, code
}

// physicianRecordsVisit: Dr. Chen records a consultation with an ECG, and
// a glucose result taken at the visit.
func physicianRecordsVisit(t *testing.T, b *browser, short string) {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/patients/" + short + "/write")
	b.do("the visit", chromedp.SetValue(chromedp.ID("visit-type"), "11429006"), chromedp.SendKeys(chromedp.ID("visit-reason"), "Chest pain on exertion"),
		chromedp.Click(chromedp.CSS(`input[name=procedure][value="29303009"]`)))
	b.screenshot("flow-visit-form")
	b.submit("#write-visit")
	b.want("Visit recorded", "Consultation", "Chest pain on exertion", "Electrocardiographic procedure")
	b.screenshot("flow-visit-recorded")
	// A point-of-care glucose taken at the visit, which the lab order names.
	b.open("/portal/patients/" + short + "/write")
	b.do("the glucose", chromedp.SendKeys(chromedp.ID("lab-test"), "Fasting glucose"), chromedp.SendKeys(chromedp.ID("lab-loinc"), "1558-6"),
		chromedp.SendKeys(chromedp.ID("lab-value"), "160"), chromedp.SetValue(chromedp.ID("lab-unit"), "mg/dL"))
	b.submit("#write-lab")
	b.want("Lab result written", "Fasting glucose")
	b.signOut()
}

// radiologistCorrects: City General's radiologist proposes a correction of
// her report on the patient's chart; the approval policy covers it.
func radiologistCorrects(t *testing.T, b *browser, short string) {
	t.Helper()
	b.signIn("city-general/dr-haddad")
	b.open("/portal/patients/" + short + "?category=imaging")
	href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.card")].find(c => c.innerText.includes("Right middle lobe opacity")).querySelector("a[href*='/correct/']").getAttribute("href")`))
	if err != nil {
		t.Fatalf("the report's correction link: %v\n%s", err, b.text())
	}
	b.submit(`a[href="` + href + `"]`)
	b.want("An approval rule covers this record")
	b.do("the corrected report", chromedp.Evaluate[chromedp.Void](`(() => { const r = document.getElementById("resource");
		r.value = r.value.replace("Right middle lobe opacity;", "Right middle lobe opacity with a small effusion;").replace('"final"', '"amended"'); })()`),
		chromedp.SendKeys(chromedp.ID("reason"), "effusion missed on the lateral view"))
	b.submit("#propose")
	b.want("is proposed")
	b.screenshot("flow-correction-proposed")
	b.signOut()
}

// physicianOrders: Dr. Chen is refused an order to BioMed (the patient's
// order rule), orders a lab test of North Lab naming the glucose and a chest
// X-ray of City General, and prescribes 10 tablets with 2 refills; a form
// posted without its CSRF token is refused and changes nothing. It returns
// the lab order's record ID.
func physicianOrders(t *testing.T, b *browser, short string) string {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/patients/" + short)
	b.submit(`a[href="/portal/patients/` + short + `/order"]`)
	b.want("New order", "Hemoglobin A1c", "North Diagnostics Laboratory", "Observation ")
	b.screenshot("flow-order-form")
	order := func(what, to, reason string, names ...string) {
		b.open("/portal/patients/" + short + "/order")
		b.do("the order", chromedp.SetValue(chromedp.ID("order-what"), what), chromedp.SetValue(chromedp.ID("order-performer"), to),
			chromedp.SendKeys(chromedp.ID("order-reason"), reason))
		for _, n := range names {
			b.do("name "+n, chromedp.Click(chromedp.CSS(`input[name=names][value^="`+n+`"]`)))
		}
		b.submit("#place-order")
	}
	order("lab:2093-3", "biomed", "Research study")
	b.want("Not written", "order rule of patient/"+short+" does not let an order give biomed access")
	b.screenshot("flow-order-refused")
	order("lab:4548-4", "northlab", "Diabetes follow-up", "Observation/")
	b.want("Order placed", "Hemoglobin A1c", "North Diagnostics Laboratory", "Diabetes follow-up", "open")
	order("imaging:36643-5", "city-general", "Cough for 3 weeks")
	b.want("Order placed", "XR Chest 2 Views", "City General Hospital")
	b.screenshot("flow-my-orders")
	action, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.order")].find(c => c.innerText.includes("Hemoglobin A1c") && c.innerText.includes("patient/`+short+`")).querySelector("form[action$='/complete']").getAttribute("action")`))
	if err != nil {
		t.Fatalf("the lab order's complete form: %v", err)
	}
	labOrder := strings.TrimSuffix(strings.TrimPrefix(action, "/portal/orders/"), "/complete")
	// Without its CSRF token the complete form is refused; the order stays open.
	b.do("drop the token", chromedp.Evaluate[chromedp.Void](`document.querySelector("form[action='`+action+`'] input[name=csrf]").remove()`))
	b.submit(`form[action='` + action + `'] button`)
	b.want("security token is missing")
	b.open("/portal/orders")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[action='`+action+`']").length`)); err != nil || n != 1 {
		t.Fatalf("after a post without its token the order is not open: %d forms, %v\n%s", n, err, b.text())
	}
	b.open("/portal/patients/" + short + "/write")
	b.do("prescription", chromedp.SendKeys(chromedp.ID("rx-medication"), "Amoxicillin 500 mg capsule"),
		chromedp.SendKeys(chromedp.ID("rx-dosage"), "1 capsule 3 times a day"), chromedp.SendKeys(chromedp.ID("rx-quantity"), "10"),
		chromedp.SendKeys(chromedp.ID("rx-refills"), "2"))
	b.submit("#write-prescription")
	b.want("Prescription written", "Amoxicillin 500 mg capsule")
	b.signOut()
	return labOrder
}

// labEntersResult: North Lab's technician finds the order on the lab
// worklist, opens it with the glucose result it names, writes an HbA1c result, and
// opens the order again (it is still open).
func labEntersResult(t *testing.T, b *browser, patient string) {
	t.Helper()
	b.signIn("northlab/tech-kim")
	b.want("Lab worklist")
	if strings.Contains(b.text(), "Pharmacy queue") || strings.Contains(b.text(), "Radiology worklist") {
		t.Fatalf("a lab technician's nav links pages of other roles:\n%s", b.text())
	}
	b.open("/portal/worklist/lab")
	b.want("Hemoglobin A1c", patient, "Dr. Mei Chen", "open")
	if strings.Contains(b.text(), "XR Chest") {
		t.Fatal("the lab worklist shows the imaging order")
	}
	b.screenshot("flow-lab-worklist")
	b.submit(`td a[href^="/portal/worklist/lab/"]`)
	b.want("Diabetes follow-up", "Records it names", "Fasting glucose", "160 mg/dL")
	b.screenshot("flow-lab-order")
	orderPage, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil {
		t.Fatal(err)
	}
	b.do("the result", chromedp.SendKeys(chromedp.ID("result-value"), "7.2"), chromedp.SetValue(chromedp.ID("result-unit"), "%"),
		chromedp.SendKeys(chromedp.ID("result-low"), "4"), chromedp.SendKeys(chromedp.ID("result-high"), "5.6"),
		chromedp.SendKeys(chromedp.ID("result-conclusion"), "Poorly controlled diabetes."))
	b.submit("#write-result")
	b.want("Result written", "results in")
	b.open(orderPage)
	b.want("Write result")
}

// physicianReadsResultAndCompletes: Dr. Chen's results inbox shows the
// HbA1c result, new, flagged high; it opens with its order; she completes
// the order.
func physicianReadsResultAndCompletes(t *testing.T, b *browser, patient, labOrder string) {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/results")
	b.want("Hemoglobin A1c", "7.2 %", "high", "new", patient, "Min-jun Kim")
	b.screenshot("flow-results")
	b.submit(`a[href^="/portal/results/` + labOrder + `/"]`)
	b.want("The order it answers", "Poorly controlled diabetes", "Hemoglobin A1c")
	b.screenshot("flow-result")
	b.open("/portal/results")
	if strings.Contains(b.text(), "new since you last looked") {
		t.Fatalf("the inbox still marks the result new after a visit:\n%s", b.text())
	}
	b.open("/portal/orders")
	b.submit(`form[action="/portal/orders/` + labOrder + `/complete"] button`)
	b.want("Order completed", "completed")
	b.signOut()
}

// radiologistReports: City General's radiologist reports on the chest
// X-ray order from the radiology worklist.
func radiologistReports(t *testing.T, b *browser, patient string) {
	t.Helper()
	b.signIn("city-general/dr-haddad")
	b.open("/portal/worklist/radiology")
	b.want("XR Chest 2 Views", patient, "Dr. Mei Chen")
	b.screenshot("flow-radiology-worklist")
	b.submit(`td a[href^="/portal/worklist/radiology/"]`)
	b.want("Cough for 3 weeks")
	b.do("the report", chromedp.SendKeys(chromedp.ID("result-conclusion"), "Right middle lobe opacity; follow-up CT advised."))
	b.submit("#write-result")
	b.want("Result written")
	b.signOut()
}

// pharmacistDispenses: the patient shares medication records with
// Greenleaf Pharmacy, to read and write; its pharmacist sees the
// prescription with its supply (10 and two refills: 30), dispenses 5 (part
// of the first fill), 5, then 10 and 10 (the refills), and is refused 1
// more.
func pharmacistDispenses(t *testing.T, b *browser, signInPatient func(*browser)) {
	t.Helper()
	signInPatient(b)
	b.open("/portal/sharing")
	b.do("share with the pharmacy", chromedp.SetValue(chromedp.ID("grantee"), "org:greenleaf"),
		chromedp.Click(chromedp.CSS(`input[name=category][value="medication"]`)), chromedp.SetValue(chromedp.ID("purpose"), "treatment"),
		chromedp.Click(chromedp.ID("write")))
	b.submit("#grant")
	b.want("Greenleaf Pharmacy", "read, write")
	b.signOut()
	b.signIn("greenleaf/ph-rossi")
	b.open("/portal/pharmacy")
	b.want("Amoxicillin 500 mg capsule", "30 in all · 0 dispensed · 30 left")
	b.screenshot("flow-pharmacy")
	id, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.rx")].find(c => c.innerText.includes("Amoxicillin")).querySelector("input[name=quantity]").id`))
	if err != nil {
		t.Fatalf("the dispense form: %v", err)
	}
	rx := strings.TrimPrefix(id, "qty-")
	dispense := func(q string) {
		b.open("/portal/pharmacy")
		b.do("dispense "+q, chromedp.SendKeys(chromedp.ID(id), q))
		b.submit("#dispense-" + rx)
	}
	for _, step := range []struct{ q, left string }{{"5", "5 dispensed · 25 left"}, {"5", "10 dispensed · 20 left"}, {"10", "20 dispensed · 10 left"}, {"10", "30 dispensed · 0 left"}} {
		dispense(step.q)
		b.want("Dispensed", "30 in all · "+step.left)
	}
	dispense("1")
	b.want("Not written", "allows 30 in all; 30 was dispensed, 1 more is past it")
	b.screenshot("flow-dispense-refused")
	b.signOut()
}
