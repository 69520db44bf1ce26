package fhirjson_test

import (
	"testing"

	"github.com/carechain/carechain/fhirjson"
)

// TestSummaryAndMandatoryElements: the generated tables hold R4's summary
// and mandatory top-level elements, choice elements by each JSON name.
func TestSummaryAndMandatoryElements(t *testing.T) {
	for _, c := range []struct {
		typ, name          string
		summary, mandatory bool
	}{
		{"Observation", "code", true, true},
		{"Observation", "status", true, true},
		{"Observation", "_status", true, true},
		{"Observation", "valueQuantity", true, false},
		{"Observation", "effectiveDateTime", true, false},
		{"Observation", "category", false, false},
		{"Observation", "note", false, false},
		{"Observation", "id", true, false},
		{"Patient", "name", true, false},
		{"Patient", "photo", false, false},
		{"Consent", "scope", true, true},
		{"NoSuchType", "id", false, false},
	} {
		if got := fhirjson.IsSummaryElement(c.typ, c.name); got != c.summary {
			t.Errorf("IsSummaryElement(%s, %s) = %v", c.typ, c.name, got)
		}
		if got := fhirjson.IsMandatoryElement(c.typ, c.name); got != c.mandatory {
			t.Errorf("IsMandatoryElement(%s, %s) = %v", c.typ, c.name, got)
		}
	}
}
