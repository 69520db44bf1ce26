package portal

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// TestSessionStoreIsBoundedAndExpires: a full store drops anonymous
// sessions before signed-in ones; an idle session is gone; IDs and CSRF
// tokens are 256-bit and distinct.
func TestSessionStoreIsBoundedAndExpires(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ss := newSessions(time.Minute, 3)
	who := &carechain.Principal{ID: "patient/p", Kind: carechain.KindPatient}
	signedIn := ss.start(who, "h", now)
	if len(signedIn.id) != 43 || signedIn.id == signedIn.csrf {
		t.Fatalf("session ID %q, CSRF %q: want two distinct 256-bit tokens", signedIn.id, signedIn.csrf)
	}
	for i := range 10 { // a flood of anonymous visitors
		ss.start(nil, "", now.Add(time.Duration(i)*time.Second))
	}
	if len(ss.byID) > 3 {
		t.Fatalf("%d sessions kept, bound 3", len(ss.byID))
	}
	if ss.get(signedIn.id, now.Add(30*time.Second)) == nil {
		t.Fatal("anonymous sessions pushed out a signed-in one")
	}
	if ss.get(signedIn.id, now.Add(89*time.Second)) == nil {
		t.Fatal("a session used within its idle time expired")
	}
	if ss.get(signedIn.id, now.Add(3*time.Minute)) != nil {
		t.Fatal("an idle session lives on")
	}
	ended := ss.expired(now.Add(3 * time.Minute)) // endExpired ends their holds on keys
	if !slices.ContainsFunc(ended, func(s *session) bool { return s == signedIn }) || len(ss.byID) != 0 {
		t.Fatalf("expired: %d sessions, %d left", len(ended), len(ss.byID))
	}
	if s := ss.start(nil, "", now); s.validCSRF("") || s.validCSRF(signedIn.csrf) || !s.validCSRF(s.csrf) {
		t.Fatal("CSRF check accepts a wrong token or refuses the right one")
	}
}

// TestCardsAndChartsForPeople: an observation shows its value, unit,
// reference range and a flag outside it; a chart has a point per value;
// markup in a resource is escaped in the page.
func TestCardsAndChartsForPeople(t *testing.T) {
	obs := func(day, value int) records.Record {
		r := records.Record{Resource: []byte(`{"resourceType":"Observation","status":"final",
			"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart <script>alert(1)</script> rate"}]},
			"effectiveDateTime":"2026-11-0` + string(rune('0'+day)) + `T09:00:00Z",
			"valueQuantity":{"value":` + formatNumber(float64(value)) + `,"unit":"beats/minute"},
			"referenceRange":[{"low":{"value":60},"high":{"value":100}}]}`)}
		r.RecordID, r.ResourceType, r.Category, r.Version = "r", "Observation", "vital-signs", 1
		return r
	}
	label := func(id string) string { return id }
	var cards []card
	for i, v := range []int{72, 104, 58} {
		c, err := cardOf(obs(i+1, v), label)
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, c)
	}
	if c := cards[1]; c.Value != "104 beats/minute" || c.Range != "60–100 beats/minute" || c.Flag != "high" || cards[2].Flag != "low" || cards[0].Flag != "" {
		t.Fatalf("cards %+v", cards)
	}
	chs := charts(cards)
	if len(chs) != 1 || len(chs[0].Points) != 3 || chs[0].Points[0].X >= chs[0].Points[2].X {
		t.Fatalf("charts %+v", chs)
	}
	// The band of the range (60–100) lies between the points of 58 (below
	// it: a larger y) and 104 (above it).
	if b := chs[0].Band; b == nil || !(chs[0].Points[1].Y < b.Y && b.Y+b.H < chs[0].Points[2].Y) {
		t.Fatalf("reference range band %+v, points %+v", b, chs[0].Points)
	}
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	data := chartPage{Self: true, Days: timeline(cards), Charts: chs, Categories: []string{"vital-signs"}}
	if err := pages["records"].ExecuteTemplate(&out, "layout", view{Title: "My records", Data: data}); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;") {
		t.Fatal("markup from a resource reached the page unescaped")
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<style") || strings.Count(page, "<script") != strings.Count(page, `<script src="/static/`) {
		t.Fatal("the page has inline style or script, which the Content-Security-Policy refuses")
	}
}

// TestCardsByResourceType: each kind of record reads as a title and the
// details people need, not as JSON.
func TestCardsByResourceType(t *testing.T) {
	for _, c := range []struct{ typ, json, title, detail string }{
		{"Condition", `{"resourceType":"Condition","clinicalStatus":{"coding":[{"code":"active"}]},"code":{"text":"Asthma"},"onsetDateTime":"2020-01-02"}`, "Asthma", "active"},
		{"MedicationRequest", `{"resourceType":"MedicationRequest","status":"active","medicationCodeableConcept":{"coding":[{"display":"Metformin"}]},"dosageInstruction":[{"text":"twice daily"}]}`, "Metformin", "twice daily"},
		{"AllergyIntolerance", `{"resourceType":"AllergyIntolerance","code":{"coding":[{"display":"Penicillin"}]},"criticality":"high","reaction":[{"manifestation":[{"text":"Hives"}]}]}`, "Penicillin", "Hives"},
		{"Immunization", `{"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"Influenza vaccine"},"occurrenceDateTime":"2025-10-01"}`, "Influenza vaccine", "completed"},
		{"DiagnosticReport", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"Chest X-ray"},"conclusion":"No acute findings."}`, "Chest X-ray", "No acute findings."},
		{"DocumentReference", `{"resourceType":"DocumentReference","description":"Discharge summary","note":[{"text":"Rest a week"}]}`, "Discharge summary", "Rest a week"},
	} {
		r := records.Record{Resource: []byte(c.json)}
		r.RecordID, r.ResourceType = "r", c.typ
		got, err := cardOf(r, func(id string) string { return id })
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, d := range got.Details {
			details = append(details, d.Text)
		}
		if got.Title != c.title || !strings.Contains(strings.Join(details, "|"), c.detail) {
			t.Errorf("%s: title %q, details %q; want %q and %q", c.typ, got.Title, details, c.title, c.detail)
		}
	}
}

// TestGrantForm: the sharing form makes a read grant for a clinician or an
// organization (with a role), categories, a purpose and an end date, and
// refuses one without a grantee or a category.
func TestGrantForm(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	p := &Portal{now: func() time.Time { return now }}
	form := func(kv ...string) *http.Request {
		r := httptest.NewRequest("POST", "/portal/sharing/grant", nil)
		r.PostForm = url.Values{}
		for i := 0; i < len(kv); i += 2 {
			r.PostForm.Add(kv[i], kv[i+1])
		}
		return r
	}
	g, err := p.grantOf(form("grantee", "org:northlab", "role", "lab-technician", "category", "lab", "category", "vital-signs",
		"purpose", "treatment", "until", "2027-01-31"), "patient/p")
	if err != nil {
		t.Fatal(err)
	}
	if g.Grantee.Org != "northlab" || g.Grantee.Role != carechain.RoleLabTechnician || len(g.Categories) != 2 ||
		g.NotBefore != now.Unix() || time.Unix(g.NotAfter, 0).UTC().Format(time.DateTime) != "2027-01-31 23:59:59" || g.Actions[0] != consent.ActionRead {
		t.Fatalf("grant %+v", g)
	}
	if g, err := p.grantOf(form("grantee", "principal:st-mary/dr-chen", "category", "lab", "purpose", "treatment"), "patient/p"); err != nil ||
		g.Grantee.Principal != "st-mary/dr-chen" || g.NotAfter != 0 {
		t.Fatalf("grant %+v, %v", g, err)
	}
	for _, bad := range []*http.Request{form("category", "lab", "purpose", "treatment"), form("grantee", "principal:st-mary/dr-chen", "purpose", "treatment"),
		form("grantee", "principal:st-mary/dr-chen", "category", "lab", "purpose", "gossip")} {
		if _, err := p.grantOf(bad, "patient/p"); err == nil {
			t.Errorf("form %v accepted", bad.PostForm)
		}
	}
}

// TestLogHighlightsEmergencyAccess: an emergency access stands out in the
// access log, and a denial says so with its reason.
func TestLogHighlightsEmergencyAccess(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	rows := []logRow{{Time: time.Now(), Who: "Dr. A", What: "read Observation", Purpose: "emergency", Decision: "allowed", Allowed: true, Emergency: true},
		{Time: time.Now(), Who: "Dr. B", What: "read Observation", Purpose: "treatment", Decision: "denied", Reason: "no consent"}}
	var out bytes.Buffer
	if err := pages["log"].ExecuteTemplate(&out, "layout", view{Title: "Access log", Data: logPage{Rows: rows, Total: 2}}); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	for _, want := range []string{`<tr class="allowed emergency">`, "Emergency access", `<tr class="denied">`, "no consent"} {
		if !strings.Contains(page, want) {
			t.Errorf("the log page lacks %q", want)
		}
	}
}
