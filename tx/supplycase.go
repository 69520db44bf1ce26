package tx

import (
	"fmt"

	"github.com/carechain/carechain/supply"
)

// Cases and pallets (supply/case.go): a custodian packs units of one
// product into a container named by its commitment (supply.CaseCommitment
// of its SSCC) and unpacks them (SupplyAggregate, EPCIS AggregationEvent);
// it ships a container, and its receiver receives it, with every unit in
// it (SupplyCaseMove). Both types are new with aggregation: earlier blocks
// hold neither.
const (
	TypeSupplyAggregate Type = "supply.aggregate"
	TypeSupplyCaseMove  Type = "supply.case-move"
)

func init() {
	register[SupplyAggregate](TypeSupplyAggregate)
	register[SupplyCaseMove](TypeSupplyCaseMove)
}

// Actions of a SupplyAggregate.
const (
	AggregatePack   = supply.ActPack   // add Units to the case (a new one, or one the signer holds)
	AggregateUnpack = supply.ActUnpack // take Units (none named: all) out of the case
)

// SupplyAggregate packs Units of product GTIN into the container with
// commitment Case, or unpacks them from it.
type SupplyAggregate struct {
	Action string   `cbor:"1,keyasint"`
	GTIN   string   `cbor:"2,keyasint"`
	Case   []byte   `cbor:"3,keyasint"`
	Units  [][]byte `cbor:"4,keyasint,omitempty"`
}

// Validate implements Body.
func (a *SupplyAggregate) Validate() error {
	if a.Action != AggregatePack && a.Action != AggregateUnpack {
		return fmt.Errorf("%w: aggregation action %q: want pack or unpack", ErrInvalid, a.Action)
	}
	if err := supply.CheckGTIN(a.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(a.Case) != supply.CommitmentSize {
		return fmt.Errorf("%w: a case commitment is %d bytes", ErrInvalid, supply.CommitmentSize)
	}
	if a.Action == AggregateUnpack && len(a.Units) == 0 {
		return nil // the whole case
	}
	return checkUnits(a.Units)
}

// SupplyCaseMove ships (to To, with KeyWrap as a SupplyMove's) or receives
// the containers Cases of product GTIN, with every unit in them.
type SupplyCaseMove struct {
	Action  string   `cbor:"1,keyasint"`
	GTIN    string   `cbor:"2,keyasint"`
	Cases   [][]byte `cbor:"3,keyasint"`
	To      string   `cbor:"4,keyasint,omitempty"`
	KeyWrap []byte   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body.
func (m *SupplyCaseMove) Validate() error {
	if m.Action != MoveShip && m.Action != MoveReceive {
		return fmt.Errorf("%w: case action %q: want ship or receive (unpack a case to dispense or decommission its units)", ErrInvalid, m.Action)
	}
	loose := SupplyMove{Action: m.Action, GTIN: m.GTIN, To: m.To, KeyWrap: m.KeyWrap, Units: m.Cases}
	if len(m.Cases) > supply.MaxCasesPerMove {
		return fmt.Errorf("%w: name 1 to %d cases", ErrInvalid, supply.MaxCasesPerMove)
	}
	return loose.Validate() // the same rules, with cases for units
}
