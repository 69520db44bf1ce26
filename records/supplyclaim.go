package records

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// A ship's claim keys and its two rounds. The shipper's staff member signs
// each group's statement (supply.ShipDigest), which names the claim key,
// before the node submits the ship; so the node must derive the same claim
// key on both calls without trusting a key or seed from the client: it is
// the organization's custody key for the label claim/<nonce>/<hash of the
// holding key and the units>, the nonce drawn by the node on the first call
// and sent back by the client on the second. The units in the label make a
// reused nonce give another key to any other group of units.

// claimNonceSize is the size of a ship's nonce.
const claimNonceSize = 16

// claimLabel is the label of the claim key, under nonce, of a ship of
// units (or of a case of them) held by key holder.
func claimLabel(nonce []byte, holder ed25519.PrivateKey, units [][]byte) string {
	h := sha256.New()
	h.Write(holder.Public().(ed25519.PublicKey))
	for _, u := range units {
		h.Write(u)
	}
	return "claim/" + hex.EncodeToString(nonce) + "/" + hex.EncodeToString(h.Sum(nil))
}

// checkNonce checks that a ship's second round carries the nonce of its
// first.
func checkNonce(nonce []byte) error {
	if len(nonce) != claimNonceSize {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("a ship's signed statements come with the %d-byte nonce of the answer that named the groups", claimNonceSize))
	}
	return nil
}

// claimKeys derives the claim key of each group of a ship from req.Nonce.
func (s *Service) claimKeys(org string, req SupplyTransferRequest, groups []custodyGroup) error {
	if req.Action != tx.MoveShip {
		return nil
	}
	if err := checkNonce(req.Nonce); err != nil {
		return err
	}
	for i := range groups {
		k, err := s.custodyKey(org, claimLabel(req.Nonce, groups[i].key, groups[i].units), nil)
		if err != nil {
			return err
		}
		groups[i].claim = k
	}
	return nil
}

// cosignPlan answers a dispense or ship without signatures: the groups of
// units the caller signs, and for a ship a fresh nonce and the claim keys
// derived from it.
func (s *Service) cosignPlan(org string, req SupplyTransferRequest, groups []custodyGroup) (SupplyTransferResult, error) {
	var out SupplyTransferResult
	if req.Action == tx.MoveShip {
		req.Nonce = make([]byte, claimNonceSize)
		rand.Read(req.Nonce)
		if err := s.claimKeys(org, req, groups); err != nil {
			return out, err
		}
		out.Nonce = req.Nonce
	}
	for i := range groups {
		out.Cosign = append(out.Cosign, groups[i].cosignGroup())
	}
	return out, nil
}
