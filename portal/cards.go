package portal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/carechain/carechain/records"
)

// A card is one record rendered for people: what it is, when, its value
// with unit and reference range, and a few details by resource type. It
// lives only while the page renders.
type card struct {
	RecordID     string
	Version      uint64
	Category     string
	ResourceType string
	Kind         string // for people: "Lab result", "Medication", ...
	Title        string
	Date         time.Time
	Value        string // "72 beats/minute"
	Range        string // "60–100 beats/minute"
	Flag         string // "high", "low" or "" (outside the reference range)
	Details      []detail
	Author       string
	Proposal     string // the approved correction that committed this version (locked)
	Pending      bool   // a proposed version, not on the record yet
	Correct      string // the page to propose a correction of it ("": not offered)
	// series is the chart a numeric observation belongs to (its code),
	// with its number and unit.
	series string
	number float64
	unit   string
	// low and high are the reference range's bounds, if it has both.
	low, high float64
	hasRange  bool
}

type detail struct{ Label, Text string }

// fhirMap is a resource decoded for display.
type fhirMap map[string]any

func (m fhirMap) str(key string) string { s, _ := m[key].(string); return s }

func (m fhirMap) obj(key string) fhirMap {
	switch v := m[key].(type) {
	case map[string]any:
		return v
	case []any:
		if len(v) > 0 {
			if o, ok := v[0].(map[string]any); ok {
				return o
			}
		}
	}
	return nil
}

// concept is a CodeableConcept for people: its text or first display.
func (m fhirMap) concept(key string) string {
	c := m.obj(key)
	if c == nil {
		return ""
	}
	if t := c.str("text"); t != "" {
		return t
	}
	if cd := c.obj("coding"); cd != nil {
		if d := cd.str("display"); d != "" {
			return d
		}
		return cd.str("code")
	}
	return ""
}

// codeKey is key's first coding as system|code (the chart a value
// belongs to).
func (m fhirMap) codeKey(key string) string {
	if cd := m.obj(key).obj("coding"); cd != nil {
		return cd.str("system") + "|" + cd.str("code")
	}
	return ""
}

var kinds = map[string]string{
	"Observation": "Observation", "Condition": "Condition", "MedicationRequest": "Medication",
	"AllergyIntolerance": "Allergy", "Immunization": "Immunization", "DiagnosticReport": "Report",
	"DocumentReference": "Note", "Patient": "Your details", "Procedure": "Procedure", "Encounter": "Visit",
	"ServiceRequest": "Order", "MedicationDispense": "Dispense",
}

// dateFields are where resources keep when they happened, in order.
var dateFields = []string{"effectiveDateTime", "issued", "occurrenceDateTime", "onsetDateTime", "performedDateTime",
	"authoredOn", "recordedDate", "date"}

// cardOf renders a decrypted record, with author labelled by label.
func cardOf(rec records.Record, label func(string) string) (card, error) {
	var m fhirMap
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return card{}, fmt.Errorf("record %s: %w", rec.RecordID, err)
	}
	c := card{RecordID: rec.RecordID, Version: rec.Version, Category: rec.Category, ResourceType: rec.ResourceType,
		Kind: kinds[rec.ResourceType], Date: time.Unix(rec.Time, 0).UTC(), Author: label(rec.Author), Proposal: rec.Proposal}
	if c.Kind == "" {
		c.Kind = rec.ResourceType
	}
	for _, f := range dateFields {
		if t, ok := parseDate(m.str(f)); ok {
			c.Date = t
			break
		}
	}
	c.Title = m.concept("code")
	switch rec.ResourceType {
	case "Observation":
		observation(&c, m)
	case "MedicationRequest":
		c.Title = m.concept("medicationCodeableConcept")
		c.add("Status", m.str("status"))
		c.add("Dosage", m.obj("dosageInstruction").str("text"))
	case "Immunization":
		c.Title = m.concept("vaccineCode")
		c.add("Status", m.str("status"))
	case "Condition", "AllergyIntolerance":
		c.add("Status", m.concept("clinicalStatus"))
		c.add("Criticality", m.str("criticality"))
		c.add("Reaction", m.obj("reaction").concept("manifestation"))
	case "DiagnosticReport":
		c.add("Status", m.str("status"))
		c.add("Conclusion", m.str("conclusion"))
	case "ServiceRequest": // an order (orders.go)
		c.add("Status", m.str("status"))
		c.add("To", m.obj("performer").str("display"))
		c.add("Reason", m.concept("reasonCode"))
	case "MedicationDispense":
		c.Title = m.concept("medicationCodeableConcept")
		c.add("Status", m.str("status"))
		if q, ok := m.obj("quantity")["value"].(float64); ok {
			c.add("Quantity", formatNumber(q))
		}
		if rec.Supply != nil { // its serialized units, as the ledger has them at this read (records/supplydispense.go)
			c.add("Medicine", rec.Supply.Verdict())
		}
	case "DocumentReference":
		c.Title = cmpOr(m.str("description"), m.concept("type"), "Note")
		c.add("Text", plainAttachment(m.obj("content").obj("attachment")))
	case "Encounter":
		c.Title = m.concept("type")
		c.add("Status", m.str("status"))
		c.add("Reason", m.concept("reasonCode"))
		if t, ok := parseDate(m.obj("period").str("start")); ok {
			c.Date = t
		}
	case "Procedure":
		c.add("Status", m.str("status"))
	case "Patient":
		patientCard(&c, m)
	}
	c.add("Note", m.obj("note").str("text"))
	if c.Title == "" {
		c.Title = c.Kind
	}
	return c, nil
}

func (c *card) add(label, text string) {
	if text != "" {
		c.Details = append(c.Details, detail{label, text})
	}
}

// observation sets an Observation's value, reference range and flag.
func observation(c *card, m fhirMap) {
	c.Kind = "Observation"
	switch c.Category {
	case "lab":
		c.Kind = "Lab result"
	case "vital-signs":
		c.Kind = "Vital sign"
	}
	c.add("Status", m.str("status"))
	if q := m.obj("valueQuantity"); q != nil {
		n, ok := q["value"].(float64)
		unit := cmpOr(q.str("unit"), q.str("code"))
		if ok {
			c.Value = strings.TrimSpace(formatNumber(n) + " " + unit)
			c.series, c.number, c.unit = m.codeKey("code"), n, unit
		}
		rr := m.obj("referenceRange")
		c.Range, c.Flag = referenceRange(rr, n, ok, unit)
		lo, hasLo := rr.obj("low")["value"].(float64)
		hi, hasHi := rr.obj("high")["value"].(float64)
		c.low, c.high, c.hasRange = lo, hi, hasLo && hasHi && lo < hi
	} else {
		c.Value = cmpOr(m.str("valueString"), m.concept("valueCodeableConcept"), componentValues(m))
	}
	c.add("Interpretation", m.concept("interpretation"))
}

// referenceRange describes a range and flags n outside it.
func referenceRange(rr fhirMap, n float64, hasN bool, unit string) (string, string) {
	if rr == nil {
		return "", ""
	}
	if t := rr.str("text"); t != "" {
		return t, ""
	}
	low, hasLow := rr.obj("low")["value"].(float64)
	high, hasHigh := rr.obj("high")["value"].(float64)
	flag := ""
	switch {
	case hasN && hasLow && n < low:
		flag = "low"
	case hasN && hasHigh && n > high:
		flag = "high"
	}
	switch {
	case hasLow && hasHigh:
		return strings.TrimSpace(formatNumber(low) + "–" + formatNumber(high) + " " + unit), flag
	case hasLow:
		return "at least " + formatNumber(low) + " " + unit, flag
	case hasHigh:
		return "at most " + formatNumber(high) + " " + unit, flag
	}
	return "", ""
}

// patientCard shows the patient's own demographic record.
func patientCard(c *card, m fhirMap) {
	if n := m.obj("name"); n != nil {
		var given []string
		if g, ok := n["given"].([]any); ok {
			for _, x := range g {
				if s, ok := x.(string); ok {
					given = append(given, s)
				}
			}
		}
		c.Title = strings.TrimSpace(strings.Join(append(given, n.str("family")), " "))
	}
	c.add("Born", m.str("birthDate"))
	c.add("Gender", m.str("gender"))
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// parseDate reads a FHIR date or dateTime.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// day is the cards of one date.
type day struct {
	Date  time.Time
	Cards []card
}

// timeline groups cards by day, newest first.
func timeline(cards []card) []day {
	slices.SortStableFunc(cards, func(a, b card) int { return b.Date.Compare(a.Date) })
	var out []day
	for _, c := range cards {
		d := c.Date.Truncate(24 * time.Hour)
		if len(out) == 0 || !out[len(out)-1].Date.Equal(d) {
			out = append(out, day{Date: d})
		}
		out[len(out)-1].Cards = append(out[len(out)-1].Cards, c)
	}
	return out
}

// componentValues shows an Observation's component quantities (blood
// pressure: "120/80 mmHg"), or "".
func componentValues(m fhirMap) string {
	comps, _ := m["component"].([]any)
	var vals []string
	unit := ""
	for _, c := range comps {
		cm, _ := c.(map[string]any)
		q := fhirMap(cm).obj("valueQuantity")
		if n, ok := q["value"].(float64); ok {
			vals = append(vals, formatNumber(n))
			unit = cmpOr(q.str("unit"), q.str("code"))
		}
	}
	if len(vals) == 0 {
		return ""
	}
	return strings.TrimSpace(strings.Join(vals, "/") + " " + unit)
}

// plainAttachment is a text/plain attachment's text (at most 4 KiB shown),
// or "".
func plainAttachment(a fhirMap) string {
	if !strings.HasPrefix(a.str("contentType"), "text/plain") {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(a.str("data"))
	if err != nil || !utf8.Valid(b) {
		return ""
	}
	if len(b) > 4096 {
		b = append(b[:4096], "…"...)
	}
	return string(b)
}
