package ledger

import (
	"encoding/json"
	"testing"

	"github.com/carechain/carechain/tx"
)

// appointment is a record.put of an Appointment of patient/p holding books.
func appointment(t *testing.T, id string, version uint64, newEpoch bool, books ...string) *tx.RecordPut {
	var readers []string
	if newEpoch {
		readers = []string{"hosp-a", "patient/p"}
	}
	p := put(t, id, version, "patient/p", "lab", 1, readers)
	p.ResourceType, p.Books = "Appointment", books
	return p
}

func slotStatus(t *testing.T, v *View, id string) string {
	t.Helper()
	rv, err := v.OrgRecordVersion("Slot", id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(rv.Resource, &res); err != nil {
		t.Fatal(err)
	}
	return res["status"].(string)
}

// TestBookingSlots: an Appointment books the free Slots it names; a Slot
// is held by one appointment at a time, so of two booking it in one block
// exactly one commits; the Slot's organization cannot unbook it; a
// cancellation frees it; only free Slots that exist are booked.
func TestBookingSlots(t *testing.T) {
	h := recordWorld(t)
	for _, s := range []struct{ id, status string }{{"s1", "free"}, {"s2", "free"}, {"s3", "busy"}} {
		h.block(h.sign("hosp-a/dr-a", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: s.id, Version: 1, Resource: slotJSON(s.id, s.status)}))
	}
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a1", 1, true, "s1"))); c[0] != CodeOK {
		t.Fatalf("book s1: %v", c)
	}
	v := h.at(0)
	if holder, _ := v.SlotHolder("s1"); holder != "a1" || slotStatus(t, v, "s1") != "busy" {
		t.Fatalf("s1 after booking: holder %q, status %s", holder, slotStatus(t, v, "s1"))
	}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a2", 1, false, "s1")), StageFinalize, CodeConflict, "already booked")

	// Two clinics book s2 at once: one block, one winner.
	codes := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a3", 1, false, "s2")),
		h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a4", 1, false, "s2")))
	if codes[0] != CodeOK || codes[1] != CodeConflict {
		t.Fatalf("two bookings of s2 in one block: %v", codes)
	}

	// The Slot's organization cannot unbook it behind the appointment.
	h.judge(h.sign("hosp-a/dr-a", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: "s1", Version: 3, Resource: slotJSON("s1", "free")}), StageFinalize, CodeConflict, "stays busy")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: "s1", Version: 3, Deleted: true}), StageFinalize, CodeConflict, "cancel its appointment first")

	// A cancellation (a version booking nothing) frees s1; another books it.
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a1", 2, false))); c[0] != CodeOK {
		t.Fatalf("cancel: %v", c)
	}
	if holder, _ := h.at(0).SlotHolder("s1"); holder != "" || slotStatus(t, h.at(0), "s1") != "free" {
		t.Fatalf("s1 after the cancellation: holder %q", holder)
	}
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a5", 1, false, "s1"))); c[0] != CodeOK {
		t.Fatalf("book the freed s1: %v", c)
	}
	versions, _ := h.at(0).OrgRecordVersions("Slot", "s1")
	if len(versions) != 4 || versions[2].Author != "hosp-a/dr-a" {
		t.Errorf("s1's versions: %+v", versions)
	}

	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a6", 1, false, "nope")), StageFinalize, CodeInvalid, "does not exist")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, appointment(t, "a6", 1, false, "s3")), StageFinalize, CodeConflict, "not free")
	obs := put(t, "o1", 1, "patient/p", "lab", 1, nil)
	obs.Books = []string{"s2"}
	if err := obs.Validate(); err == nil {
		t.Error("an Observation booking a Slot passed validation")
	}
}
