package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain/demo"
)

// TestPortalDeskInChromium drives the registration desk and the patient's
// appointments and bills through the portal of its own demo node in
// headless Chromium. St Mary's clerk finds a demo patient by identifier
// and by name and birth date; registers a new patient with an insurance
// and gets an enrolment code; books a slot of the demo's schedules, and
// is refused a slot another desk booked meanwhile (over FHIR) with the
// ledger's reason; cancels the booking (the Slot is free again), marks a
// past appointment a no-show (its Slot stays busy), and books a follow-up
// of a physician's Encounter, which the FHIR search supporting-info finds;
// a desk form without its CSRF token is refused; a physician is refused
// the desk. The new patient signs in
// with the code, sees the follow-up among the upcoming appointments and
// the others as past, and a bill the desk wrote over FHIR, priced from
// the demo catalogue; their access log shows the clerk's reads. No
// plaintext of the new patient reaches the node's files or output.
func TestPortalDeskInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	const clerk = "st-mary/clerk-singh"
	desk := demoToken(t, base, clerk)
	b := newBrowserWithin(t, base, 4*time.Minute)

	// Find: by identifier, and by name and birth date (two demo patients
	// share both).
	b.signIn(clerk)
	b.want("Registration desk", "Register a new patient")
	b.do("find by identifier", chromedp.SendKeys(chromedp.ID("identifier"), "patient/demo-02"))
	b.submit("#find-identifier")
	if b.want("Omar Farouk", "1975-07-30", "patient/demo-02"); strings.Contains(b.text(), "patient/demo-12") {
		t.Fatal("the identifier search found another patient")
	}
	b.screenshot("desk-find-identifier")
	b.do("find by name", chromedp.SendKeys(chromedp.ID("name"), "omar far"), chromedp.SetValue(chromedp.ID("birthdate"), "1975-07-30"))
	b.submit("#find-name")
	b.want("patient/demo-02", "patient/demo-12")
	b.screenshot("desk-find-name")
	b.open("/portal/desk?name=Omar&birthdate=1975-07-31")
	b.want("No patient found")

	// Register a new patient with an insurance.
	b.open("/portal/desk/register")
	b.do("fill the registration", chromedp.SendKeys(chromedp.ID("given"), "Zora"), chromedp.SendKeys(chromedp.ID("family"), "Quillfeather"),
		chromedp.SetValue(chromedp.ID("reg-birthdate"), "1990-02-14"), chromedp.SetValue(chromedp.ID("gender"), "female"),
		chromedp.SendKeys(chromedp.ID("mrn"), "SM-4242"), chromedp.SetValue(chromedp.ID("insurer"), "carewell"),
		chromedp.SendKeys(chromedp.ID("member"), "CW-778899"))
	b.screenshot("desk-register")
	b.submit("#register")
	b.want("is registered on the ledger", "Enrolment code", "shown only now")
	short, code := b.textOf("enrolled-id"), b.textOf("enrolment-code")
	patient := "patient/" + short
	b.screenshot("desk-registered")
	b.open("/portal/desk?identifier=urn:st-mary:mrn|SM-4242")
	b.want("Zora Quillfeather", patient)
	b.submit(`a[href="/portal/desk/patients/` + short + `"]`)
	b.want("Zora Quillfeather", "1990-02-14", "urn:st-mary:mrn|SM-4242", "Carewell Health Insurance, member CW-778899", "No appointments")
	b.screenshot("desk-patient")

	// Book a slot, then one another desk took meanwhile.
	b.open("/portal/desk/schedule?patient=" + short)
	b.want("Booking for "+patient, "Dr. Mei Chen", "Dr. Kenji Ito", "free")
	b.screenshot("desk-schedule")
	first := b.firstBookable()
	b.submit(`tr#slot-` + first + ` button`)
	b.want("Appointment booked", "booked", "Dr. Mei Chen", "Outpatient clinic")
	b.open("/portal/desk/schedule?patient=" + short)
	taken := b.firstBookable()
	if taken == first {
		t.Fatal("the booked slot is still offered")
	}
	fhirCreate(t, base, desk, "Appointment", `{"resourceType":"Appointment","status":"booked","slot":[{"reference":"Slot/`+taken+`"}],
	  "participant":[{"actor":{"reference":"Patient/demo-02"},"status":"accepted"}]}`)
	b.submit(`tr#slot-` + taken + ` button`)
	b.want("Not booked: the ledger refused it", "Slot "+taken+" is already booked", "choose another slot")
	b.screenshot("desk-double-booking")

	// A desk form without its CSRF token is refused.
	b.open("/portal/desk/schedule?patient=" + short)
	next := b.firstBookable()
	b.do("drop the token", chromedp.Evaluate[chromedp.Void](`document.querySelector("tr#slot-`+next+` input[name=csrf]").remove()`))
	b.submit(`tr#slot-` + next + ` button`)
	b.want("security token is missing")
	if got := slotStatus(t, base, desk, next); got != "free" {
		t.Fatalf("the slot of the refused form is %s", got)
	}

	// Cancel the booking: its slot is free again.
	b.open("/portal/desk/patients/" + short)
	b.submit(`form[action$="/cancel"] button`)
	b.want("Appointment cancelled", "cancelled")
	if got := slotStatus(t, base, desk, first); got != "free" {
		t.Fatalf("the cancelled appointment's slot is %s", got)
	}

	// A no-show at an appointment that began an hour ago: its slot stays busy.
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	past := fhirCreate(t, base, desk, "Slot", fmt.Sprintf(`{"resourceType":"Slot","schedule":{"reference":"Schedule/sm-dr-chen"},"status":"free","start":%q,"end":%q}`,
		start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339)))
	fhirCreate(t, base, desk, "Appointment", fmt.Sprintf(`{"resourceType":"Appointment","status":"booked","slot":[{"reference":"Slot/%s"}],"start":%q,
	  "participant":[{"actor":{"reference":"Patient/%s"},"status":"accepted"}]}`, past, start.Format(time.RFC3339), short))
	b.open("/portal/desk/patients/" + short)
	b.submit(`form[action$="/noshow"] button`)
	b.want("Marked as a no-show", "noshow")
	if got := slotStatus(t, base, desk, past); got != "busy" {
		t.Fatalf("the no-show's slot is %s", got)
	}

	// A follow-up of the physician's encounter.
	encounter := fhirCreate(t, base, demoToken(t, base, "st-mary/dr-chen"), "Encounter", `{"resourceType":"Encounter","status":"finished",
	  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/`+short+`"}}`)
	b.do("name the encounter", chromedp.SendKeys(chromedp.ID("follows"), "Encounter/"+encounter))
	b.submit("#choose-followup")
	b.want("a follow-up of Encounter/" + encounter)
	b.submit(`tr#slot-` + b.firstBookable() + ` button`)
	b.want("Follow-up appointment booked", "Encounter/"+encounter)
	b.screenshot("desk-followup")
	if n := fhirTotal(t, base, desk, "/fhir/Appointment?patient=Patient/"+short+"&supporting-info=Encounter/"+encounter); n != 1 {
		t.Fatalf("supporting-info finds %d follow-ups", n)
	}
	b.signOut()

	// The desk's pages are the clerks'.
	b.signIn("st-mary/dr-chen")
	if strings.Contains(b.text(), "Desk") {
		t.Fatal("a physician's nav shows the desk")
	}
	if resp := b.open("/portal/desk"); resp.Status != http.StatusForbidden {
		t.Fatalf("a physician's desk: HTTP %d", resp.Status)
	}
	b.want("This page is for registration clerks")
	b.signOut()

	// The desk bills the visit; the patient sees the appointments and the bill.
	item := fhirCreate(t, base, desk, "ChargeItem", `{"resourceType":"ChargeItem","status":"billable","code":{"text":"Outpatient consultation"},
	  "subject":{"reference":"Patient/`+short+`"},"context":{"reference":"Encounter/`+encounter+`"},"definitionCanonical":["`+demo.ConsultationFee+`"]}`)
	invoice := fhirCreate(t, base, desk, "Invoice", `{"resourceType":"Invoice","status":"issued","subject":{"reference":"Patient/`+short+`"},
	  "date":"`+time.Now().UTC().Format("2006-01-02")+`","lineItem":[{"chargeItemReference":{"reference":"ChargeItem/`+item+`"}}]}`)
	b.signInWith(short, code)
	b.open("/portal/appointments")
	b.want("Upcoming", "Dr. Mei Chen", "Outpatient clinic", "Follow-up of", "Encounter/"+encounter, "Past and cancelled", "cancelled", "noshow")
	b.screenshot("patient-appointments")
	b.open("/portal/bills")
	b.want("Invoice "+invoice, "Outpatient consultation", "80.00 EUR", "Total")
	b.screenshot("patient-bills")
	b.submit(`a[href="/portal/raw/` + invoice + `"]`)
	b.want(`"resourceType": "Invoice"`, `"totalGross"`)
	seeDeskInLog(t, b, clerk)
	b.screenshot("patient-log-desk")
	noPlaintext(t, home, p.output(), "Quillfeather", "CW-778899", "SM-4242", code)
}

// firstBookable is the ID of the schedule page's first slot with a
// booking form.
func (b *browser) firstBookable() string {
	b.t.Helper()
	id, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("table.slots input[name=slot]") || {}).value || ""`))
	if err != nil || id == "" {
		b.t.Fatalf("no bookable slot (%v):\n%s", err, b.text())
	}
	return id
}

// seeDeskInLog waits until the patient's access log shows the clerk's
// reads (events appear once the node anchored them).
func seeDeskInLog(t *testing.T, b *browser, clerk string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/portal/log?person=" + url.QueryEscape(clerk))
		n, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.log tr.allowed").length`))
		if n > 0 {
			b.want("Ravi Singh")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log shows no read by %s:\n%s", clerk, b.text())
		}
		time.Sleep(300 * time.Millisecond) // the log is on the ledger: nothing to wait on from here
	}
}

// fhirCreate POSTs body to /fhir/typ and returns the new resource's id.
func fhirCreate(t *testing.T, base, token, typ, body string) string {
	t.Helper()
	status, res := fhirCall(t, http.MethodPost, base+"/fhir/"+typ, token, body)
	id, _ := res["id"].(string)
	if status != http.StatusCreated || id == "" {
		t.Fatalf("POST %s: HTTP %d: %v", typ, status, res)
	}
	return id
}

// slotStatus is the status of Slot id.
func slotStatus(t *testing.T, base, token, id string) string {
	t.Helper()
	_, res := fhirCall(t, http.MethodGet, base+"/fhir/Slot/"+id, token, "")
	s, _ := res["status"].(string)
	return s
}

// fhirTotal is the total of a search.
func fhirTotal(t *testing.T, base, token, path string) int {
	t.Helper()
	status, res := fhirCall(t, http.MethodGet, base+path, token, "")
	n, ok := res["total"].(float64)
	if status != http.StatusOK || !ok {
		t.Fatalf("GET %s: HTTP %d: %v", path, status, res)
	}
	return int(n)
}

func fhirCall(t *testing.T, method, u, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res map[string]any
	json.Unmarshal(raw, &res)
	return resp.StatusCode, res
}
