package supply

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The shipper's signed statement. A ship of private units seals its
// Shipment to the two parties; that the shipment is from its From is,
// alone, the shipper's word. So the supply staff member who ships signs
// ShipDigest — the chain, the product, the claim key, the two
// organizations, the lots, the units' commitments and the signer's ID — and the sealed
// shipment carries the signer and signature: the receiver's node takes a
// shipment as from From only if the signer is now active supply staff of
// From and the signature verifies (records/supplycustody.go). The
// statement names no serial, so an organization may hand it, opened, to
// anyone checking a verification bundle offline (proof.SupplyBundle).

// shipDomain separates a shipper's statement from every other signature
// its key makes.
const shipDomain = "carechain/supply/ship/v1"

// ShipDigest is what signer, a staff member of the shipping organization
// from, signs to state that from ships units (their commitments) of lots
// of gtin to organization to, under claim key claim, on chain chainID:
// SHA-256 of the domain and these, each length-prefixed, so no two inputs
// share a digest.
func ShipDigest(chainID, gtin string, claim []byte, from, to string, lots []string, units [][]byte, signer string) []byte {
	f := newFramed(shipDomain)
	f.strings(chainID, gtin)
	f.part(claim)
	f.strings(from, to)
	f.h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(lots))))
	f.strings(lots...)
	f.parts(units)
	f.strings(signer)
	return f.sum()
}

// ShipStatement is a shipper's signed statement, opened from a sealed
// Shipment: it names no serial and no product key.
type ShipStatement struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	GTIN      string   `json:"gtin"`
	Claim     []byte   `json:"claim"`
	Lots      []string `json:"lots"`
	Units     [][]byte `json:"units"` // the commitments of the shipment's serials
	Signer    string   `json:"signer"`
	SignerKey []byte   `json:"signer_key"` // the signer's public key (Ed25519)
	Sig       []byte   `json:"sig"`
}

// ErrUnsigned is a statement whose signature does not verify.
var ErrUnsigned = errors.New("the shipment's sender is not authenticated")

// Verify checks the statement's signature by SignerKey on chain chainID
// and that it names unit (a commitment) of lot. That the key is the
// signer's, and the signer supply staff of From, it does not check.
func (st *ShipStatement) Verify(chainID string, unit []byte, lot string) error {
	if len(st.SignerKey) != ed25519.PublicKeySize || !ed25519.Verify(st.SignerKey, ShipDigest(chainID, st.GTIN, st.Claim, st.From, st.To, st.Lots, st.Units, st.Signer), st.Sig) {
		return fmt.Errorf("%w: the signature of %q does not verify", ErrUnsigned, st.Signer)
	}
	if !slices.ContainsFunc(st.Units, func(u []byte) bool { return bytes.Equal(u, unit) }) {
		return errors.New("the shipper's statement does not name this unit")
	}
	if !slices.Contains(st.Lots, lot) {
		return fmt.Errorf("the shipper's statement does not name the unit's lot %s", lot)
	}
	return nil
}
