package records

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"maps"
	"sync"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// custodyIndex keeps in memory what a node reads again at each lookup of
// a private unit: its organizations' custody notes and the SSCCs their
// events name, read from the sealed supply journal once and then kept up
// with its appends; the custody labels and the serial noted for each unit
// commitment, and the SSCC of each case commitment; and the pending
// shipments it has tried to open, each opened once. Serials and SSCCs
// stay in memory; nothing of it is written.
type custodyIndex struct {
	mu     sync.Mutex
	loaded bool
	read   int                       // journal entries read when loaded
	sealed map[string][]journalEntry // by org: entries read while this node held no key of it, in order
	notes  map[string][]custodyNote  // by org and GTIN (orgGTIN)
	ssccs  map[string][]string       // by org and GTIN: the SSCCs its events name, in order
	units  map[string]*unitLabels    // by org and GTIN
	opened map[shipMemoKey]openedShipment
	// verified are the shippers' statements whose signatures verified.
	verified map[shipMemoKey]struct{}
	seed     maphash.Seed
	seeded   bool
	// keys are the product keys of private products an organization
	// learned from a shipment (they never change), by org and GTIN.
	keys map[string][]byte
	// derivedKeys are custody keys derived before, by org and label.
	derivedKeys map[string]derivedKeys
}

// derivedKeys are an organization's custody keys of one label, derived
// from the encryption keys of the organization named from (heldID).
type derivedKeys struct {
	from string
	keys []ed25519.PrivateKey
}

// maxDerived bounds the labels whose keys are kept.
const maxDerived = 1 << 16

// derived is org's custody keys for label as derived before from the
// encryption keys from names (nil: not kept, or derived from others).
func (x *custodyIndex) derived(org, label, from string) []ed25519.PrivateKey {
	x.mu.Lock()
	defer x.mu.Unlock()
	if d, ok := x.derivedKeys[orgGTIN(org, label)]; ok && d.from == from {
		return d.keys
	}
	return nil
}

// keepDerived keeps org's custody keys for label, derived from the keys
// from names.
func (x *custodyIndex) keepDerived(org, label, from string, keys []ed25519.PrivateKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.derivedKeys == nil || len(x.derivedKeys) >= maxDerived {
		x.derivedKeys = map[string]derivedKeys{}
	}
	x.derivedKeys[orgGTIN(org, label)] = derivedKeys{from, keys}
}

// productKey is the kept key of private product gtin for org (a copy), or nil.
func (x *custodyIndex) productKey(org, gtin string) []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := x.keys[orgGTIN(org, gtin)]; ok {
		return bytes.Clone(k)
	}
	return nil
}

// keepProductKey keeps a copy of k, the key of private product gtin for org.
func (x *custodyIndex) keepProductKey(org, gtin string, k []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.keys == nil {
		x.keys = map[string][]byte{}
	}
	x.keys[orgGTIN(org, gtin)] = bytes.Clone(k)
}

// unitLabels are the labels of the custody keys noted for each unit
// commitment of one organization and product, the latest first, the
// serial of each, and the SSCC of each case commitment its events name.
type unitLabels struct {
	key       [sha256.Size]byte // of the product key the commitments are under
	upto      int               // notes indexed
	casesUpto int               // SSCCs indexed
	labels    map[string][]string
	serials   map[string]string
	cases     map[string]string
}

// openedShipment is a pending shipment tried with an organization's key:
// opened, or not for it.
type openedShipment struct {
	sh supply.Shipment
	ok bool
}

// maxOpened bounds the shipments remembered: past it, they are forgotten
// and tried again when next asked for.
const maxOpened = 1 << 16

func orgGTIN(org, gtin string) string { return org + "\x00" + gtin }

// load reads the journal once; the caller holds x.mu.
func (x *custodyIndex) load(s *Service) error {
	if x.loaded {
		return nil
	}
	items, err := s.journalItems()
	if err != nil {
		return err
	}
	x.sealed, x.notes, x.units = map[string][]journalEntry{}, map[string][]custodyNote{}, map[string]*unitLabels{}
	x.ssccs = map[string][]string{}
	for i, item := range items {
		var je journalEntry
		if err := tx.Unmarshal(item, &je); err != nil {
			return fmt.Errorf("supply journal entry #%d: %w", i, err)
		}
		x.sealed[je.Org] = append(x.sealed[je.Org], je)
	}
	x.loaded, x.read = true, len(items)
	return nil
}

// open opens org's entries read while this node held no key of it, if it
// holds one now; the caller holds x.mu.
func (x *custodyIndex) open(s *Service, org string) error {
	pending := x.sealed[org]
	if len(pending) == 0 {
		return nil
	}
	id, ok := s.keys.identity(org)
	if !ok {
		return nil
	}
	for i, je := range pending {
		e, err := openJournalEntry(id, je)
		if err != nil {
			return fmt.Errorf("supply journal entry of %s #%d: %w", org, i, err)
		}
		x.add(org, e)
	}
	delete(x.sealed, org)
	return nil
}

// add indexes e, an event of org, if it carries a custody note or names
// cases.
func (x *custodyIndex) add(org string, e supply.Event) {
	k := orgGTIN(org, e.GTIN)
	if e.Custody != nil {
		x.notes[k] = append(x.notes[k], custodyNote{e.Serials, *e.Custody})
	}
	x.ssccs[k] = append(x.ssccs[k], e.SSCCs...)
}

// appended indexes e, journaled for org as entry je at position pos.
func (x *custodyIndex) appended(s *Service, pos int, je journalEntry, e supply.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case !x.loaded || pos < x.read: // read with the journal
	case len(x.sealed[je.Org]) > 0 || !s.holds(je.Org):
		x.sealed[je.Org] = append(x.sealed[je.Org], je) // opened in order, once a key of the organization is here
	default:
		x.add(je.Org, e)
	}
}

// holds reports whether this node holds a key of org.
func (s *Service) holds(org string) bool {
	_, ok := s.keys.identity(org)
	return ok
}

// notesOf is org's custody notes on gtin, oldest first.
func (x *custodyIndex) notesOf(s *Service, org, gtin string) ([]custodyNote, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.load(s); err != nil {
		return nil, err
	}
	if err := x.open(s, org); err != nil {
		return nil, err
	}
	return append([]custodyNote(nil), x.notes[orgGTIN(org, gtin)]...), nil
}

// unitsOf is the index of org's units and cases of gtin under product key
// k, brought up to date with its notes and SSCCs; the caller holds x.mu.
func (x *custodyIndex) unitsOf(s *Service, org, gtin string, k []byte) (*unitLabels, error) {
	if err := x.load(s); err != nil {
		return nil, err
	}
	if err := x.open(s, org); err != nil {
		return nil, err
	}
	og := orgGTIN(org, gtin)
	u := x.units[og]
	if kh := sha256.Sum256(k); u == nil || u.key != kh {
		u = &unitLabels{key: kh, labels: map[string][]string{}, serials: map[string]string{}, cases: map[string]string{}}
		x.units[og] = u
	}
	notes := x.notes[og]
	for _, n := range notes[u.upto:] {
		for _, sn := range n.serials {
			c := string(supply.Commitment(k, gtin, sn))
			u.serials[c] = sn
			if n.note.Label != "" {
				u.labels[c] = append([]string{n.note.Label}, u.labels[c]...)
			}
		}
	}
	u.upto = len(notes)
	ssccs := x.ssccs[og]
	for _, sscc := range ssccs[u.casesUpto:] {
		u.cases[string(supply.CaseCommitment(k, gtin, sscc))] = sscc
	}
	u.casesUpto = len(ssccs)
	return u, nil
}

// labelsOf is the labels noted for the unit of commitment c of gtin held
// by org, product key k, the latest first.
func (x *custodyIndex) labelsOf(s *Service, org, gtin string, k, c []byte) ([]string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	u, err := x.unitsOf(s, org, gtin, k)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), u.labels[string(c)]...), nil
}

// heldUnits is a copy of the labels noted for each of org's units of
// gtin (by commitment bytes), for a listing of them all, and the SSCC of
// each case its events name (by case commitment bytes).
func (x *custodyIndex) heldUnits(s *Service, org, gtin string, k []byte) (labels map[string][]string, cases map[string]string, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	u, err := x.unitsOf(s, org, gtin, k)
	if err != nil {
		return nil, nil, err
	}
	labels = make(map[string][]string, len(u.labels))
	for c, ls := range u.labels {
		labels[c] = append([]string(nil), ls...)
	}
	return labels, maps.Clone(u.cases), nil
}

// caseUnits is the serials org's notes give for the unit commitments cs
// of gtin ("" for one they do not name), and the labels noted for the
// first, the latest first: what finds a case's key and contents.
func (x *custodyIndex) caseUnits(s *Service, org, gtin string, k []byte, cs [][]byte) (serials, labels []string, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	u, err := x.unitsOf(s, org, gtin, k)
	if err != nil || len(cs) == 0 {
		return nil, nil, err
	}
	serials = make([]string, len(cs))
	for i, c := range cs {
		serials[i] = u.serials[string(c)]
	}
	return serials, append([]string(nil), u.labels[string(cs[0])]...), nil
}

// shipment is what opening details, under claim, with org's key gave
// before (known false: never tried, or forgotten).
func (x *custodyIndex) shipment(org string, claim, details []byte) (sh supply.Shipment, ok, known bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, known := x.opened[x.shipmentID(org, claim, details)]
	return o.sh, o.ok, known
}

// tried remembers what opening details under claim with org's key gave.
func (x *custodyIndex) tried(org string, claim, details []byte, sh supply.Shipment, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.opened == nil || len(x.opened) >= maxOpened {
		x.opened = map[shipMemoKey]openedShipment{}
	}
	x.opened[x.shipmentID(org, claim, details)] = openedShipment{sh, ok}
}

// shipMemoKey names a value by a few strings and a hash of the rest, keyed
// with the index's secret seed: nobody who does not know the seed can
// make two values share a key, and it costs a few microseconds for the
// tens of kilobytes of a shipment, where SHA-256 cost tens.
type shipMemoKey struct {
	a, b string
	n    int
	h    uint64
}

// hashOf hashes parts, each length-prefixed, under x's seed; the caller
// holds x.mu.
func (x *custodyIndex) hashOf(parts ...[]byte) (int, uint64) {
	if !x.seeded {
		x.seed, x.seeded = maphash.MakeSeed(), true
	}
	var h maphash.Hash
	h.SetSeed(x.seed)
	n := 0
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
		n += len(p)
	}
	return n, h.Sum64()
}

func (x *custodyIndex) shipmentID(org string, claim, details []byte) shipMemoKey {
	n, h := x.hashOf(details)
	return shipMemoKey{org, string(claim), n, h}
}

// statementID names a shipper's statement (what supply.ShipDigest covers)
// with its signature and the key it is checked under.
func (x *custodyIndex) statementID(key []byte, chainID string, sh *supply.Shipment, claim []byte) shipMemoKey {
	parts := [][]byte{[]byte(chainID), []byte(sh.GTIN), claim, []byte(sh.From), []byte(sh.To), []byte(sh.Signer)}
	parts = append(parts, binary.BigEndian.AppendUint32(nil, uint32(len(sh.Lots))))
	for _, l := range sh.Lots {
		parts = append(parts, []byte(l))
	}
	parts = append(parts, sh.Units...) // the last list: its count is the rest
	n, h := x.hashOf(parts...)
	return shipMemoKey{string(key), string(sh.Sig), n, h}
}

// statementVerified reports whether sh's statement under claim was found
// signed by key before.
func (x *custodyIndex) statementVerified(key []byte, chainID string, sh *supply.Shipment, claim []byte) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.verified[x.statementID(key, chainID, sh, claim)]
	return ok
}

// statementChecked remembers that sh's statement under claim is signed by key.
func (x *custodyIndex) statementChecked(key []byte, chainID string, sh *supply.Shipment, claim []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.verified == nil || len(x.verified) >= maxOpened {
		x.verified = map[shipMemoKey]struct{}{}
	}
	x.verified[x.statementID(key, chainID, sh, claim)] = struct{}{}
}
