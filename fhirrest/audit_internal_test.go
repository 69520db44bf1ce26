package fhirrest

import (
	"regexp"
	"testing"
	"time"

	"github.com/carechain/carechain/records"
)

// fhirIDPattern is R4's id data type, which every Resource.id has.
var fhirIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// TestAuditEventIDIsAFHIRID: an access event's ID starts with its node's
// principal ID ("st-mary/node-…"), and a '/' is not allowed in a FHIR id.
func TestAuditEventIDIsAFHIRID(t *testing.T) {
	for _, e := range []records.Event{
		{ID: "st-mary/node-1796234420233708956-36", Time: time.Unix(1, 0), Requester: "st-mary/dr-chen"},
		{ID: "st-mary/node-1796234420233708956-37", Time: time.Unix(1, 0), Unverifiable: true},
	} {
		if id, _ := auditEvent(e)["id"].(string); !fhirIDPattern.MatchString(id) {
			t.Errorf("AuditEvent id %q (event %s) is not a FHIR id", id, e.ID)
		}
	}
}
