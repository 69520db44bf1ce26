package supply

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func epcisDoc(events ...string) []byte {
	return []byte(`{"@context":["` + EPCISContext + `"],"type":"EPCISDocument","schemaVersion":"2.0",
"creationDate":"2026-12-03T10:00:00Z","epcisBody":{"eventList":[` + strings.Join(events, ",") + `]}}`)
}

const okShip = `{"type":"ObjectEvent","eventTime":"2026-12-03T10:00:00.000+01:00","eventTimeZoneOffset":"+01:00","action":"OBSERVE",
"bizStep":"https://ref.gs1.org/cbv/BizStep-shipping","disposition":"in_transit",
"epcList":["urn:epc:id:sgtin:0312345.067890.SN%2F1","https://id.gs1.org/01/00312345678906/21/SN2"],
"destinationList":[{"type":"owning_party","destination":"urn:carechain:org:dist"}]}`

// TestParseEPCISReadsURNsAndWebVocabulary reads SGTIN URNs, GS1 Web URIs
// of CBV terms and time zone offsets.
func TestParseEPCISReadsURNsAndWebVocabulary(t *testing.T) {
	evs, err := ParseEPCIS(epcisDoc(okShip))
	if err != nil {
		t.Fatal(err)
	}
	e := evs[0]
	if e.Action != ActShip || e.GTIN != "00312345678906" || strings.Join(e.Serials, " ") != "SN/1 SN2" || e.To != "dist" ||
		!e.Time.Equal(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", e)
	}
}

// TestParseEPCISRefusesNamingTheEvent refuses what it cannot map, and says
// which event of the document.
func TestParseEPCISRefusesNamingTheEvent(t *testing.T) {
	for _, tc := range []struct{ name, event, want string }{
		{"an unknown bizStep", strings.Replace(okShip, "BizStep-shipping", "BizStep-repairing", 1), `bizStep "https://ref.gs1.org/cbv/BizStep-repairing" is not supported`},
		{"a malformed EPC", strings.Replace(okShip, "00312345678906/21/SN2", "00312345678907/21/SN2", 1), "GS1 check digit"},
		{"an EPC of no known scheme", strings.Replace(okShip, "https://id.gs1.org/01/00312345678906/21/SN2", "urn:epc:id:giai:0614141.1234567890", 1), "want https://id.gs1.org/01/"},
		{"two products in an event", strings.Replace(okShip, "00312345678906/21/SN2", "09506000134352/21/SN2", 1), "one product an event"},
		{"a ship without receiver", strings.Replace(okShip, `"destinationList"`, `"x:destinationList"`, 1), "names its receiver"},
		{"another event type", strings.Replace(okShip, "ObjectEvent", "TransformationEvent", 1), "only ObjectEvent, AggregationEvent"},
		{"units and cases in one ship", strings.Replace(okShip, `"https://id.gs1.org/01/00312345678906/21/SN2"]`, `"urn:epc:id:sscc:0614141.1234567890"],"carechain:gtin":"00312345678906"`, 1), "not both"},
		{"a commissioning without lot", `{"type":"ObjectEvent","eventTime":"2026-12-03T10:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","bizStep":"commissioning","epcList":["https://id.gs1.org/01/00312345678906/21/SN2"]}`, "cbvmda:lotNumber"},
		{"a wrong action", strings.Replace(okShip, "OBSERVE", "ADD", 1), "with action ADD"},
	} {
		_, err := ParseEPCIS(epcisDoc(okShip, tc.event))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Index != 1 || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "event #1: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want event #1 refused with %q", tc.name, err, tc.want)
		}
	}
	if _, err := ParseEPCIS([]byte(`{"type":"EPCISDocument","schemaVersion":"1.2","epcisBody":{"eventList":[]}}`)); err == nil {
		t.Error("an EPCIS 1.2 document was read")
	}
}

// TestEventQueryFilters selects events by bizStep, EPC (one unit or a
// whole product) and event time.
func TestEventQueryFilters(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	evs := []Event{
		{Action: ActCommission, Time: at, GTIN: "00312345678906", Serials: []string{"A", "B"}, Lot: "L", Expiry: "2030-01-01"},
		{Action: ActShip, Time: at.Add(time.Hour), GTIN: "00312345678906", Serials: []string{"A"}, To: "d"},
		{Action: ActShip, Time: at.Add(2 * time.Hour), GTIN: "09506000134352", Serials: []string{"A"}, To: "d"},
	}
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"", []int{0, 1, 2}},
		{"EQ_bizStep=shipping", []int{1, 2}},
		{"EQ_bizStep=https://ref.gs1.org/cbv/BizStep-commissioning,receiving", []int{0}},
		{"MATCH_epc=https://id.gs1.org/01/00312345678906/21/B", []int{0}},
		{"MATCH_epc=urn:epc:id:sgtin:0312345.067890.A", []int{0, 1}},
		{"MATCH_epc=https://id.gs1.org/01/09506000134352/21/*", []int{2}},
		{"GE_eventTime=2026-12-03T11:00:00Z&LT_eventTime=2026-12-03T12:00:00Z", []int{1}},
		{"EQ_bizStep=shipping&MATCH_epc=urn:epc:idpat:sgtin:0312345.067890.*", []int{1}},
	} {
		v, _ := url.ParseQuery(tc.query)
		q, err := ParseEventQuery(v)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var got []int
		for i, e := range evs {
			if q.Match(e) {
				got = append(got, i)
			}
		}
		if fmtInts(got) != fmtInts(tc.want) {
			t.Errorf("%s: events %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"EQ_action=ADD", "MATCH_epc=urn:epc:id:sscc:1.2", "GE_eventTime=yesterday"} {
		v, _ := url.ParseQuery(bad)
		if _, err := ParseEventQuery(v); err == nil {
			t.Errorf("%s: read", bad)
		}
	}
}

func fmtInts(l []int) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = string(rune('0' + n))
	}
	return strings.Join(s, ",")
}

// TestAggregationEventsRoundTrip writes a pack, an unpack of a whole case
// and a ship of cases as EPCIS and reads them back, SSCC URNs and Digital
// Link URIs alike, and refuses malformed aggregations.
func TestAggregationEventsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	in := []Event{
		{Action: ActPack, Time: at, GTIN: "00312345678906", SSCCs: []string{"106141412345678908"}, Serials: []string{"SN1", "SN2"}},
		{Action: ActShip, Time: at, Org: "acme", GTIN: "00312345678906", SSCCs: []string{"106141412345678908"}, To: "dist"},
		{Action: ActUnpack, Time: at, GTIN: "00312345678906", SSCCs: []string{"106141412345678908"}},
	}
	b, err := json.Marshal(NewEPCISDocument(in, at))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type":"AggregationEvent"`, `"parentID":"https://id.gs1.org/00/106141412345678908"`, `"bizStep":"packing"`,
		`"childEPCs":["https://id.gs1.org/01/00312345678906/21/SN1"`, `"epcList":["https://id.gs1.org/00/106141412345678908"]`, `"bizStep":"unpacking"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("no %s in %s", want, b)
		}
	}
	out, err := ParseEPCIS(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("read back %+v, wrote %+v", out, in)
	}
	urn := strings.Replace(string(b), "https://id.gs1.org/00/106141412345678908", "urn:epc:id:sscc:0614141.1234567890", 1)
	if out, err := ParseEPCIS([]byte(urn)); err != nil || out[0].SSCCs[0] != "106141412345678908" {
		t.Fatalf("SSCC URN: %+v, %v", out, err)
	}
	for name, bad := range map[string]string{
		"a wrong check digit":     strings.Replace(string(b), "00/106141412345678908", "00/106141412345678907", 1),
		"a pack without children": strings.Replace(string(b), `"childEPCs":["https://id.gs1.org/01/00312345678906/21/SN1","https://id.gs1.org/01/00312345678906/21/SN2"],`, "", 1),
		"a pack with DELETE":      strings.Replace(string(b), `"action":"ADD"`, `"action":"DELETE"`, 1),
		"a case without product":  strings.Replace(string(b), `"carechain:gtin":"00312345678906"`, `"carechain:x":"1"`, 2),
	} {
		if _, err := ParseEPCIS([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
