package ledger

import (
	"errors"
	"strconv"
	"strings"

	"github.com/carechain/carechain"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Dispensing rules: a prescription (a MedicationRequest record) states its
// supply, the total quantity that may be dispensed against it
// (tx.RecordPut.Supply: the quantity times one plus the refills allowed);
// each MedicationDispense record names the prescription and the quantity it
// dispensed (tx.RecordPut.Dispense). The ledger keeps the sum dispensed
// against each prescription and refuses a dispense that would take it past
// the supply (CodeConflict), so partial dispenses and refills are allowed
// up to the prescription and no further, whichever pharmacy's node
// dispenses. A dispense against a record that is not a MedicationRequest of
// the same patient, or one that states no supply, is refused
// (CodeInvalid). A later version of a dispense replaces what it counted; a
// deletion, or a version that dispenses nothing (cancelled, declined, in
// error), takes it back. A prescription's later version may lower its
// supply (stopped, cancelled: 0): what was dispensed stays counted.
//
// What this puts on the ledger in plain: quantities (no medication, no
// unit) and which dispense record counts against which prescription record.
//
// A record.put without Supply or Dispense, of a record these rules never
// tracked, writes nothing here (nor does booking.go for an Appointment
// booking nothing): a chain's earlier blocks replay to the state, and the
// app hashes, they had before these rules.

// RxState is a prescription's supply and what was dispensed against it,
// stored at "rx/<record>".
type RxState struct {
	// Stated is false while the prescription states no quantity.
	Stated    bool  `cbor:"1,keyasint,omitempty"`
	Supply    int64 `cbor:"2,keyasint"`
	Dispensed int64 `cbor:"3,keyasint"`
}

func rxKey(record string) string       { return "rx/" + record }
func dispenseKey(record string) string { return "dispense/" + record }

// Rx returns a prescription's supply state (zero if it has none).
func (v *View) Rx(record string) (RxState, error) {
	var st RxState
	if err := getCBOR(v, rxKey(record), &st); err != nil && !errors.Is(err, ErrNotFound) {
		return st, err
	}
	return st, nil
}

// dispense applies r's Supply or Dispense.
func dispense(b *store.Block, r *tx.RecordPut) *Rejection {
	switch r.ResourceType {
	case "MedicationRequest":
		var st RxState
		err := getCBOR(b, rxKey(r.RecordID), &st)
		switch {
		case errors.Is(err, ErrNotFound) && r.Supply == nil:
			return nil // nothing to track: the state stays as it was before these rules
		case err != nil && !errors.Is(err, ErrNotFound):
			return reject(CodeInternal, "%v", err)
		}
		st.Stated, st.Supply = r.Supply != nil, 0
		if r.Supply != nil {
			st.Supply = *r.Supply
		}
		return setOrReject(b, rxKey(r.RecordID), st)
	case "MedicationDispense":
		return countDispense(b, r)
	}
	return nil
}

// countDispense takes back what the dispense record counted before and
// counts what r dispenses.
func countDispense(b *store.Block, r *tx.RecordPut) *Rejection {
	var prev tx.Dispense
	counted := false
	switch err := getCBOR(b, dispenseKey(r.RecordID), &prev); {
	case err == nil:
		counted = true
		if rej := addDispensed(b, prev.Prescription, -prev.Quantity); rej != nil {
			return rej
		}
	case !errors.Is(err, ErrNotFound):
		return reject(CodeInternal, "%v", err)
	}
	d := r.Dispense
	if d == nil {
		if counted {
			if err := b.Delete(dispenseKey(r.RecordID)); err != nil {
				return reject(CodeInternal, "%v", err)
			}
		}
		return nil // a version that dispenses nothing, and nothing counted before, writes nothing
	}
	var rx carechain.RecordHead
	if err := getCBOR(b, recordKey(d.Prescription), &rx); errors.Is(err, ErrNotFound) || err == nil && (rx.ResourceType != "MedicationRequest" || rx.Patient != r.Patient || rx.Deleted) {
		return reject(CodeInvalid, "record %s is not a prescription (MedicationRequest) of %s", d.Prescription, r.Patient)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if rej := addDispensed(b, d.Prescription, d.Quantity); rej != nil {
		return rej
	}
	return setOrReject(b, dispenseKey(r.RecordID), d)
}

// addDispensed adds q (negative: takes back) to what was dispensed against
// prescription rx, refusing to go past its supply.
func addDispensed(b *store.Block, rx string, q int64) *Rejection {
	var st RxState
	if err := getCBOR(b, rxKey(rx), &st); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if q > 0 && !st.Stated {
		return reject(CodeInvalid, "prescription %s states no quantity to dispense", rx)
	}
	if q > 0 && st.Dispensed+q > st.Supply {
		return reject(CodeConflict, "prescription %s allows %s in all; %s was dispensed, %s more is past it",
			rx, milli(st.Supply), milli(st.Dispensed), milli(q))
	}
	st.Dispensed += q
	return setOrReject(b, rxKey(rx), st)
}

func setOrReject(b *store.Block, key string, v any) *Rejection {
	if err := setCBOR(b, key, v); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// milli writes a quantity in thousandths as a decimal ("12.5").
func milli(q int64) string {
	s := strconv.FormatInt(q/1000, 10)
	if f := q % 1000; f != 0 {
		if f < 0 {
			f = -f
		}
		s += "." + strings.TrimRight(strconv.FormatInt(1000+f, 10)[1:], "0")
	}
	return s
}
