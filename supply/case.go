package supply

import "encoding/hex"

// Cases and pallets. A container of units (a case or a pallet) is known in
// the physical world by its GS1 SSCC, printed on its logistic label; the
// ledger knows it, as it knows units, only by a commitment under the key
// of the product it holds: CaseCommitment(k_gtin, gtin, sscc). So a
// container holds units of one product (GTIN), and only the organizations
// holding that product's key can name it; a pallet of mixed products, or a
// pallet of cases, is not modelled (pack its units into one container per
// product). While a unit is packed its Unit.Case names the container, and
// it moves with it: a ship or receive of the container ships or receives
// every unit in it, and the unit is neither shipped, dispensed nor
// decommissioned on its own until it is unpacked.

// MaxCasesPerMove bounds the containers one ship or receive names: each
// may hold MaxUnits units, all of which the move writes.
const MaxCasesPerMove = 10

// Case is a packed container of units of one product.
type Case struct {
	Custodian string   `cbor:"1,keyasint" json:"custodian"`
	To        string   `cbor:"2,keyasint,omitempty" json:"to,omitempty"` // receiver of a pending shipment
	Status    Status   `cbor:"3,keyasint" json:"status"`                 // active or in-transit
	Units     [][]byte `cbor:"4,keyasint" json:"units"`                  // the commitments of the units in it
	Height    int64    `cbor:"5,keyasint" json:"height"`                 // of its last change
	// Custody is the custody key holding a case of a private product
	// (custody.go), whose Custodian and To stay empty; Claim, while it is
	// shipped, the key its receiver claims it with. Every unit in it is
	// held (and claimed) by the same keys.
	Custody []byte `cbor:"6,keyasint,omitempty" json:"custody,omitempty"`
	Claim   []byte `cbor:"7,keyasint,omitempty" json:"claim,omitempty"`
}

// CaseCommitment is the commitment of the container with SSCC sscc that
// holds units of gtin, under the product key: HMAC-SHA256(key, domain ‖
// gtin ‖ sscc), its domain apart from serial commitments'.
func CaseCommitment(key []byte, gtin, sscc string) []byte {
	return keyedCommitment(key, "carechain/supply/sscc/v1", gtin, sscc)
}

// CaseKey is the state key of the container of units of gtin with
// commitment c.
func CaseKey(gtin string, c []byte) string {
	return "supply-case/" + gtin + "/" + hex.EncodeToString(c)
}

// Named is the lookup of names[i] → values[i] (nil for any other name):
// the commitments of an event's serials or SSCCs, by serial or SSCC.
func Named(names []string, values [][]byte) func(string) []byte {
	m := make(map[string][]byte, len(names))
	for i, n := range names {
		if i < len(values) {
			m[n] = values[i]
		}
	}
	return func(n string) []byte { return m[n] }
}
