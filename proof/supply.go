package proof

import (
	"fmt"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/supply"
)

// SupplyEntry is a supply-chain state value and its proof in the ledger's
// authenticated map of supply state (whose root is in the app hash):
// membership of the value, or, with no value, non-membership.
type SupplyEntry struct {
	Value []byte    `json:"value,omitempty"` // the stored CBOR; none: the ledger holds no such key
	Proof smt.Proof `json:"proof"`
}

// SupplyBundle proves the answer to a scan of a serialized unit: the
// product, the unit known by the serial's commitment and its lot, as the
// ledger held them at a validator-signed checkpoint. It holds no serial.
type SupplyBundle struct {
	Version int `json:"version"` // 1; 2: a unit of a private product (privatebundle.go)
	// Commitment is the scanned serial's commitment (none: the product is
	// not registered). Only holders of the product key link it to a serial:
	// the node that made the bundle did, for its organization.
	Commitment []byte       `json:"commitment,omitempty"`
	Product    SupplyEntry  `json:"product"`
	Unit       *SupplyEntry `json:"unit,omitempty"` // present when the product is
	Lot        *SupplyEntry `json:"lot,omitempty"`  // the unit's lot, present when the unit is
	At         Checkpoint   `json:"checkpoint"`
	// Shipment is, in a bundle of version 2, the shipper's signed
	// statement of the pending shipment the unit is in (none: the unit is
	// in no pending shipment with an authenticated sender).
	Shipment *supply.ShipStatement `json:"shipment,omitempty"`
}

// CheckSupply checks a supply bundle against a trusted validator set and
// recomputes, with supply.Judge, the answer to scan for organization
// verifier at now from the proven values alone: no node is asked. The
// scan's serial is not used (it may be empty): the bundle's commitment
// stands for it. The answer's Height is the checkpoint's.
func CheckSupply(b *SupplyBundle, scan supply.Scan, verifier string, trusted *types.ValidatorSet, now time.Time) (supply.Verification, error) {
	return NewCheckpoints(trusted).CheckSupply(b, scan, verifier, now)
}

// CheckSupply is CheckSupply against cs's trusted set, verifying the
// bundle's checkpoint only if cs has not verified it before.
func (cs *Checkpoints) CheckSupply(b *SupplyBundle, scan supply.Scan, verifier string, now time.Time) (supply.Verification, error) {
	if b.Version != 1 && b.Version != 2 {
		return supply.Verification{}, fail("unknown supply bundle version %d", b.Version)
	}
	if b.Version == 1 && b.Shipment != nil {
		return supply.Verification{}, fail("a bundle of version 1 carries no shipment")
	}
	check := scan
	check.Serial = "-" // the bundle's commitment stands for the serial, which may be absent here
	if err := check.Check(); err != nil {
		return supply.Verification{}, fail("scan: %v", err)
	}
	if err := cs.Verify(b.At); err != nil {
		return supply.Verification{}, err
	}
	root := b.At.Info.SupplyRoot
	p, err := proven[supply.Product](root, supply.ProductKey(scan.GTIN), &b.Product)
	if err != nil {
		return supply.Verification{}, fmt.Errorf("product: %w", err)
	}
	var u *supply.Unit
	var lot *supply.Lot
	switch {
	case p == nil && (b.Commitment != nil || b.Unit != nil || b.Lot != nil):
		return supply.Verification{}, fail("a bundle for an unregistered product names no unit")
	case p != nil && (len(b.Commitment) != supply.CommitmentSize || b.Unit == nil):
		return supply.Verification{}, fail("a bundle for a registered product proves its unit by a %d-byte commitment", supply.CommitmentSize)
	case p != nil:
		if u, err = proven[supply.Unit](root, supply.UnitKey(scan.GTIN, b.Commitment), b.Unit); err != nil {
			return supply.Verification{}, fmt.Errorf("unit: %w", err)
		}
		if u == nil && b.Lot != nil || u != nil && b.Lot == nil {
			return supply.Verification{}, fail("a bundle proves the lot of a unit that exists, and only then")
		}
	}
	if u != nil {
		if lot, err = proven[supply.Lot](root, supply.LotKey(scan.GTIN, u.Lot), b.Lot); err != nil {
			return supply.Verification{}, fmt.Errorf("lot: %w", err)
		}
		if lot == nil {
			return supply.Verification{}, fail("the unit's lot %s is not on the ledger", u.Lot)
		}
	}
	var v supply.Verification
	if b.Version == 2 {
		if v, err = judgePrivate(b, scan, p, u, lot, verifier, now); err != nil {
			return v, err
		}
	} else {
		v = supply.Judge(scan, p, u, lot, verifier, now)
	}
	v.Height = b.At.Height
	return v, nil
}

// proven checks e's map proof for stateKey under root and decodes its
// value (nil: the proof shows the key holds none).
func proven[T any](root []byte, stateKey string, e *SupplyEntry) (*T, error) {
	k := smt.Key(stateKey)
	if len(e.Value) == 0 {
		if err := smt.VerifyProof(root, k, nil, e.Proof); err != nil {
			return nil, fail("%v", err)
		}
		return nil, nil
	}
	vh := smt.Value(e.Value)
	if err := smt.VerifyProof(root, k, &vh, e.Proof); err != nil {
		return nil, fail("%v", err)
	}
	var out T
	if err := cbor.Unmarshal(e.Value, &out); err != nil {
		return nil, fail("value of %s: %v", stateKey, err)
	}
	return &out, nil
}
