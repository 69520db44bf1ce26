package records

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// custodyIndex keeps in memory what a node reads again at each lookup of
// a private unit: its organizations' custody notes, read from the sealed
// supply journal once and then kept up with its appends; the custody
// labels noted for each unit commitment; and the pending shipments it has
// tried to open, each opened once. Serials stay in memory; nothing of it
// is written.
type custodyIndex struct {
	mu     sync.Mutex
	loaded bool
	read   int                       // journal entries read when loaded
	sealed map[string][]journalEntry // by org: entries read while this node held no key of it, in order
	notes  map[string][]custodyNote  // by org and GTIN (orgGTIN)
	units  map[string]*unitLabels    // by org and GTIN
	opened map[[sha256.Size]byte]openedShipment
}

// unitLabels are the labels of the custody keys noted for each unit
// commitment of one organization and product, the latest first.
type unitLabels struct {
	key    [sha256.Size]byte // of the product key the commitments are under
	upto   int               // notes indexed
	labels map[string][]string
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

// add indexes e, an event of org, if it carries a custody note.
func (x *custodyIndex) add(org string, e supply.Event) {
	if e.Custody != nil {
		k := orgGTIN(org, e.GTIN)
		x.notes[k] = append(x.notes[k], custodyNote{e.Serials, *e.Custody})
	}
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

// labelsOf is the labels noted for the unit of commitment c of gtin held
// by org, product key k, the latest first.
func (x *custodyIndex) labelsOf(s *Service, org, gtin string, k, c []byte) ([]string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.load(s); err != nil {
		return nil, err
	}
	if err := x.open(s, org); err != nil {
		return nil, err
	}
	og := orgGTIN(org, gtin)
	u := x.units[og]
	if kh := sha256.Sum256(k); u == nil || u.key != kh {
		u = &unitLabels{key: kh, labels: map[string][]string{}}
		x.units[og] = u
	}
	notes := x.notes[og]
	for _, n := range notes[u.upto:] {
		if n.note.Label == "" {
			continue
		}
		for _, sn := range n.serials {
			c := string(supply.Commitment(k, gtin, sn))
			u.labels[c] = append([]string{n.note.Label}, u.labels[c]...)
		}
	}
	u.upto = len(notes)
	return append([]string(nil), u.labels[string(c)]...), nil
}

// heldUnits is a copy of the labels noted for each of org's units of
// gtin (by commitment bytes), for a listing of them all.
func (x *custodyIndex) heldUnits(s *Service, org, gtin string, k []byte) (map[string][]string, error) {
	if _, err := x.labelsOf(s, org, gtin, k, nil); err != nil { // indexes every note
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[string][]string{}
	if u := x.units[orgGTIN(org, gtin)]; u != nil {
		for c, labels := range u.labels {
			out[c] = append([]string(nil), labels...)
		}
	}
	return out, nil
}

// shipment is what opening details, under claim, with org's key gave
// before (known false: never tried, or forgotten).
func (x *custodyIndex) shipment(org string, claim, details []byte) (sh supply.Shipment, ok, known bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, known := x.opened[shipmentID(org, claim, details)]
	return o.sh, o.ok, known
}

// tried remembers what opening details under claim with org's key gave.
func (x *custodyIndex) tried(org string, claim, details []byte, sh supply.Shipment, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.opened == nil || len(x.opened) >= maxOpened {
		x.opened = map[[sha256.Size]byte]openedShipment{}
	}
	x.opened[shipmentID(org, claim, details)] = openedShipment{sh, ok}
}

func shipmentID(org string, claim, details []byte) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{[]byte(org), claim, details} {
		h.Write(fmt.Appendf(nil, "%d:", len(b)))
		h.Write(b)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
