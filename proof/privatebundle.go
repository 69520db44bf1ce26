package proof

import (
	"bytes"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/supply"
)

// Bundles of version 2: a unit of a private product, whose holder the
// ledger does not name (supply/custody.go). Beside the product, unit and
// lot proven as in version 1, the bundle may carry the shipper's signed
// statement (supply.ShipStatement) of the pending shipment the unit is in,
// opened by the receiver's node from the sealed shipment. The check binds
// it to the proven state: the proven unit is in transit under the
// statement's claim key, the statement names the bundle's commitment and
// the unit's lot, and its signature by the signer's key verifies on the
// checkpoint's chain. Then the unit is judged as shipped by the
// statement's From to its To (supply.JudgePrivate).
//
// The limit: the checkpoint proves no principal (the app hash commits to
// the map of supply state, not to a map of principals), so that the key
// is the signer's, and the signer active supply staff of From, is the word
// of the node that made the bundle, which checked both against its ledger
// (records.shipSigner). The check only requires the signer's ID to be in
// From's scope.

// judgePrivate answers scan from a version 2 bundle's proven values.
func judgePrivate(b *SupplyBundle, scan supply.Scan, p *supply.Product, u *supply.Unit, lot *supply.Lot, verifier string, now time.Time) (supply.Verification, error) {
	if p == nil || !p.Private {
		return supply.Verification{}, fail("a bundle of version 2 proves a unit of a private product")
	}
	st := b.Shipment
	if st == nil {
		return supply.JudgePrivate(scan, p, u, lot, verifier, "", now), nil
	}
	if err := checkStatement(b, st, scan, u); err != nil {
		return supply.Verification{}, err
	}
	v := supply.JudgePrivate(scan, p, u, lot, st.To, st.From, now)
	if verifier != "" && verifier != st.To {
		v.Reasons = append(v.Reasons, fmt.Sprintf("the unit is shipped to %s, not to %s", st.To, verifier))
		v.Genuine = false
	}
	return v, nil
}

// checkStatement checks shipment statement st against the proven unit u.
func checkStatement(b *SupplyBundle, st *supply.ShipStatement, scan supply.Scan, u *supply.Unit) error {
	switch {
	case u == nil || u.Status != supply.StatusInTransit:
		return fail("the bundle carries a shipment, but the proven unit is not in transit")
	case !bytes.Equal(u.Claim, st.Claim):
		return fail("the shipment's claim key is not the one the proven unit is shipped under")
	case st.GTIN != scan.GTIN:
		return fail("the shipment is of product %s, not %s", st.GTIN, scan.GTIN)
	case carechain.OrgOf(st.Signer) != st.From || st.From == "":
		return fail("the shipment's signer %q is not staff of its sender %q", st.Signer, st.From)
	}
	if err := st.Verify(b.At.ChainID, b.Commitment, u.Lot); err != nil {
		return fail("shipment: %v", err)
	}
	return nil
}
