package tx

import (
	"fmt"

	"github.com/carechain/carechain/supply"
)

// Cases of private units (ledger/supplytransfercase.go): a transfer that
// names a Case packs units into it, unpacks them, or ships or receives
// the case with every unit in it.
const (
	TransferPack   = "pack"
	TransferUnpack = "unpack"
)

// validateCase checks a transfer that names a case or packs or unpacks.
func (t *SupplyTransfer) validateCase() error {
	if err := supply.CheckGTIN(t.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case len(t.Case) != supply.CommitmentSize:
		return fmt.Errorf("%w: a %s of a case names the case's %d-byte commitment", ErrInvalid, t.Action, supply.CommitmentSize)
	case t.Action != TransferPack && t.Action != TransferUnpack && t.Action != MoveShip && t.Action != MoveReceive:
		return fmt.Errorf("%w: transfer action %q of a case: want pack, unpack, ship or receive", ErrInvalid, t.Action)
	case t.Reason != "" || t.WholeLot || t.Dispenser != "" || len(t.DispenserSig) != 0:
		return fmt.Errorf("%w: a %s of a case gives no reason, lot or dispenser", ErrInvalid, t.Action)
	case len(t.Details) > MaxTransferDetails:
		return fmt.Errorf("%w: sealed details of %d bytes: at most %d", ErrInvalid, len(t.Details), MaxTransferDetails)
	case (t.Action == MoveShip) != (len(t.Claim) != 0) || len(t.Claim) != 0 && len(t.Claim) != supply.CustodyKeySize:
		return fmt.Errorf("%w: a ship, and only a ship, names its claim key (%d bytes)", ErrInvalid, supply.CustodyKeySize)
	case len(t.Next) != 0 && (len(t.Next) != supply.CustodyKeySize || t.Action != MoveReceive && t.Action != TransferPack):
		return fmt.Errorf("%w: only a receive or a pack names the next custody key (%d bytes)", ErrInvalid, supply.CustodyKeySize)
	case t.Action == MoveReceive && len(t.Next) == 0:
		return fmt.Errorf("%w: a receive names the next custody key", ErrInvalid)
	}
	switch t.Action {
	case TransferPack:
		return checkUnits(t.Units)
	case TransferUnpack:
		if len(t.Units) == 0 {
			return nil
		}
		return checkUnits(t.Units)
	}
	if len(t.Units) != 0 {
		return fmt.Errorf("%w: a %s of a case names no units: every unit in it moves with it", ErrInvalid, t.Action)
	}
	return nil
}
