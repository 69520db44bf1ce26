package portal

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// TestVisitFormRecords: the visit form makes an Encounter the R4 schema
// accepts, with its class, type, practitioner and organization, and a
// Procedure per procedure ticked whose encounter is the visit; a kind of
// visit or a procedure the form does not offer is refused and makes
// nothing.
func TestVisitFormRecords(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	dr := &carechain.Principal{ID: "st-mary/dr-chen", Org: "st-mary", Kind: carechain.KindPractitioner}
	items, err := visitItems(url.Values{"type": {"50849002"}, "reason": {"Fall from a ladder"}, "procedure": {"225358003", "33879002"}}, "patient/demo-09", dr, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("%d records, want the Encounter and 2 Procedures", len(items))
	}
	enc := string(items[0].Resource)
	for _, want := range []string{`"resourceType":"Encounter"`, `"code":"EMER"`, `"code":"50849002"`, `"Fall from a ladder"`,
		`"reference":"Practitioner/st-mary.dr-chen"`, `"reference":"Organization/st-mary"`, `"reference":"Patient/demo-09"`} {
		if !strings.Contains(enc, want) {
			t.Errorf("the Encounter lacks %s: %s", want, enc)
		}
	}
	for i, it := range items {
		if _, err := fhirjson.Parse(it.Resource); err != nil {
			t.Errorf("record %d is not valid FHIR R4: %v\n%s", i, err, it.Resource)
		}
		if it.Patient != "patient/demo-09" || it.Category != "general" || !strings.Contains(string(it.Resource), `"id":"`+it.RecordID+`"`) {
			t.Errorf("record %d: patient %s, category %s, id %s: %s", i, it.Patient, it.Category, it.RecordID, it.Resource)
		}
		if i > 0 && !strings.Contains(string(it.Resource), `"reference":"Encounter/`+items[0].RecordID+`"`) {
			t.Errorf("procedure %d is not of the visit: %s", i, it.Resource)
		}
	}
	for _, bad := range []url.Values{{"type": {"999"}}, {"type": {"11429006"}, "procedure": {"80146002"}}, {"type": {"11429006"}, "reason": {strings.Repeat("x", maxFormText+1)}}} {
		if items, err := visitItems(bad, "patient/demo-09", dr, now); err == nil || items != nil {
			t.Errorf("%v: %d records, error %v", bad, len(items), err)
		}
	}
}
