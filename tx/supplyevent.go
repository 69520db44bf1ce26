package tx

import (
	"fmt"

	"github.com/carechain/carechain/supply"
)

// SupplyEventBody is the transaction an EPCIS event of an organization
// means (supply.Event, package supply's EPCIS mapping): a commission, a
// custody move, a flag, a recall, a pack or unpack (SupplyAggregate) or a
// move of cases (SupplyCaseMove). commitment gives a serial's commitment
// under the product's key, caseCommitment a case's (supply.CaseCommitment
// of its SSCC). A ship's product key wrap for a new receiver is the
// caller's to add.
func SupplyEventBody(e supply.Event, commitment, caseCommitment func(string) []byte) (Type, Body, error) {
	if err := e.Check(); err != nil {
		return "", nil, err
	}
	units := make([][]byte, len(e.Serials))
	for i, sn := range e.Serials {
		units[i] = commitment(sn)
	}
	cases := make([][]byte, len(e.SSCCs))
	for i, sscc := range e.SSCCs {
		cases[i] = caseCommitment(sscc)
	}
	switch {
	case e.Action == supply.ActPack || e.Action == supply.ActUnpack:
		return TypeSupplyAggregate, &SupplyAggregate{Action: e.Action, GTIN: e.GTIN, Case: cases[0], Units: units}, nil
	case len(cases) > 0:
		return TypeSupplyCaseMove, &SupplyCaseMove{Action: e.Action, GTIN: e.GTIN, Cases: cases, To: e.To}, nil
	}
	switch e.Action {
	case supply.ActCommission:
		return TypeSupplyCommission, &SupplyCommission{GTIN: e.GTIN, Lot: e.Lot, Expiry: e.Expiry, Units: units}, nil
	case supply.ActShip, supply.ActReceive, supply.ActDispense, supply.ActDecommission:
		return TypeSupplyMove, &SupplyMove{Action: e.Action, GTIN: e.GTIN, Units: units, To: e.To}, nil
	case supply.ActFlag:
		return TypeSupplyFlag, &SupplyFlag{GTIN: e.GTIN, Unit: units[0], WholeLot: e.WholeLot, Reason: e.Reason}, nil
	case supply.ActRecall:
		return TypeSupplyRecall, &SupplyRecall{GTIN: e.GTIN, Lot: e.Lot, Reason: e.Reason}, nil
	}
	return "", nil, fmt.Errorf("%w: supply action %q", ErrInvalid, e.Action)
}

// SetKeyWrap puts the product key wrap for a new receiver into a ship of
// units or cases (any other body is left as it is).
func SetKeyWrap(b Body, wrap []byte) {
	switch m := b.(type) {
	case *SupplyMove:
		m.KeyWrap = wrap
	case *SupplyCaseMove:
		m.KeyWrap = wrap
	}
}
