package records

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Private custody on the node (supply/custody.go). An organization's
// custody keys are derived, never stored: the custody secret is HKDF of
// the organization's encryption private key, which this node holds, and
// each key is supply.CustodyKey of the secret and a label ("commission/…",
// "receive/<claim>"). Which label holds which units the node notes in the
// organization's sealed supply journal (supply.CustodyNote), so a later
// ship, dispense or flag finds the key; a key found is checked against the
// one the ledger names. A ship seals its supply.Shipment to the receiver's
// and the shipper's organization keys; the ledger keeps it under the claim
// key until the receive (ledger.View.SupplyShipments), and the receiver's
// node finds the shipments sealed to it by trying to open each.

// ErrNotHeld is a transfer of a unit the caller's organization does not
// hold (or, for a receive, that is not shipped to it).
var ErrNotHeld = carechain.NewError(carechain.KindPermission, "not held by your organization")

// custodySecretInfo is the HKDF info of an organization's custody secret.
const custodySecretInfo = "carechain/supply/custody-secret/v1\x00"

// custodyKeys derives label's custody key from each of org's encryption
// keys this node holds, the current one first (a rotation leaves the keys
// derived from the earlier ones findable).
func (s *Service) custodyKeys(org, label string) ([]ed25519.PrivateKey, error) {
	if _, ok := s.keys.identity(org); !ok {
		return nil, fmt.Errorf("this node holds no encryption key of %s, so none of its custody keys", org)
	}
	held := s.keys.held(org)
	from := heldID(held)
	if ks := s.custody.derived(org, label, from); ks != nil {
		return ks, nil
	}
	var out []ed25519.PrivateKey
	for _, k := range held {
		ek := k.Bytes()
		secret, err := hkdf.Key(sha256.New, ek, nil, custodySecretInfo+org, 32)
		clear(ek)
		if err != nil {
			return nil, fmt.Errorf("derive the custody secret of %s: %w", org, err)
		}
		key, err := supply.CustodyKey(secret, label)
		clear(secret)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	s.custody.keepDerived(org, label, from, out)
	return out, nil
}

// heldID names a list of held encryption keys by their public keys.
func heldID(held []*seal.PrivateKey) string {
	var b strings.Builder
	for _, k := range held {
		b.Write(k.Public().Bytes())
	}
	return b.String()
}

// custodyKey is org's custody key for label whose public key is want (nil:
// the one derived from its current encryption key).
func (s *Service) custodyKey(org, label string, want []byte) (ed25519.PrivateKey, error) {
	keys, err := s.custodyKeys(org, label)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if want == nil || bytes.Equal(k.Public().(ed25519.PublicKey), want) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: no custody key of %s for %s is the key the ledger names", ErrNotHeld, org, label)
}

// NewCustodyLabel is a fresh label for a commissioning's custody key.
func NewCustodyLabel() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "commission/" + hex.EncodeToString(b)
}

// SupplyCustodyKey returns a new custody key's label and public key, for
// caller, supply staff of the manufacturer of private product gtin, to
// commission serials to: the caller signs the commissioning itself. The
// node journals which label the serials are to be held by first, so it
// finds the key again once they are commissioned.
func (s *Service) SupplyCustodyKey(caller *carechain.Principal, gtin string, serials []string) (label string, pub []byte, err error) {
	if !supply.Staff(caller) {
		return "", nil, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain", caller.ID))
	}
	v := s.latest()
	p, err := v.SupplyProduct(gtin)
	if err != nil {
		return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("product %s: %w", gtin, err))
	}
	if !p.Private || p.Owner != caller.Org {
		return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("product %s is not a private product of %s", gtin, caller.Org))
	}
	if len(serials) == 0 || len(serials) > supply.MaxUnits {
		return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("name 1 to %d serials", supply.MaxUnits))
	}
	for i, sn := range serials {
		if err := supply.CheckSerial(sn); err != nil {
			return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d: %w", i, err))
		}
	}
	label = NewCustodyLabel()
	k, err := s.custodyKey(caller.Org, label, nil)
	if err != nil {
		return "", nil, err
	}
	if err := s.noteCustody(v, caller.Org, gtin, serials, supply.CustodyNote{Label: label}); err != nil {
		return "", nil, err
	}
	return label, k.Public().(ed25519.PublicKey), nil
}

// noteCustody journals note on serials of gtin for org (supply.ActCustodyNote).
func (s *Service) noteCustody(v *ledger.View, org, gtin string, serials []string, note supply.CustodyNote) error {
	e := supply.Event{Action: supply.ActCustodyNote, GTIN: gtin, Serials: serials, Custody: &note, Org: org, Time: s.now().UTC()}
	if err := s.journalSupply(v, org, e); err != nil {
		return fmt.Errorf("note the custody key %s: %w", note.Label, err)
	}
	return nil
}

// shipmentInfo is the HPKE info of a shipment's content key wrapped to org.
func shipmentInfo(org string) []byte { return []byte("carechain/supply/shipment/v1\x00" + org) }

// shipmentAD binds a sealed shipment to its product and claim key, so it
// opens under no other shipment.
func shipmentAD(gtin string, claim []byte) []byte {
	return append([]byte("carechain/supply/shipment/v1\x00"+gtin+"\x00"), claim...)
}

// sealedShipment is a ship's Details: a content key wrapped to each party
// (in no named order: the wraps name no one) and the shipment under it.
type sealedShipment struct {
	Wraps  [][]byte `cbor:"1,keyasint"`
	Sealed []byte   `cbor:"2,keyasint"` // nonce ‖ AES-256-GCM ciphertext of the JSON
}

// sealShipment seals sh to the organizations from and to, for the ship
// whose claim key is claim.
func sealShipment(v *ledger.View, sh supply.Shipment, claim []byte) ([]byte, error) {
	plain, err := json.Marshal(sh)
	if err != nil {
		return nil, err
	}
	var out sealedShipment
	if out.Wraps, out.Sealed, err = sealToOrgs(v, []string{sh.To, sh.From}, shipmentInfo, plain, shipmentAD(sh.GTIN, claim)); err != nil {
		return nil, err
	}
	return tx.Marshal(&out)
}

// openShipment opens details sealed to org, or returns seal.ErrDecrypt.
func openShipment(id seal.Identity, org, gtin string, claim, details []byte) (supply.Shipment, error) {
	var sh supply.Shipment
	var in sealedShipment
	if err := tx.Unmarshal(details, &in); err != nil || len(in.Wraps) > 2 || len(in.Sealed) < 12 {
		return sh, seal.ErrDecrypt
	}
	for _, w := range in.Wraps {
		k, err := id.Unwrap(w, shipmentInfo(org))
		if err != nil {
			continue
		}
		plain, err := gcm(k).Open(nil, in.Sealed[:12], in.Sealed[12:], shipmentAD(gtin, claim))
		clear(k)
		if err != nil {
			return sh, seal.ErrDecrypt
		}
		if err := json.Unmarshal(plain, &sh); err != nil || sh.GTIN != gtin {
			return sh, seal.ErrDecrypt
		}
		return sh, nil
	}
	return sh, seal.ErrDecrypt
}

// incoming is the pending shipments of gtin sealed to org and shipped to
// it, by hex of their claim keys.
func (s *Service) incoming(v *ledger.View, org, gtin string) (map[string]supply.Shipment, error) {
	id, ok := s.keys.identity(org)
	if !ok {
		return nil, nil
	}
	pending, err := v.SupplyShipments(gtin)
	if err != nil {
		return nil, err
	}
	out := map[string]supply.Shipment{}
	for _, p := range pending {
		sh, ok, err := s.openFor(id, org, gtin, p.Claim, p.Details)
		if err != nil {
			return nil, err
		}
		if ok {
			out[hex.EncodeToString(p.Claim)] = sh
		}
	}
	return out, nil
}

// openFor opens a pending shipment's details if they are sealed to org
// and ship to it (ok), trying each only once (custodyIndex).
func (s *Service) openFor(id seal.Identity, org, gtin string, claim, details []byte) (supply.Shipment, bool, error) {
	if sh, ok, known := s.custody.shipment(org, claim, details); known {
		return sh, ok, nil
	}
	sh, err := openShipment(id, org, gtin, claim, details)
	ok := err == nil && sh.To == org
	if err != nil && !errors.Is(err, seal.ErrDecrypt) {
		return sh, false, err
	}
	if !ok {
		sh = supply.Shipment{}
	}
	s.custody.tried(org, claim, details, sh, ok)
	return sh, ok, nil
}

// incomingOf is the pending shipment under claim of gtin sealed and
// shipped to org, if there is one.
func (s *Service) incomingOf(v *ledger.View, org, gtin string, claim []byte) (supply.Shipment, bool, error) {
	id, ok := s.keys.identity(org)
	if !ok {
		return supply.Shipment{}, false, nil
	}
	details, err := v.SupplyShipment(gtin, claim)
	if errors.Is(err, ledger.ErrNotFound) {
		return supply.Shipment{}, false, nil
	} else if err != nil {
		return supply.Shipment{}, false, err
	}
	return s.openFor(id, org, gtin, claim, details)
}

// privateProductKey finds the key of private product gtin for org when the
// ledger holds no wrap of it to org: in the custody notes of its journal
// (a shipment it received), else in a pending shipment sealed to it.
func (s *Service) privateProductKey(v *ledger.View, org, gtin string) ([]byte, error) {
	if k := s.custody.productKey(org, gtin); k != nil {
		return k, nil
	}
	k, err := s.findPrivateProductKey(v, org, gtin)
	if k != nil {
		s.custody.keepProductKey(org, gtin, k)
	}
	return k, err
}

// findPrivateProductKey is privateProductKey without the index.
func (s *Service) findPrivateProductKey(v *ledger.View, org, gtin string) ([]byte, error) {
	notes, err := s.custodyNotes(org, gtin)
	if err != nil {
		return nil, err
	}
	for i := len(notes) - 1; i >= 0; i-- {
		if len(notes[i].note.ProductKey) == supply.KeySize {
			return bytes.Clone(notes[i].note.ProductKey), nil
		}
	}
	in, err := s.incoming(v, org, gtin)
	if err != nil {
		return nil, err
	}
	for _, sh := range in {
		if len(sh.ProductKey) == supply.KeySize {
			return bytes.Clone(sh.ProductKey), nil
		}
	}
	return nil, nil
}

// custodyNote is a journaled event of org on gtin that carries a note.
type custodyNote struct {
	serials []string
	note    supply.CustodyNote
}

// custodyNotes are org's journaled events on gtin with a custody note,
// oldest first.
func (s *Service) custodyNotes(org, gtin string) ([]custodyNote, error) {
	return s.custody.notesOf(s, org, gtin)
}

// heldLabels is the labels of the custody keys org's journal notes for
// its unit of gtin of commitment c (product key k), the latest first.
func (s *Service) heldLabels(org, gtin string, k, c []byte) ([]string, error) {
	return s.custody.labelsOf(s, org, gtin, k, c)
}

// heldKey is the custody key of org among labels that holds unit u.
func (s *Service) heldKey(org string, labels []string, u *supply.Unit) (ed25519.PrivateKey, error) {
	for _, label := range labels {
		if k, err := s.custodyKey(org, label, u.Custody); err == nil {
			return k, nil
		} else if !errors.Is(err, ErrNotHeld) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: no custody key of %s holds this unit", ErrNotHeld, org)
}

// knownFrom is the organization org's node knows private unit u of gtin
// (of commitment c, product key k) from: the shipper of a pending shipment
// of it sealed to org, org itself if one of its custody keys holds it, or
// nobody (""). A pending shipment whose statement does not authenticate
// its sender (shipSigner) gives an error wrapping supply.ErrUnsigned.
func (s *Service) knownFrom(v *ledger.View, org, gtin string, k, c []byte, u *supply.Unit) (string, error) {
	if sh, err := s.pendingShipment(v, org, gtin, u); err != nil {
		return "", err
	} else if sh != nil {
		if _, err := s.shipSigner(v, sh, u.Claim, c); err != nil {
			return "", err
		}
		return sh.From, nil
	}
	labels, err := s.heldLabels(org, gtin, k, c)
	if err != nil {
		return "", err
	}
	if _, err := s.heldKey(org, labels, u); err == nil {
		return org, nil
	} else if !errors.Is(err, ErrNotHeld) {
		return "", err
	}
	return "", nil
}
