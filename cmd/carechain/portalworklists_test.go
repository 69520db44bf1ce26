package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalWorklistsInChromium drives orders, results, the worklists and
// the pharmacy queue through the portal of its own demo node in headless
// Chromium: St Mary's physician is refused an order the patient's order
// rule excludes (set with the CLI), orders an HbA1c test of North Lab
// naming the patient's glucose result and a chest X-ray of City General,
// and prescribes with a supply; North Lab's technician finds the order on
// the lab worklist with the record it names and enters a result; the
// physician finds it, marked new, in the results inbox, opens it with its
// order and completes the order, after which the technician's second
// result is refused with the ledger's reason; City General's radiologist
// reports on the X-ray from the radiology worklist and the report reaches
// the physician's inbox; the patient shares their medication records with
// Greenleaf Pharmacy, whose pharmacist dispenses part, then the rest, and
// is refused past the supply. The patient's access log shows the
// technician and the pharmacist; a form posted without its CSRF token
// changes nothing; no health data is in the node's files or output.
func TestPortalWorklistsInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	const patient = "patient/demo-12" // registered at St Mary's
	mustRun(t, passEnv(demo.Passphrase), "consent", "order-rule", "--as", patient, "--allow", "except", "--org", "biomed",
		"--keys-dir", filepath.Join(home, "keys"), "--node", addr)
	var b *browser
	step := func(f func(t *testing.T, b *browser)) { // a browser per step: each lives 90 s at most
		next := newBrowser(t, base)
		if b != nil {
			next.n, next.checked = b.n, b.checked
		}
		b = next
		f(t, b)
	}
	var labOrder string
	step(func(t *testing.T, b *browser) { labOrder = physicianOrders(t, b) })
	func() { // two browsers at once, for up to 3 minutes
		lab := newBrowserWithin(t, base, 3*time.Minute)
		lab.n, lab.checked = b.n, b.checked
		labEntersResult(t, lab)
		doctor := newBrowser(t, base) // meanwhile, at St Mary's
		doctor.n, doctor.checked = lab.n, lab.checked
		physicianReadsResultAndCompletes(t, doctor, labOrder)
		lab.n, lab.checked = doctor.n, doctor.checked
		// The technician's second result, from the page opened before the
		// order was completed, is refused by the ledger.
		lab.do("a second result", chromedp.SendKeys(chromedp.ID("result-value"), "7.4"), chromedp.SetValue(chromedp.ID("result-unit"), "%"))
		lab.submit("#write-result")
		lab.want("Not written", "is closed", labOrder)
		lab.screenshot("worklists-result-refused")
		b = lab
	}()
	step(radiologistReports)
	step(func(t *testing.T, b *browser) {
		b.signIn("st-mary/dr-chen")
		b.open("/portal/results")
		b.want("XR Chest 2 Views", "Right middle lobe opacity", "City General")
		b.signOut()
	})
	step(pharmacistDispenses)
	step(func(t *testing.T, b *browser) {
		b.signIn(patient)
		deadline := time.Now().Add(30 * time.Second)
		for b.open("/portal/log"); !strings.Contains(b.text(), "Min-jun Kim") || !strings.Contains(b.text(), "Giulia Rossi"); b.open("/portal/log") {
			if time.Now().After(deadline) {
				t.Fatalf("the access log does not show the lab technician and the pharmacist:\n%s", b.text())
			}
			time.Sleep(300 * time.Millisecond) // the log is on the ledger once anchored: nothing to wait on from here
		}
		b.screenshot("worklists-access-log")
	})
	if b.axe != "" {
		t.Logf("axe-core found no serious or critical violation on %d pages", b.checked)
	}
	noPlaintext(t, home, p.output(), "Diabetes follow-up", "Poorly controlled", "Right middle lobe opacity", "Amoxicillin", "Cough for 3 weeks")
}

// physicianOrders: Dr. Chen is refused an order to BioMed (the patient's
// order rule), orders a lab test of North Lab and a chest X-ray of City
// General, and prescribes with a supply of 20 and 1 refill; a form posted
// without its CSRF token is refused and changes nothing. It returns the
// lab order's record ID.
func physicianOrders(t *testing.T, b *browser) string {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/patients/demo-12")
	b.submit(`a[href="/portal/patients/demo-12/order"]`)
	b.want("New order", "Hemoglobin A1c", "North Diagnostics Laboratory", "demo-12-glucose")
	b.screenshot("worklists-order-form")
	order := func(what, to, reason string, names ...string) {
		b.open("/portal/patients/demo-12/order")
		b.do("the order", chromedp.SetValue(chromedp.ID("order-what"), what), chromedp.SetValue(chromedp.ID("order-performer"), to),
			chromedp.SendKeys(chromedp.ID("order-reason"), reason))
		for _, n := range names {
			b.do("name "+n, chromedp.Click(chromedp.CSS(`input[name=names][value="`+n+`"]`)))
		}
		b.submit("#place-order")
	}
	order("lab:2093-3", "biomed", "Research study")
	b.want("Not written", "order rule of patient/demo-12 does not let an order give biomed access")
	b.screenshot("worklists-order-refused")
	order("lab:4548-4", "northlab", "Diabetes follow-up", "Observation/demo-12-glucose")
	b.want("Order placed", "Hemoglobin A1c", "North Diagnostics Laboratory", "Diabetes follow-up", "open")
	order("imaging:36643-5", "city-general", "Cough for 3 weeks")
	b.want("Order placed", "XR Chest 2 Views", "City General Hospital")
	b.screenshot("worklists-my-orders")
	action, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.order")].find(c => c.innerText.includes("Hemoglobin A1c")).querySelector("form[action$='/complete']").getAttribute("action")`))
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
	b.open("/portal/patients/demo-12/write")
	b.do("prescription", chromedp.SendKeys(chromedp.ID("rx-medication"), "Amoxicillin 500 mg capsule"),
		chromedp.SendKeys(chromedp.ID("rx-dosage"), "1 capsule 3 times a day"), chromedp.SendKeys(chromedp.ID("rx-quantity"), "20"),
		chromedp.SendKeys(chromedp.ID("rx-refills"), "1"))
	b.submit("#write-prescription")
	b.want("Prescription written", "Amoxicillin 500 mg capsule")
	b.signOut()
	return labOrder
}

// labEntersResult: North Lab's technician finds the order on the lab
// worklist, opens it with the glucose result it names, writes an HbA1c
// result, and opens the order again (it is still open).
func labEntersResult(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("northlab/tech-kim")
	b.want("Lab worklist")
	if strings.Contains(b.text(), "Pharmacy queue") || strings.Contains(b.text(), "Radiology worklist") {
		t.Fatalf("a lab technician's nav links pages of other roles:\n%s", b.text())
	}
	b.open("/portal/worklist/lab")
	b.want("Hemoglobin A1c", "patient/demo-12", "Dr. Mei Chen", "open")
	if strings.Contains(b.text(), "XR Chest") {
		t.Fatal("the lab worklist shows the imaging order")
	}
	b.screenshot("worklists-lab")
	b.submit(`td a[href^="/portal/worklist/lab/"]`)
	b.want("Diabetes follow-up", "Glucose", "Records it names")
	b.screenshot("worklists-lab-order")
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
func physicianReadsResultAndCompletes(t *testing.T, b *browser, labOrder string) {
	t.Helper()
	b.signIn("st-mary/dr-chen")
	b.open("/portal/results")
	b.want("Hemoglobin A1c", "7.2 %", "high", "new", "patient/demo-12", "Min-jun Kim")
	b.screenshot("worklists-results")
	b.submit(`a[href^="/portal/results/` + labOrder + `/"]`)
	b.want("The order it answers", "Poorly controlled diabetes", "Hemoglobin A1c")
	b.screenshot("worklists-result")
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
func radiologistReports(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("city-general/dr-haddad")
	b.open("/portal/worklist/radiology")
	b.want("XR Chest 2 Views", "patient/demo-12", "Dr. Mei Chen")
	b.screenshot("worklists-radiology")
	b.submit(`td a[href^="/portal/worklist/radiology/"]`)
	b.want("Cough for 3 weeks")
	b.do("the report", chromedp.SendKeys(chromedp.ID("result-conclusion"), "Right middle lobe opacity; follow-up CT advised."))
	b.screenshot("worklists-radiology-order")
	b.submit("#write-result")
	b.want("Result written")
	b.signOut()
}

// pharmacistDispenses: the patient shares medication records with
// Greenleaf Pharmacy, to read and write; its pharmacist sees the prescription with its supply
// (20 and one refill: 40), dispenses 20, then 20, and is refused 1 more.
func pharmacistDispenses(t *testing.T, b *browser) {
	t.Helper()
	b.signIn("patient/demo-12")
	b.open("/portal/sharing")
	b.do("share with the pharmacy", chromedp.SetValue(chromedp.ID("grantee"), "org:greenleaf"),
		chromedp.Click(chromedp.CSS(`input[name=category][value="medication"]`)), chromedp.SetValue(chromedp.ID("purpose"), "treatment"),
		chromedp.Click(chromedp.ID("write")))
	b.submit("#grant")
	b.want("Greenleaf Pharmacy", "read, write")
	b.signOut()
	b.signIn("greenleaf/ph-rossi")
	b.open("/portal/pharmacy")
	b.want("Amoxicillin 500 mg capsule", "40 in all · 0 dispensed · 40 left", "Metformin", "states no quantity")
	b.screenshot("worklists-pharmacy")
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
	dispense("20")
	b.want("Dispensed", "40 in all · 20 dispensed · 20 left")
	dispense("20")
	b.want("Dispensed", "40 in all · 40 dispensed · 0 left")
	dispense("1")
	b.want("Not written", "allows 40 in all; 40 was dispensed, 1 more is past it")
	b.screenshot("worklists-dispense-refused")
	b.signOut()
}
