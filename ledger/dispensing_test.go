package ledger

import (
	"testing"

	"github.com/carechain/carechain/tx"
)

func prescription(t *testing.T, id string, version uint64, newEpoch bool, supply *int64) *tx.RecordPut {
	var readers []string
	if newEpoch {
		readers = []string{"hosp-a", "patient/p"}
	}
	p := put(t, id, version, "patient/p", "lab", 1, readers)
	p.ResourceType, p.Supply = "MedicationRequest", supply
	return p
}

func dispensed(t *testing.T, id string, version uint64, d *tx.Dispense) *tx.RecordPut {
	p := put(t, id, version, "patient/p", "lab", 1, nil)
	p.ResourceType, p.Dispense = "MedicationDispense", d
	return p
}

// TestDispensingAgainstAPrescription: partial dispenses and refills add up
// to the prescription's supply and no further; a later version of a
// dispense replaces what it counted and a cancelled one gives it back; a
// dispense against what is not a prescription, or one that states no
// quantity, is refused; a stopped prescription allows nothing more.
func TestDispensingAgainstAPrescription(t *testing.T) {
	h := recordWorld(t)
	supply := int64(60_000) // 30 tablets, one refill
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, prescription(t, "rx1", 1, true, &supply))); c[0] != CodeOK {
		t.Fatalf("prescribe: %v", c)
	}
	ok := func(raw []byte, what string) {
		t.Helper()
		if c := h.block(raw); c[0] != CodeOK {
			t.Fatalf("%s: %v", what, c)
		}
	}
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d1", 1, &tx.Dispense{Prescription: "rx1", Quantity: 10_000})), "a partial dispense")
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d2", 1, &tx.Dispense{Prescription: "rx1", Quantity: 20_000})), "the rest of the first fill")
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d3", 1, &tx.Dispense{Prescription: "rx1", Quantity: 25_500})), "most of the refill")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d4", 1, &tx.Dispense{Prescription: "rx1", Quantity: 5_000})), StageFinalize, CodeConflict, "60 in all; 55.5 was dispensed, 5 more is past it")
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d3", 2, &tx.Dispense{Prescription: "rx1", Quantity: 30_000})), "a corrected dispense")
	if st, _ := h.at(0).Rx("rx1"); st.Dispensed != 60_000 || st.Supply != 60_000 {
		t.Fatalf("rx1 = %+v", st)
	}
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d2", 2, nil)), "a cancelled dispense")
	if st, _ := h.at(0).Rx("rx1"); st.Dispensed != 40_000 {
		t.Fatalf("rx1 after the cancellation = %+v", st)
	}
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d5", 1, &tx.Dispense{Prescription: "rx1", Quantity: 20_000})), "the freed quantity")

	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d6", 1, &tx.Dispense{Prescription: "d1", Quantity: 1})), StageFinalize, CodeInvalid, "not a prescription")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d6", 1, &tx.Dispense{Prescription: "nope", Quantity: 1})), StageFinalize, CodeInvalid, "not a prescription")
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, prescription(t, "rx2", 1, false, nil)), "a prescription without a quantity")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d6", 1, &tx.Dispense{Prescription: "rx2", Quantity: 1})), StageFinalize, CodeInvalid, "states no quantity")
	// What these rules do not track writes nothing: earlier blocks replay to the same state.
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d7", 1, nil)), "a dispense against no prescription")
	for _, key := range []string{rxKey("rx2"), dispenseKey("d7"), recordBooksKey("rx2")} {
		if _, err := h.at(0).Get(key); err == nil {
			t.Errorf("%s was written", key)
		}
	}

	stopped := int64(0)
	ok(h.sign("hosp-a/dr-a", tx.TypeRecordPut, prescription(t, "rx1", 2, false, &stopped)), "stop rx1")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, dispensed(t, "d6", 1, &tx.Dispense{Prescription: "rx1", Quantity: 1})), StageFinalize, CodeConflict, "allows 0 in all")
	if st, _ := h.at(0).Rx("rx1"); st.Dispensed != 60_000 {
		t.Errorf("a stop keeps what was dispensed: %+v", st)
	}
	obs := put(t, "o1", 1, "patient/p", "lab", 1, nil)
	obs.Supply = &supply
	if err := obs.Validate(); err == nil {
		t.Error("an Observation stating a supply passed validation")
	}
}
