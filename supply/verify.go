package supply

import (
	"fmt"
	"time"
)

// Scan is what a pharmacy or hospital reads from a unit's GS1 DataMatrix,
// and who offers it: Seller, the organization selling it (empty: not
// checked).
type Scan struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Lot    string `json:"lot,omitempty"`
	Expiry string `json:"expiry,omitempty"` // YYYY-MM-DD or YYMMDD
	Seller string `json:"seller,omitempty"`
}

// Check returns an error saying what in s is malformed.
func (s Scan) Check() error {
	if err := CheckGTIN(s.GTIN); err != nil {
		return err
	}
	if err := CheckSerial(s.Serial); err != nil {
		return err
	}
	if s.Lot != "" {
		if err := CheckLot(s.Lot); err != nil {
			return err
		}
	}
	if s.Expiry != "" {
		if _, err := ParseExpiry(s.Expiry); err != nil {
			return err
		}
	}
	if len(s.Seller) > 64 {
		return fmt.Errorf("%w: seller: at most 64 bytes", ErrInvalid)
	}
	return nil
}

// Verification is the answer to a Scan. Genuine is true when nothing
// stops the unit's sale to (or dispense by) the verifier; Reasons say what
// does, in words for the person scanning. The serial is not in it.
type Verification struct {
	GTIN         string `json:"gtin"`
	Product      string `json:"product,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Commissioned bool   `json:"commissioned"`
	Status       Status `json:"status"`
	Lot          string `json:"lot,omitempty"`
	Expiry       string `json:"expiry,omitempty"`
	Custodian    string `json:"custodian,omitempty"`
	// Packed: the unit is in a case or pallet (supply/case.go), with SSCC
	// if the verifier's node knows it (from its organization's journal).
	Packed  bool     `json:"packed,omitempty"`
	SSCC    string   `json:"sscc,omitempty"`
	Seller  string   `json:"seller,omitempty"`
	Genuine bool     `json:"genuine"`
	Reasons []string `json:"reasons,omitempty"`
	Height  int64    `json:"height"`
}

// Judge answers scan for organization verifier at now, from the ledger's
// product p (nil: not registered) and unit u in lot (nil: no unit with the
// scan's commitment).
func Judge(scan Scan, p *Product, u *Unit, lot *Lot, verifier string, now time.Time) Verification {
	v := Verification{GTIN: scan.GTIN, Seller: scan.Seller, Status: StatusUnknown}
	if p == nil {
		v.Reasons = []string{fmt.Sprintf("GTIN %s is not a registered product: not genuine", scan.GTIN)}
		return v
	}
	v.Product, v.Manufacturer = p.Name, p.Owner
	if u == nil || lot == nil {
		v.Reasons = []string{fmt.Sprintf("this serial was never commissioned by %s, the owner of GTIN %s: not genuine (counterfeit?)", p.Owner, p.GTIN)}
		return v
	}
	v.Commissioned, v.Lot, v.Expiry, v.Custodian, v.Packed = true, u.Lot, lot.Expiry, u.Custodian, u.Case != nil
	v.Status = Effective(*u, *lot, now)
	add := func(format string, a ...any) { v.Reasons = append(v.Reasons, fmt.Sprintf(format, a...)) }
	switch {
	case v.Status == StatusInTransit && u.To != verifier:
		add("%s", Why(v.Status, *u, *lot))
	case v.Status != StatusActive && v.Status != StatusInTransit:
		add("%s", Why(v.Status, *u, *lot))
	}
	if scan.Seller != "" && scan.Seller != u.Custodian {
		add("the unit is held by %s, not by the seller %s: its serial may be copied", u.Custodian, scan.Seller)
	}
	if scan.Lot != "" && scan.Lot != u.Lot {
		add("the package says lot %s, the unit was commissioned in lot %s: the serial may be copied", scan.Lot, u.Lot)
	}
	if e, err := ParseExpiry(scan.Expiry); scan.Expiry != "" && (err != nil || e != lot.Expiry) {
		add("the package says expiry %s, the unit's lot expires on %s: the serial may be copied", scan.Expiry, lot.Expiry)
	}
	v.Genuine = len(v.Reasons) == 0
	return v
}
