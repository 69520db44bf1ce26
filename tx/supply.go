package tx

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain/supply"
)

// The drug and device supply chain (package supply). A manufacturer's
// supply staff registers a product (SupplyProduct) and commissions its
// serialized units in batches (SupplyCommission); custodians move them
// (SupplyMove: ship, receive, dispense, decommission), flag a unit or its
// lot as suspect (SupplyFlag); the manufacturer confirms or clears a flag
// (SupplyResolve) and recalls lots (SupplyRecall). Units are named by their
// serial commitments (supply.Commitment), never by serial.
const (
	TypeSupplyProduct    Type = "supply.product"
	TypeSupplyCommission Type = "supply.commission"
	TypeSupplyMove       Type = "supply.move"
	TypeSupplyFlag       Type = "supply.flag"
	TypeSupplyResolve    Type = "supply.resolve"
	TypeSupplyRecall     Type = "supply.recall"
)

func init() {
	register[SupplyProduct](TypeSupplyProduct)
	register[SupplyCommission](TypeSupplyCommission)
	register[SupplyMove](TypeSupplyMove)
	register[SupplyFlag](TypeSupplyFlag)
	register[SupplyResolve](TypeSupplyResolve)
	register[SupplyRecall](TypeSupplyRecall)
}

// maxSupplyText bounds a product's name, form and strength, and reasons.
const maxSupplyText = 200

// maxKeyWrap bounds a wrapped product key.
const maxKeyWrap = 4096

// SupplyProduct registers product GTIN for the signer's organization.
// KeyWrap is the product key wrapped to the organization's encryption key
// (seal.PublicKey.Wrap with supply.KeyWrapInfo). The units of a Private
// product are held by custody keys and move by supply.transfer
// (supplytransfer.go).
type SupplyProduct struct {
	GTIN     string      `cbor:"1,keyasint"`
	Name     string      `cbor:"2,keyasint"`
	Form     string      `cbor:"3,keyasint"`
	Strength string      `cbor:"4,keyasint"`
	Kind     supply.Kind `cbor:"5,keyasint"`
	KeyWrap  []byte      `cbor:"6,keyasint"`
	Private  bool        `cbor:"7,keyasint,omitempty"`
}

// Validate implements Body.
func (p *SupplyProduct) Validate() error {
	switch {
	case !supply.ValidGTIN(p.GTIN):
		return fmt.Errorf("%w: GTIN %q: want 14 digits with a valid GS1 check digit", ErrInvalid, p.GTIN)
	case p.Name == "" || len(p.Name) > maxSupplyText || len(p.Form) > maxSupplyText || len(p.Strength) > maxSupplyText:
		return fmt.Errorf("%w: a product has a name; name, form and strength are at most %d bytes", ErrInvalid, maxSupplyText)
	case p.Kind != supply.KindDrug && p.Kind != supply.KindDevice:
		return fmt.Errorf("%w: product kind %q: want drug or device", ErrInvalid, p.Kind)
	case len(p.KeyWrap) == 0 || len(p.KeyWrap) > maxKeyWrap:
		return fmt.Errorf("%w: the product key wrap must be 1..%d bytes", ErrInvalid, maxKeyWrap)
	}
	return nil
}

// checkUnits checks a batch of commitments: 1..supply.MaxUnits, each
// supply.CommitmentSize bytes, none twice.
func checkUnits(units [][]byte) error {
	if len(units) == 0 || len(units) > supply.MaxUnits {
		return fmt.Errorf("%w: name 1 to %d units", ErrInvalid, supply.MaxUnits)
	}
	seen := make(map[string]bool, len(units))
	for i, u := range units {
		if len(u) != supply.CommitmentSize {
			return fmt.Errorf("%w: unit #%d: a serial commitment is %d bytes", ErrInvalid, i, supply.CommitmentSize)
		}
		if seen[string(u)] {
			return fmt.Errorf("%w: unit #%d is named twice", ErrInvalid, i)
		}
		seen[string(u)] = true
	}
	return nil
}

// SupplyCommission commissions Units (serial commitments) of product GTIN,
// in lot Lot expiring on Expiry (YYYY-MM-DD). The units of a private
// product start held by custody key Custody (an Ed25519 public key), which
// no other product's commissioning names.
type SupplyCommission struct {
	GTIN    string   `cbor:"1,keyasint"`
	Lot     string   `cbor:"2,keyasint"`
	Expiry  string   `cbor:"3,keyasint"`
	Units   [][]byte `cbor:"4,keyasint"`
	Custody []byte   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body.
func (c *SupplyCommission) Validate() error {
	if err := supply.CheckGTIN(c.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := supply.CheckLot(c.Lot); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if e, err := supply.ParseExpiry(c.Expiry); err != nil || e != c.Expiry {
		return fmt.Errorf("%w: expiry %q: want YYYY-MM-DD", ErrInvalid, c.Expiry)
	}
	if len(c.Custody) != 0 && len(c.Custody) != supply.CustodyKeySize {
		return fmt.Errorf("%w: a custody key is %d bytes", ErrInvalid, supply.CustodyKeySize)
	}
	return checkUnits(c.Units)
}

// Custody actions of a SupplyMove.
const (
	MoveShip         = "ship"         // to To: the units are in transit
	MoveReceive      = "receive"      // by the receiver of their pending shipment
	MoveDispense     = "dispense"     // by a pharmacy or hospital: the units leave the chain
	MoveDecommission = "decommission" // destroyed or otherwise taken out of the chain
)

// SupplyMove records one custody event on Units of product GTIN. A ship
// names the receiving organization To and, if it holds no key of the
// product yet, KeyWrap: the product key wrapped to its encryption key.
type SupplyMove struct {
	Action  string   `cbor:"1,keyasint"`
	GTIN    string   `cbor:"2,keyasint"`
	Units   [][]byte `cbor:"3,keyasint"`
	To      string   `cbor:"4,keyasint,omitempty"`
	KeyWrap []byte   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body.
func (m *SupplyMove) Validate() error {
	if !slices.Contains([]string{MoveShip, MoveReceive, MoveDispense, MoveDecommission}, m.Action) {
		return fmt.Errorf("%w: custody action %q: want ship, receive, dispense or decommission", ErrInvalid, m.Action)
	}
	if err := supply.CheckGTIN(m.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if (m.Action == MoveShip) != (m.To != "") || len(m.To) > 64 {
		return fmt.Errorf("%w: a ship, and only a ship, names its receiver", ErrInvalid)
	}
	if len(m.KeyWrap) > maxKeyWrap || len(m.KeyWrap) > 0 && m.Action != MoveShip {
		return fmt.Errorf("%w: only a ship carries a product key wrap, of at most %d bytes", ErrInvalid, maxKeyWrap)
	}
	return checkUnits(m.Units)
}

// SupplyFlag flags Unit of product GTIN, or with WholeLot its whole lot,
// as suspect, for Reason. The signer's organization must hold the unit.
type SupplyFlag struct {
	GTIN     string `cbor:"1,keyasint"`
	Unit     []byte `cbor:"2,keyasint"`
	WholeLot bool   `cbor:"3,keyasint,omitempty"`
	Reason   string `cbor:"4,keyasint"`
}

// Validate implements Body.
func (f *SupplyFlag) Validate() error {
	if err := supply.CheckGTIN(f.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if f.Reason == "" || len(f.Reason) > maxSupplyText {
		return fmt.Errorf("%w: a flag gives its reason (at most %d bytes)", ErrInvalid, maxSupplyText)
	}
	return checkUnits([][]byte{f.Unit})
}

// Outcomes of a SupplyResolve.
const (
	ResolveConfirm = "confirm" // the product is illegitimate
	ResolveClear   = "clear"   // the suspicion is lifted
)

// SupplyResolve is the manufacturer's decision on a flag: on Unit, or if
// Unit is empty on lot Lot, of product GTIN.
type SupplyResolve struct {
	GTIN    string `cbor:"1,keyasint"`
	Unit    []byte `cbor:"2,keyasint,omitempty"`
	Lot     string `cbor:"3,keyasint,omitempty"`
	Outcome string `cbor:"4,keyasint"`
}

// Validate implements Body.
func (r *SupplyResolve) Validate() error {
	if err := supply.CheckGTIN(r.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.Outcome != ResolveConfirm && r.Outcome != ResolveClear {
		return fmt.Errorf("%w: outcome %q: want confirm or clear", ErrInvalid, r.Outcome)
	}
	if (len(r.Unit) == 0) == (r.Lot == "") {
		return fmt.Errorf("%w: resolve a flag on a unit or on a lot, one of them", ErrInvalid)
	}
	if r.Lot != "" {
		if err := supply.CheckLot(r.Lot); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil
	}
	return checkUnits([][]byte{r.Unit})
}

// SupplyRecall recalls lot Lot of product GTIN, for Reason.
type SupplyRecall struct {
	GTIN   string `cbor:"1,keyasint"`
	Lot    string `cbor:"2,keyasint"`
	Reason string `cbor:"3,keyasint"`
}

// Validate implements Body.
func (r *SupplyRecall) Validate() error {
	if err := supply.CheckGTIN(r.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := supply.CheckLot(r.Lot); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.Reason == "" || len(r.Reason) > maxSupplyText {
		return fmt.Errorf("%w: a recall gives its reason (at most %d bytes)", ErrInvalid, maxSupplyText)
	}
	return nil
}
