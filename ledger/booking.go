package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Booking rules: an Appointment version names the Slots it holds
// (tx.RecordPut.Books). The ledger books each Slot it did not hold before
// for the record, in the same transaction as the Appointment, so two
// appointments booking one Slot at once on two nodes cannot both commit:
// the second finds it booked (CodeConflict). A Slot is bookable if it
// exists, is not deleted and its status is free; booking writes a version
// of the Slot marked busy, signed by the booker. Slots an earlier version
// held that this one does not name (a cancellation, a move, a deletion of
// the Appointment) are freed: a version of the Slot marked free. While an
// appointment holds a Slot, its organization may not mark it anything but
// busy, nor delete it.
//
// What this puts on the ledger in plain: which record (a pseudonymous id
// whose head names the patient's pseudonym) holds which Slot of which
// organization. The Appointment itself stays sealed.

func slotBookingKey(slot string) string   { return "slot-booking/" + slot }
func recordBooksKey(record string) string { return "record-books/" + record }

// SlotHolder returns the record of the Appointment that holds Slot slot,
// "" if none does.
func (v *View) SlotHolder(slot string) (string, error) {
	holder, err := v.Get(slotBookingKey(slot))
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(holder), err
}

// book applies r's Books: books what r names that its record did not hold
// and frees what it held that r does not name.
func book(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	if r.ResourceType != "Appointment" { // only an Appointment books (tx.RecordPut.Validate)
		return nil
	}
	var held []string
	if err := getCBOR(b, recordBooksKey(r.RecordID), &held); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if len(held) == 0 && len(r.Books) == 0 {
		return nil
	}
	for _, slot := range held {
		if !slices.Contains(r.Books, slot) {
			if err := b.Delete(slotBookingKey(slot)); err != nil {
				return reject(CodeInternal, "%v", err)
			}
			if rej := setSlotStatus(b, signer, now, slot, "free"); rej != nil {
				return rej
			}
		}
	}
	for _, slot := range r.Books {
		if slices.Contains(held, slot) {
			continue
		}
		if _, err := b.Get(slotBookingKey(slot)); err == nil { // the holder is not named: it may be another patient's
			return reject(CodeConflict, "Slot %s is already booked", slot)
		} else if !errors.Is(err, store.ErrNotFound) {
			return reject(CodeInternal, "%v", err)
		}
		if err := b.Set(slotBookingKey(slot), []byte(r.RecordID)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if rej := setSlotStatus(b, signer, now, slot, "busy"); rej != nil {
			return rej
		}
	}
	if len(r.Books) == 0 {
		if err := b.Delete(recordBooksKey(r.RecordID)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		return nil
	}
	if err := setCBOR(b, recordBooksKey(r.RecordID), r.Books); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// setSlotStatus writes a version of Slot slot with status (busy when
// booked, free when freed); booking needs it free.
func setSlotStatus(b *store.Block, signer *carechain.Principal, now int64, slot, status string) *Rejection {
	var head OrgRecordHead
	if err := getCBOR(b, orgRecordKey("Slot", slot), &head); errors.Is(err, ErrNotFound) || err == nil && head.Deleted {
		return reject(CodeInvalid, "Slot %s does not exist", slot)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	var cur OrgRecordVersion
	if err := getCBOR(b, orgRecordVersionKey("Slot", slot, head.Latest), &cur); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	res, err := decodeJSON(cur.Resource)
	if err != nil {
		return reject(CodeInternal, "Slot %s: %v", slot, err)
	}
	if status == "busy" && res["status"] != "free" {
		return reject(CodeConflict, "Slot %s is %v, not free", slot, res["status"])
	}
	res["status"] = status
	enc, err := json.Marshal(res)
	if err == nil {
		enc, err = fhirjson.Canonical(enc)
	}
	if err != nil {
		return reject(CodeInternal, "Slot %s: %v", slot, err)
	}
	rv := OrgRecordVersion{ResourceType: "Slot", ID: slot, Org: head.Org, Version: head.Latest + 1, Resource: enc,
		Author: signer.ID, Height: b.Height(), Time: now}
	if err := putOrgVersion(b, head, rv); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// keepsBooking refuses a write of a booked Slot by its organization that
// would unbook it behind its Appointment's back: a deletion, or a status
// other than busy.
func keepsBooking(b *store.Block, p *tx.OrgRecordPut) *Rejection {
	_, err := b.Get(slotBookingKey(p.ID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if p.Deleted {
		return reject(CodeConflict, "Slot %s is booked: cancel its appointment first", p.ID)
	}
	res, err := decodeJSON(p.Resource)
	if err != nil || res["status"] != "busy" {
		return reject(CodeConflict, "Slot %s is booked: its status stays busy until its appointment is cancelled", p.ID)
	}
	return nil
}

// decodeJSON decodes a resource's JSON object, numbers kept exact.
func decodeJSON(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}
