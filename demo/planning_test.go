package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/fhirjson"
)

// TestPlanningResourcesAreValid: every demo planning record is valid R4
// that names no patient, and the slots start after the day they are made.
func TestPlanningResourcesAreValid(t *testing.T) {
	now := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	slots := 0
	for _, p := range planningResources(now) {
		if _, err := fhirjson.Parse(p.Resource); err != nil {
			t.Errorf("%s/%s: %v", p.ResourceType, p.ID, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s/%s: %v", p.ResourceType, p.ID, err)
		}
		if p.ResourceType == "Slot" {
			slots++
			if !strings.Contains(string(p.Resource), `"start":"2026-12-0`) || strings.Contains(string(p.Resource), `"start":"2026-12-03`) {
				t.Errorf("slot %s is not in the next days: %s", p.ID, p.Resource)
			}
		}
	}
	if want := len(scheduled) * planningDays * len(slotTimes); slots != want {
		t.Errorf("%d slots, want %d", slots, want)
	}
}
