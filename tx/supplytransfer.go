package tx

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/carechain/carechain/supply"
)

// TypeSupplyTransfer moves units of a private product (supply.Product
// Private) from custody key to custody key. It is signed by the custody
// key holding the units (or, for a receive, the shipment's claim key)
// under the pseudo-signer supply.CustodySigner, never by a registered
// principal; see ledger/supplytransfer.go.
const TypeSupplyTransfer Type = "supply.transfer"

func init() { register[SupplyTransfer](TypeSupplyTransfer) }

// TransferFlag flags a unit, or its lot, as suspect; the other actions of
// a transfer are those of a SupplyMove.
const TransferFlag = "flag"

// MaxTransferDetails bounds the sealed details of a transfer.
const MaxTransferDetails = 64 << 10

// SupplyTransfer is one custody event on Units of private product GTIN:
//   - ship: the units go in transit, to be received by whoever signs with
//     the private key of Claim;
//   - receive: the claim key takes them and hands them to Next, the
//     receiver's new custody key;
//   - decommission, and dispense, which the dispensing pharmacy's or
//     hospital's supply staff Dispenser co-signs (DispenserSig, over
//     DispenseDigest);
//   - flag: one unit, or with WholeLot its lot, as suspect, for Reason.
//
// Details are the event's details sealed by the client to its parties
// (who, what, prices, the product key): opaque to the ledger, which only
// bounds them.
type SupplyTransfer struct {
	Action       string   `cbor:"1,keyasint"`
	GTIN         string   `cbor:"2,keyasint"`
	Units        [][]byte `cbor:"3,keyasint"`
	Claim        []byte   `cbor:"4,keyasint,omitempty"`
	Next         []byte   `cbor:"5,keyasint,omitempty"`
	Details      []byte   `cbor:"6,keyasint,omitempty"`
	Reason       string   `cbor:"7,keyasint,omitempty"`
	WholeLot     bool     `cbor:"8,keyasint,omitempty"`
	Dispenser    string   `cbor:"9,keyasint,omitempty"`
	DispenserSig []byte   `cbor:"10,keyasint,omitempty"`
	// Case is the commitment of a case (supply.CaseCommitment): the case
	// a pack packs Units into or an unpack takes them (none: all) out of,
	// or the case a ship or receive moves with every unit in it (Units
	// then empty). See supplytransfercase.go.
	Case []byte `cbor:"11,keyasint,omitempty"`
}

// Validate implements Body.
func (t *SupplyTransfer) Validate() error {
	if t.Action == TransferPack || t.Action == TransferUnpack || len(t.Case) != 0 {
		return t.validateCase()
	}
	if !slices.Contains([]string{MoveShip, MoveReceive, MoveDispense, MoveDecommission, TransferFlag}, t.Action) {
		return fmt.Errorf("%w: transfer action %q: want ship, receive, dispense, decommission or flag", ErrInvalid, t.Action)
	}
	if err := supply.CheckGTIN(t.GTIN); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkUnits(t.Units); err != nil {
		return err
	}
	switch {
	case (t.Action == MoveShip) != (len(t.Claim) != 0) || len(t.Claim) != 0 && len(t.Claim) != supply.CustodyKeySize:
		return fmt.Errorf("%w: a ship, and only a ship, names its claim key (%d bytes)", ErrInvalid, supply.CustodyKeySize)
	case (t.Action == MoveReceive) != (len(t.Next) != 0) || len(t.Next) != 0 && len(t.Next) != supply.CustodyKeySize:
		return fmt.Errorf("%w: a receive, and only a receive, names the next custody key (%d bytes)", ErrInvalid, supply.CustodyKeySize)
	case len(t.Details) > MaxTransferDetails:
		return fmt.Errorf("%w: sealed details of %d bytes: at most %d", ErrInvalid, len(t.Details), MaxTransferDetails)
	case t.Action == TransferFlag && (len(t.Units) != 1 || t.Reason == "" || len(t.Reason) > maxSupplyText):
		return fmt.Errorf("%w: a flag names one unit and its reason (at most %d bytes)", ErrInvalid, maxSupplyText)
	case t.Action != TransferFlag && (t.Reason != "" || t.WholeLot):
		return fmt.Errorf("%w: only a flag gives a reason or names a whole lot", ErrInvalid)
	case t.Action == MoveDispense && (t.Dispenser == "" || len(t.Dispenser) > MaxStringLen || len(t.DispenserSig) != ed25519.SignatureSize):
		return fmt.Errorf("%w: a dispense names its dispenser and carries its %d-byte co-signature", ErrInvalid, ed25519.SignatureSize)
	case t.Action != MoveDispense && (t.Dispenser != "" || len(t.DispenserSig) != 0):
		return fmt.Errorf("%w: only a dispense names a dispenser", ErrInvalid)
	}
	return nil
}

// DispenseDigest is what Dispenser signs (DispenserSig) to co-sign the
// dispense t on chain chainID: see supply.DispenseDigest.
func (t *SupplyTransfer) DispenseDigest(chainID string) []byte {
	return supply.DispenseDigest(chainID, t.GTIN, t.Units, t.Dispenser)
}
