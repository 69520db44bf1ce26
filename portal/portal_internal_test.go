package portal

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
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
	if strings.Contains(page, "style=") || strings.Contains(page, "<style") || strings.Count(page, "<script") != 1 {
		t.Fatal("the page has inline style or script, which the Content-Security-Policy refuses")
	}
}
