package tx

import (
	"bytes"
	"errors"
	"testing"

	"github.com/carechain/carechain/supply"
)

func TestSupplyTransferCaseValidate(t *testing.T) {
	const gtin = "00312345678906"
	unit, key, c := bytes.Repeat([]byte{1}, supply.CommitmentSize), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{4}, supply.CommitmentSize)
	units := [][]byte{unit}
	ok := []*SupplyTransfer{
		{Action: TransferPack, GTIN: gtin, Units: units, Case: c, Next: key},
		{Action: TransferPack, GTIN: gtin, Units: units, Case: c},
		{Action: TransferUnpack, GTIN: gtin, Case: c},
		{Action: TransferUnpack, GTIN: gtin, Units: units, Case: c},
		{Action: MoveShip, GTIN: gtin, Case: c, Claim: key, Details: []byte("sealed")},
		{Action: MoveReceive, GTIN: gtin, Case: c, Next: key},
	}
	for i, tr := range ok {
		if err := tr.Validate(); err != nil {
			t.Errorf("ok #%d: %v", i, err)
		}
	}
	bad := map[string]*SupplyTransfer{
		"pack without case":       {Action: TransferPack, GTIN: gtin, Units: units, Next: key},
		"pack without units":      {Action: TransferPack, GTIN: gtin, Case: c, Next: key},
		"short case":              {Action: TransferUnpack, GTIN: gtin, Case: c[:31]},
		"dispense of a case":      {Action: MoveDispense, GTIN: gtin, Case: c, Dispenser: "pharm/pharmacist", DispenserSig: make([]byte, 64)},
		"flag of a case":          {Action: TransferFlag, GTIN: gtin, Case: c, Units: units, Reason: "x"},
		"ship of a case and unit": {Action: MoveShip, GTIN: gtin, Case: c, Claim: key, Units: units},
		"case ship without claim": {Action: MoveShip, GTIN: gtin, Case: c},
		"case receive, no next":   {Action: MoveReceive, GTIN: gtin, Case: c},
		"next on an unpack":       {Action: TransferUnpack, GTIN: gtin, Case: c, Next: key},
		"claim on a pack":         {Action: TransferPack, GTIN: gtin, Units: units, Case: c, Claim: key},
	}
	for name, tr := range bad {
		if err := tr.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
