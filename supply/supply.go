// Package supply holds the pure rules of the drug and device supply chain:
// GS1 identifiers (GTIN, serial, lot, expiry), the serial commitments the
// ledger keeps instead of serials, and the status of a serialized unit.
//
// A manufacturer registers a product (GTIN) with a fresh 32-byte product key
// k_gtin, wrapped (HPKE, package seal) to its own organization's encryption
// key; the key is wrapped to each organization the product is shipped to,
// with the shipment. Only an organization holding k_gtin (the manufacturer
// and its trading partners for that product, through their nodes) can
// compute a unit's commitment Commitment(k_gtin, gtin, serial) =
// HMAC-SHA256; the ledger stores commitments only, so sequential serials
// cannot be found by hashing guesses.
//
// The package has no I/O and no clock: callers pass the time.
package supply

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// KeySize is the size of a product key k_gtin.
const KeySize = 32

// CommitmentSize is the size of a serial commitment.
const CommitmentSize = sha256.Size

// MaxUnits bounds the units one transaction or one request names.
const MaxUnits = 1000

// ErrInvalid marks malformed supply-chain input.
var ErrInvalid = errors.New("invalid")

// ValidGTIN reports whether g is a GTIN-14: 14 digits whose last is the GS1
// check digit of the first 13.
func ValidGTIN(g string) bool {
	if len(g) != 14 {
		return false
	}
	sum := 0
	for i := range 13 {
		c := g[i]
		if c < '0' || c > '9' {
			return false
		}
		w := 1
		if i%2 == 0 { // weights 3,1,3,... from the digit left of the check digit
			w = 3
		}
		sum += int(c-'0') * w
	}
	return g[13] >= '0' && g[13] <= '9' && int(g[13]-'0') == (10-sum%10)%10
}

// CheckGTIN returns an error saying why g is not a GTIN-14.
func CheckGTIN(g string) error {
	if !ValidGTIN(g) {
		return fmt.Errorf("%w: GTIN %q: want 14 digits with a valid GS1 check digit", ErrInvalid, g)
	}
	return nil
}

// serialPattern is GS1 AI (21) and AI (10): 1 to 20 printable ASCII
// characters without spaces (a subset-compatible reading of GS1 CSET 82).
var serialPattern = regexp.MustCompile(`^[!-~]{1,20}$`)

// CheckSerial returns an error if s is not a GS1 serial number.
func CheckSerial(s string) error {
	if !serialPattern.MatchString(s) {
		return fmt.Errorf("%w: serial %q: want 1-20 printable ASCII characters", ErrInvalid, s)
	}
	return nil
}

// CheckLot returns an error if l is not a GS1 lot (batch) number.
func CheckLot(l string) error {
	if !serialPattern.MatchString(l) {
		return fmt.Errorf("%w: lot %q: want 1-20 printable ASCII characters", ErrInvalid, l)
	}
	return nil
}

// ParseExpiry reads an expiry date, YYYY-MM-DD or GS1 AI (17) YYMMDD
// (day 00: the month's last day), and returns it as YYYY-MM-DD.
func ParseExpiry(s string) (string, error) {
	if len(s) == 6 {
		yy, mm, dd := s[0:2], s[2:4], s[4:6]
		if dd == "00" {
			t, err := time.Parse("060102", yy+mm+"01")
			if err != nil {
				return "", fmt.Errorf("%w: expiry %q: want YYYY-MM-DD or YYMMDD", ErrInvalid, s)
			}
			return t.AddDate(0, 1, -1).Format(time.DateOnly), nil
		}
		t, err := time.Parse("060102", s)
		if err != nil {
			return "", fmt.Errorf("%w: expiry %q: want YYYY-MM-DD or YYMMDD", ErrInvalid, s)
		}
		return t.Format(time.DateOnly), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "", fmt.Errorf("%w: expiry %q: want YYYY-MM-DD or YYMMDD", ErrInvalid, s)
	}
	return t.Format(time.DateOnly), nil
}

// Expired reports whether a unit with expiry date (YYYY-MM-DD) is past it
// at now: it may be used through the whole expiry day, UTC.
func Expired(expiry string, now time.Time) bool {
	t, err := time.Parse(time.DateOnly, expiry)
	if err != nil {
		return true // the ledger stores only parsed dates; anything else is not usable
	}
	return !now.UTC().Before(t.AddDate(0, 0, 1))
}

// Commitment is the serial commitment of serial of gtin under the product
// key: HMAC-SHA256(key, domain ‖ gtin ‖ serial). The GTIN is bound in so a
// commitment of one product never matches another's.
func Commitment(key []byte, gtin, serial string) []byte {
	return keyedCommitment(key, "carechain/supply/serial/v1", gtin, serial)
}

// keyedCommitment is HMAC-SHA256(key, domain ‖ 0 ‖ gtin ‖ 0 ‖ id).
func keyedCommitment(key []byte, domain, gtin, id string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(gtin))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return m.Sum(nil)
}

// KeyWrapInfo is the HPKE info a product key is wrapped with for org: a
// wrap for one product and organization opens for no other.
func KeyWrapInfo(gtin, org string) []byte {
	return []byte("carechain/supply/product-key/v1\x00" + gtin + "\x00" + org)
}

// State keys of the supply chain on the ledger: the ledger stores products,
// lots and units under them, and its authenticated map of supply state
// (package smt) is keyed by their SHA-256, so an offline check of a proof
// finds the same keys.

// ProductKey is the state key of product gtin.
func ProductKey(gtin string) string { return "supply-product/" + gtin }

// LotKey is the state key of a lot of gtin.
func LotKey(gtin, lot string) string { return "supply-lot/" + gtin + "/" + lot }

// UnitKey is the state key of the unit of gtin with serial commitment c.
func UnitKey(gtin string, c []byte) string {
	return "supply-unit/" + gtin + "/" + hex.EncodeToString(c)
}

// MappedPrefixes are the state key prefixes the authenticated map covers.
var MappedPrefixes = [...]string{"supply-product/", "supply-lot/", "supply-unit/", "supply-case/"}
