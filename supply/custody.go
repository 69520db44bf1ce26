package supply

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// Private custody. Units of a product registered as private are held by
// one-time custody keys (Ed25519), not by organizations: the ledger keeps
// the public key holding each unit (Unit.Custody) and, while it is
// shipped, the public key its receiver claims it with (Unit.Claim). A
// holder moves its units with a supply.transfer signed by the custody key
// itself, under the pseudo-signer CustodySigner(pub): the ledger checks the
// signature against the key in the signer's name, and nothing is
// registered. An organization derives its keys from one secret it keeps
// (CustodyKey), one per label (a shipment or claim ID), so no key is used
// for two shipments and none links two of them to one organization.

// CustodyPrefix starts the signer ID of a custody key.
const CustodyPrefix = carechain.CustodyPrefix

// CustodyKeySize is the size of a custody public key.
const CustodyKeySize = ed25519.PublicKeySize

// custodyInfo is the HKDF info prefix of custody keys.
const custodyInfo = "carechain/supply/custody/v1\x00"

// CustodyKey derives the one-time custody key for label from an
// organization's secret (at least 32 bytes): HKDF-SHA256 over the secret,
// with the label in the info, seeds an Ed25519 key.
func CustodyKey(secret []byte, label string) (ed25519.PrivateKey, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("%w: a custody secret has at least 32 bytes, this one %d", ErrInvalid, len(secret))
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, custodyInfo+label, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("derive custody key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// CustodySigner is the signer ID of custody key pub: CustodyPrefix and
// the key in 64 lower-case hex digits.
func CustodySigner(pub ed25519.PublicKey) string { return CustodyPrefix + hex.EncodeToString(pub) }

// IsCustodySigner reports whether signer names a custody key (well formed
// or not): such a signer is never a registered principal.
func IsCustodySigner(signer string) bool { return strings.HasPrefix(signer, CustodyPrefix) }

// ParseCustodySigner returns the public key a custody signer ID names.
func ParseCustodySigner(signer string) (ed25519.PublicKey, error) {
	h, ok := strings.CutPrefix(signer, CustodyPrefix)
	if !ok || len(h) != 2*CustodyKeySize || strings.ToLower(h) != h {
		return nil, fmt.Errorf("%w: signer %q: want %s and 64 lower-case hex digits", ErrInvalid, signer, CustodyPrefix)
	}
	pub, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: signer %q: %v", ErrInvalid, signer, err)
	}
	return pub, nil
}

// dispenseDomain separates a dispenser's co-signature from every other
// signature its key makes.
const dispenseDomain = "carechain/supply/dispense/v1"

// DispenseDigest is what the dispensing organization's staff member
// dispenser signs to co-sign the dispense of units (their commitments) of
// gtin on chain chainID: SHA-256 of the domain and these, each
// length-prefixed, so no two inputs share a digest. It leaves out the
// custody signer and its nonce so the dispenser's device signs it from the
// commitments alone; a unit is dispensed once, so the co-signature cannot
// be replayed.
func DispenseDigest(chainID, gtin string, units [][]byte, dispenser string) []byte {
	f := newFramed(dispenseDomain)
	f.strings(chainID, gtin)
	f.parts(units)
	f.strings(dispenser)
	return f.sum()
}

// framed is a SHA-256 of a domain and parts, each length-prefixed (a list
// by its count first), so no two inputs share a digest.
type framed struct{ h hash.Hash }

func newFramed(domain string) framed {
	h := sha256.New()
	h.Write([]byte(domain))
	return framed{h}
}

func (f framed) part(b []byte) {
	f.h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	f.h.Write(b)
}

func (f framed) strings(ss ...string) {
	for _, s := range ss {
		f.part([]byte(s))
	}
}

// parts writes a list: its count, then each part.
func (f framed) parts(bs [][]byte) {
	f.h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(bs))))
	for _, b := range bs {
		f.part(b)
	}
}

func (f framed) sum() []byte { return f.h.Sum(nil) }

// ActCustodyNote is the action of a journal entry that carries only a
// CustodyNote: a node journals it before it submits the transaction that
// gives the units to the noted key, so a journal write that fails after
// a commit never loses a key; it is no supply event, and never exported.
const ActCustodyNote = "custody-note"

// CustodyNote is what an organization's node notes, in its sealed supply
// journal, beside an event on units of a private product: the label of
// the custody key that holds the event's units after it (a commission or
// a receive), and for a receive the shipper and the product key the
// shipment brought. It is node-local, never on the ledger.
type CustodyNote struct {
	Label      string `json:"label,omitempty"`
	From       string `json:"from,omitempty"`
	ProductKey []byte `json:"product_key,omitempty"`
}

// Shipment is what a ship of private units tells its two parties, sealed
// in the transfer's Details: who ships what to whom, the product key (the
// receiver computes commitments with it) and the seed of the claim key the
// receiver takes the units with.
type Shipment struct {
	From       string   `json:"from"`
	To         string   `json:"to"`
	GTIN       string   `json:"gtin"`
	Lots       []string `json:"lots"`
	Serials    []string `json:"serials"`
	SSCCs      []string `json:"ssccs,omitempty"` // the case shipped (its Serials are the units in it)
	ProductKey []byte   `json:"product_key"`
	ClaimSeed  []byte   `json:"claim_seed"`
	// Units are the serials' commitments, Signer the supply staff member
	// of From who signed ShipDigest of the shipment, Sig the signature
	// (shipsig.go); a shipment without them is not authenticated.
	Units  [][]byte `json:"units,omitempty"`
	Signer string   `json:"signer,omitempty"`
	Sig    []byte   `json:"sig,omitempty"`
	// BizTransactions and Price are the sale the ship belongs to
	// (epcistxn.go): sealed with the rest, outside the signed statement,
	// which the receiver may show to anyone checking a bundle.
	BizTransactions []BizTransaction `json:"biz_transactions,omitempty"`
	Price           *Price           `json:"price,omitempty"`
}

// Statement is the shipper's statement of sh, under claim key claim, with
// the signer's public key: what a verification bundle may carry.
func (sh *Shipment) Statement(claim, signerKey []byte) ShipStatement {
	return ShipStatement{From: sh.From, To: sh.To, GTIN: sh.GTIN, Claim: claim, Lots: sh.Lots, Units: sh.Units,
		Signer: sh.Signer, SignerKey: signerKey, Sig: sh.Sig}
}

// JudgePrivate answers scan, as Judge does, for a unit u of a private
// product, whose holder the ledger does not name: from is the
// organization the verifier's node knows the unit from — the shipper of a
// pending shipment sealed to the verifier, or the verifier itself if one of
// its keys holds the unit — or empty. A seller other than from is refused:
// the unit was not shipped to the verifier by it.
func JudgePrivate(scan Scan, p *Product, u *Unit, lot *Lot, verifier, from string, now time.Time) Verification {
	if u == nil || lot == nil {
		return Judge(scan, p, u, lot, verifier, now)
	}
	seen := *u
	seen.Custodian, seen.To = from, ""
	if u.Status == StatusInTransit && from != "" && from != verifier {
		seen.To = verifier
	}
	unsold := scan
	unsold.Seller = ""
	v := Judge(unsold, p, &seen, lot, verifier, now)
	v.Seller = scan.Seller
	switch {
	case scan.Seller == "" || scan.Seller == from:
	case scan.Seller == verifier: // the verifier's own stock, to dispense
		v.Reasons = append(v.Reasons, fmt.Sprintf("the unit is not held by %s: its serial may be copied", verifier))
	default:
		v.Reasons = append(v.Reasons, fmt.Sprintf("the unit was not shipped to you by %s: its serial may be copied", scan.Seller))
	}
	v.Genuine = len(v.Reasons) == 0
	return v
}
