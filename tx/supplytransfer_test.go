package tx

import (
	"bytes"
	"errors"
	"testing"

	"github.com/carechain/carechain/supply"
)

func TestSupplyTransferValidate(t *testing.T) {
	const gtin = "00312345678906"
	unit, key, sig := bytes.Repeat([]byte{1}, supply.CommitmentSize), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 64)
	units := [][]byte{unit}
	ok := []*SupplyTransfer{
		{Action: MoveShip, GTIN: gtin, Units: units, Claim: key, Details: make([]byte, MaxTransferDetails)},
		{Action: MoveReceive, GTIN: gtin, Units: units, Next: key},
		{Action: MoveDecommission, GTIN: gtin, Units: units},
		{Action: TransferFlag, GTIN: gtin, Units: units, Reason: "seal broken", WholeLot: true},
		{Action: MoveDispense, GTIN: gtin, Units: units, Dispenser: "pharm/pharmacist", DispenserSig: sig},
	}
	for i, tr := range ok {
		if err := tr.Validate(); err != nil {
			t.Errorf("ok #%d: %v", i, err)
		}
	}
	bad := map[string]*SupplyTransfer{
		"unknown action":        {Action: "sell", GTIN: gtin, Units: units},
		"ship without claim":    {Action: MoveShip, GTIN: gtin, Units: units},
		"short claim":           {Action: MoveShip, GTIN: gtin, Units: units, Claim: key[:31]},
		"receive without next":  {Action: MoveReceive, GTIN: gtin, Units: units},
		"claim on a receive":    {Action: MoveReceive, GTIN: gtin, Units: units, Next: key, Claim: key},
		"details too large":     {Action: MoveDecommission, GTIN: gtin, Units: units, Details: make([]byte, MaxTransferDetails+1)},
		"flag of two units":     {Action: TransferFlag, GTIN: gtin, Units: [][]byte{unit, bytes.Repeat([]byte{9}, 32)}, Reason: "x"},
		"flag without reason":   {Action: TransferFlag, GTIN: gtin, Units: units},
		"reason on a ship":      {Action: MoveShip, GTIN: gtin, Units: units, Claim: key, Reason: "x"},
		"dispense without sig":  {Action: MoveDispense, GTIN: gtin, Units: units, Dispenser: "pharm/pharmacist"},
		"dispenser on a ship":   {Action: MoveShip, GTIN: gtin, Units: units, Claim: key, Dispenser: "pharm/pharmacist"},
		"no units":              {Action: MoveDecommission, GTIN: gtin},
		"bad GTIN":              {Action: MoveDecommission, GTIN: "00312345678907", Units: units},
		"whole lot on a decomm": {Action: MoveDecommission, GTIN: gtin, Units: units, WholeLot: true},
	}
	for name, tr := range bad {
		if err := tr.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDispenseDigestLeavesOutTheCoSignature: the digest a dispenser signs
// is the same before and after the signature is set, and names the units.
func TestDispenseDigestLeavesOutTheCoSignature(t *testing.T) {
	tr := &SupplyTransfer{Action: MoveDispense, GTIN: "00312345678906", Units: [][]byte{bytes.Repeat([]byte{1}, 32)}, Dispenser: "pharm/pharmacist"}
	before := tr.DispenseDigest("chain")
	tr.DispenserSig = bytes.Repeat([]byte{3}, 64)
	after := tr.DispenseDigest("chain")
	tr.Units[0] = bytes.Repeat([]byte{2}, 32)
	other := tr.DispenseDigest("chain")
	if !bytes.Equal(before, after) || bytes.Equal(before, other) {
		t.Fatal("the dispense digest depends on the co-signature, or not on the units")
	}
}
