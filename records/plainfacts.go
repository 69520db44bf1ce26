package records

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/tx"
)

// What the ledger must see of a sealed resource to enforce its rules, in
// plain beside the ciphertext: the Slots an Appointment books
// (ledger/booking.go), a prescription's supply and what a dispense takes
// from it (ledger/dispensing.go). Nothing else of the resource is.

// plainFacts sets on body what the ledger's rules need of res.
func plainFacts(body *tx.RecordPut, res *fhirjson.Resource) error {
	var err error
	switch res.Type() {
	case "Appointment":
		body.Books = bookedSlots(res)
	case "MedicationRequest":
		body.Supply, err = supplyOf(res)
	case "MedicationDispense":
		body.Dispense, err = dispenseOf(res)
	}
	return err
}

// bookedSlots are the Slots an Appointment holds: those it names
// (Appointment.slot, "Slot/<id>"), unless it is cancelled or entered in
// error. The ledger books them for its record and frees those an earlier
// version held (ledger/booking.go). A Slot named by an absolute URL is not
// booked.
func bookedSlots(res *fhirjson.Resource) []string {
	if res.Type() != "Appointment" || res.Code("status") == "cancelled" || res.Code("status") == "entered-in-error" {
		return nil
	}
	var ids []string
	for _, ref := range res.ReferenceList("slot") {
		if id, ok := strings.CutPrefix(ref, "Slot/"); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// supplyOf is a MedicationRequest's supply in thousandths of its unit:
// dispenseRequest.quantity times one plus numberOfRepeatsAllowed; 0 once
// it is stopped, cancelled, completed or entered in error; nil if it
// states no quantity.
func supplyOf(res *fhirjson.Resource) (*int64, error) {
	n, ok := res.Number("dispenseRequest", "quantity", "value")
	if !ok {
		return nil, nil
	}
	var none int64
	switch res.Code("status") {
	case "stopped", "cancelled", "completed", "entered-in-error":
		return &none, nil
	}
	q, err := thousandths(n.String(), "MedicationRequest.dispenseRequest.quantity.value")
	if err != nil {
		return nil, err
	}
	repeats := int64(0)
	if r, ok := res.Number("dispenseRequest", "numberOfRepeatsAllowed"); ok {
		if repeats, err = r.Int64(); err != nil || repeats < 0 || repeats > 1000 {
			return nil, carechain.E(carechain.KindMalformed, fmt.Errorf("MedicationRequest.dispenseRequest.numberOfRepeatsAllowed %s: want 0 to 1000", r))
		}
	}
	total := q * (1 + repeats)
	return &total, nil
}

// dispenseOf is what a MedicationDispense dispenses against its first
// authorizing prescription ("MedicationRequest/<id>"): nil if it names
// none, states no quantity, or is cancelled, declined or entered in error.
func dispenseOf(res *fhirjson.Resource) (*tx.Dispense, error) {
	switch res.Code("status") {
	case "cancelled", "declined", "entered-in-error", "stopped":
		return nil, nil
	}
	var rx string
	for _, ref := range res.ReferenceList("authorizingPrescription") {
		if id, ok := strings.CutPrefix(ref, "MedicationRequest/"); ok {
			rx = id
			break
		}
	}
	n, ok := res.Number("quantity", "value")
	if rx == "" || !ok {
		return nil, nil
	}
	q, err := thousandths(n.String(), "MedicationDispense.quantity.value")
	if err != nil {
		return nil, err
	}
	return &tx.Dispense{Prescription: rx, Quantity: q}, nil
}

// thousandths is the decimal s in thousandths: positive, at most three
// decimals, below 10^12.
func thousandths(s, path string) (int64, error) {
	r, ok := new(big.Rat).SetString(s)
	if ok {
		r.Mul(r, big.NewRat(1000, 1))
	}
	if !ok || !r.IsInt() || r.Sign() <= 0 || r.Num().BitLen() > 50 {
		return 0, carechain.E(carechain.KindMalformed, fmt.Errorf("%s %s: want a positive quantity with at most three decimals", path, s))
	}
	return r.Num().Int64(), nil
}
