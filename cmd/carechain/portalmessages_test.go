package main

import (
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Texts of the messages the test writes: no page of anyone but the
// thread's parties may show them.
const (
	questionText = "Is my glucose result worrying?"
	replyText    = "It is slightly high; see the linked result."
	followUpText = "Please book a follow-up visit."
)

// TestPortalMessagesInChromium: a patient writes to their physician; the
// physician replies linking a lab result; a physician of another hospital
// whom the patient granted every category their messages are stored in,
// and a colleague of the physician, cannot see the thread (not in their
// inbox, and its URL is refused); the patient's access log shows the
// physician's reading of the message. Then each role tries the URLs of a
// patient it may not see (otherPatientsURLs). Every new page is checked by
// axe-core and saved as a screenshot.
func TestPortalMessagesInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	base := "http://" + addr
	const patient, physician, granted, colleague = "patient/demo-10", "st-mary/dr-chen", "city-general/dr-meyer", "st-mary/dr-ito"
	b := newBrowserWithin(t, base, 5*time.Minute)

	// The patient grants dr-meyer the categories messages are stored in.
	b.signIn(patient)
	b.open("/portal/sharing")
	b.do("fill the grant form", chromedp.SetValue(chromedp.ID("grantee"), "principal:"+granted),
		chromedp.Click(chromedp.CSS(`input[name=category][value="patient-reported"]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value="general"]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value="lab"]`)))
	b.submit("#grant")
	b.want("Access granted")

	// The patient writes to the physician.
	b.open("/portal/messages")
	b.want("Messages", "No messages yet")
	b.screenshot("messages-empty")
	b.submit("#compose")
	b.want("New message", "To (clinician)")
	b.screenshot("messages-new")
	upload := filepath.Join(t.TempDir(), "readings.txt")
	if err := os.WriteFile(upload, []byte(uploadedBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("write the message", chromedp.SetValue(chromedp.ID("to"), physician), chromedp.SendKeys(chromedp.ID("text"), questionText),
		chromedp.SetUploadFiles(chromedp.ID("attachment"), []string{upload}))
	b.submit("#send")
	b.want("Message sent", questionText, "Dr. Mei Chen", "readings.txt (21 bytes)")
	thread, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || !strings.HasPrefix(thread, "/portal/messages/") {
		t.Fatalf("thread URL %q, %v", thread, err)
	}
	b.screenshot("messages-thread-patient")
	b.signOut()

	// The physician finds it in the inbox and replies, linking the result.
	b.signIn(physician)
	b.open("/portal/messages")
	b.want(questionText, patient)
	b.screenshot("messages-inbox-physician")
	b.submit(`a[href="` + thread + `"]`)
	b.want(questionText, "readings.txt (21 bytes)")
	if got := getWithSession(t, b, thread+"/attachments/0"); got != uploadedBytes {
		t.Fatalf("the patient's upload downloaded as %q", got)
	}
	b.do("write the reply", chromedp.SendKeys(chromedp.ID("text"), replyText), chromedp.SetValue(chromedp.ID("link"), "demo-10-glucose"))
	b.submit("#reply")
	b.want("Message sent", questionText, replyText, "Observation demo-10-glucose")
	b.screenshot("messages-thread-reply")
	// and starts a thread of their own with the patient.
	b.open("/portal/messages/new")
	b.want("To (patient)")
	b.do("write to the patient", chromedp.SetValue(chromedp.ID("to"), patient), chromedp.SendKeys(chromedp.ID("text"), followUpText))
	b.submit("#send")
	b.want("Message sent", followUpText)
	b.signOut()

	// The physician adds a note as an attachment through the FHIR API.
	attachmentThread(t, base, physician, strings.TrimPrefix(thread, "/portal/messages/"))

	// The patient sees both threads, the reply in order, downloads the
	// attachment and opens the linked result.
	b.signIn(patient)
	b.open("/portal/messages")
	b.want(questionText, followUpText)
	b.open(thread)
	page := b.text()
	if q, r := strings.Index(page, questionText), strings.Index(page, replyText); q < 0 || r < q {
		t.Fatalf("the thread does not show the question then the reply:\n%s", page)
	}
	b.want("Attachments:", "lab-note.txt (20 bytes)")
	href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".attachments a")].pop().getAttribute("href")`))
	if err != nil {
		t.Fatal(err)
	}
	if got := getWithSession(t, b, href); got != attachmentBytes {
		t.Fatalf("the attachment downloaded as %q", got)
	}
	b.submit(`a[href="/portal/raw/demo-10-glucose"]`)
	b.want(`"resourceType": "Observation"`)
	b.open("/portal/messages") // the raw FHIR has no sign-out button
	b.signOut()

	// Neither the granted physician of another hospital nor a colleague of
	// the physician sees the thread.
	for _, who := range []string{granted, colleague} {
		b.signIn(who)
		b.open("/portal/messages")
		if strings.Contains(b.text(), questionText) || strings.Contains(b.text(), replyText) {
			t.Fatalf("%s's inbox shows the thread:\n%s", who, b.text())
		}
		if resp := b.open(thread); resp.Status != http.StatusForbidden {
			t.Fatalf("%s opening the thread: HTTP %d", who, resp.Status)
		}
		b.want("Access refused", "not a party to this message")
		if strings.Contains(b.text(), questionText) || strings.Contains(b.text(), replyText) {
			t.Fatalf("%s's refusal shows the thread:\n%s", who, b.text())
		}
		if who == granted {
			b.screenshot("messages-refused")
			b.open("/portal/patients/demo-10") // the grant works for records
			b.want("Chart of "+patient, "Glucose")
			if strings.Contains(b.text(), questionText) {
				t.Fatal("the chart shows a message")
			}
		}
		b.signOut()
	}

	// The patient's access log shows the physician's reading of the message.
	b.signIn(patient)
	msgID := strings.TrimPrefix(thread, "/portal/messages/")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.open("/portal/log?person=" + url.QueryEscape(physician))
		if strings.Contains(b.text(), "read Communication (patient-reported) "+msgID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access log does not show %s reading %s:\n%s", physician, msgID, b.text())
		}
		time.Sleep(300 * time.Millisecond) // the log is on the ledger: nothing to wait on from here
	}
	b.screenshot("messages-access-log")
	b.signOut()
	otherPatientsURLs(t, b, thread, href)
	noPlaintext(t, home, p.output(), questionText, replyText, followUpText, strings.TrimSpace(uploadedBytes), strings.TrimSpace(attachmentBytes))
}

// uploadedBytes is the file the patient attaches in the portal.
const uploadedBytes = "morning glucose: 6.4\n"

// attachmentBytes is the note the physician attaches.
const attachmentBytes = "fasting glucose 6.1\n"

// attachmentThread posts, as physician through the FHIR API, a message with
// attachmentBytes attached (its SHA-1 and size stated) in response to
// message inResponseTo of patient/demo-10.
func attachmentThread(t *testing.T, base, physician, inResponseTo string) {
	t.Helper()
	sum := sha1.Sum([]byte(attachmentBytes))
	body := `{"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/demo-10"},
	  "inResponseTo":[{"reference":"Communication/` + inResponseTo + `"}],"sent":"` + time.Now().UTC().Format(time.RFC3339Nano) + `",
	  "sender":{"reference":"Practitioner/` + strings.ReplaceAll(physician, "/", ".") + `"},"recipient":[{"reference":"Patient/demo-10"}],
	  "payload":[{"contentString":"Your lab note is attached."},{"contentAttachment":{"contentType":"text/plain","title":"lab-note.txt",
	  "data":"` + base64.StdEncoding.EncodeToString([]byte(attachmentBytes)) + `","hash":"` + base64.StdEncoding.EncodeToString(sum[:]) + `","size":20}}]}`
	req, _ := http.NewRequest("POST", base+"/fhir/Communication", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+demoToken(t, base, physician))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the message with an attachment: HTTP %d %s", resp.StatusCode, out)
	}
}

// getWithSession fetches path with the browser's session cookie (a
// download, which the browser would save rather than show) and returns its
// body; it must be a 200 download.
func getWithSession(t *testing.T, b *browser, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	c := b.sessionCookie()
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET %s: HTTP %d, Content-Disposition %q", path, resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	return string(out)
}

// otherPatientsURLs signs in as each role and opens every portal URL of a
// patient whose data that role may not see: each is refused (403 or 404,
// or, for a page of the user's own, shows nothing of the patient's) and no
// page shows any of that patient's names, values or messages.
//   - patient demo-12 and city-general/dr-lindqvist (no grant, no record
//     of theirs) try demo-10's URLs, the message thread among them;
//   - city-general/dr-meyer, granted demo-10's records only, tries
//     demo-12's.
func otherPatientsURLs(t *testing.T, b *browser, thread, attachment string) {
	t.Helper()
	urls := func(n, recordsOnly string) []string {
		return []string{"/portal/raw/demo-" + n + "-glucose", "/portal/raw/demo-" + n, "/portal/raw/demo-" + n + "-metformin",
			"/portal/history/demo-" + n + "-glucose", "/portal/proof/demo-" + n + "-glucose/1", "/portal/proof/demo-" + n + "/1",
			"/portal/patients/demo-" + n, "/portal/patients/demo-" + n + "?emergency=1", "/portal/patients/demo-" + n + "?category=lab",
			recordsOnly}
	}
	// Names, birth dates and values of the demo records of demo-10 and
	// demo-12 (demo/records.go), and the thread's texts.
	secretsOf10 := []string{"Liam", "O'Connor", "1971-08-19", "110 mg/dL", "78 beats", questionText, replyText, "fasting glucose", "morning glucose", followUpText}
	secretsOf12 := []string{"Omar", "Farouk", "1975-07-30", "116 mg/dL", "82 beats", "penicillin", "cardiopulmonary"}
	x := append(urls("10", thread), attachment, thread+"/attachments/0", "/portal/messages")
	for _, c := range []struct {
		who     string
		urls    []string
		secrets []string
	}{
		{"patient/demo-12", x, secretsOf10},
		{"city-general/dr-lindqvist", x, secretsOf10},
		{"city-general/dr-meyer", urls("12", thread), secretsOf12},
	} {
		b.signIn(c.who)
		for _, u := range append(c.urls, "/portal/approvals", "/portal/records", "/portal/log", "/portal/patients") {
			resp := b.open(u)
			page := b.text()
			for _, s := range c.secrets {
				if strings.Contains(page, s) {
					t.Fatalf("%s opening %s: HTTP %d shows %q:\n%s", c.who, u, resp.Status, s, page)
				}
			}
			ownPage := u == "/portal/messages" || u == "/portal/approvals" || u == "/portal/records" || u == "/portal/log" || u == "/portal/patients"
			if !ownPage && resp.Status != http.StatusForbidden && resp.Status != http.StatusNotFound {
				t.Fatalf("%s opening %s: HTTP %d, want a refusal:\n%s", c.who, u, resp.Status, page)
			}
		}
		b.signOut()
	}
}
