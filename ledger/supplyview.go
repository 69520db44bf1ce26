package ledger

import (
	"sort"
	"strings"
	"time"

	"github.com/carechain/carechain/supply"
)

// Views of the supply chain for an organization's own pages: the
// products it registered with their lots, and the units it holds or that
// are shipped to it, counted by product, lot and status. Units are known
// by commitment only, so these are counts, never serials.

// SupplyLotState is a lot of a product as the ledger has it.
type SupplyLotState struct {
	Name string     `json:"lot"`
	Lot  supply.Lot `json:"state"`
}

// SupplyProductsOf returns the products org registered, by GTIN.
func (v *View) SupplyProductsOf(org string) ([]supply.Product, error) {
	all, err := scanValues[supply.Product](v, "supply-product/")
	if err != nil {
		return nil, err
	}
	var out []supply.Product
	for _, p := range all {
		if p.Owner == org {
			out = append(out, p)
		}
	}
	return out, nil
}

// SupplyLots returns the lots of product gtin commissioned so far, by lot.
func (v *View) SupplyLots(gtin string) ([]SupplyLotState, error) {
	prefix := supplyLotKey(gtin, "")
	var out []SupplyLotState
	err := v.Scan(prefix, func(k string, val []byte) error {
		var l supply.Lot
		if err := unmarshalState(val, &l); err != nil {
			return err
		}
		out = append(out, SupplyLotState{Name: strings.TrimPrefix(k, prefix), Lot: l})
		return nil
	})
	return out, err
}

// SupplyHolding counts units of one product and lot in one status that an
// organization holds (Status active, suspect, …) or that are shipped to it
// (Incoming) or by it (Outgoing, in transit to To).
type SupplyHolding struct {
	GTIN     string        `json:"gtin"`
	Product  string        `json:"product"`
	Lot      string        `json:"lot"`
	Expiry   string        `json:"expiry"`
	Status   supply.Status `json:"status"`
	Incoming bool          `json:"incoming,omitempty"` // shipped to the organization, not yet received
	Peer     string        `json:"peer,omitempty"`     // the sender of an incoming shipment, the receiver of an outgoing one
	// Stop says why the units may be neither sold nor dispensed (a recall
	// with its reason, a suspicion, an expiry); empty if nothing stops them.
	Stop  string `json:"stop,omitempty"`
	Units int    `json:"units"`
}

// SupplyHoldings counts the units of every product whose key org holds
// that org holds, ships or is shipped, by product, lot, status and peer,
// judged at now (a recalled or expired lot shows so). It reads every unit
// of those products: for an organization's pages, not a hot path.
func (v *View) SupplyHoldings(org string, now time.Time) ([]SupplyHolding, error) {
	var gtins []string
	err := scanKeys(v, "supply-key/", func(k string) {
		if gtin, o, ok := strings.Cut(strings.TrimPrefix(k, "supply-key/"), "/"); ok && o == org {
			gtins = append(gtins, gtin)
		}
	})
	if err != nil {
		return nil, err
	}
	counts := map[SupplyHolding]int{}
	for _, gtin := range gtins {
		if err := v.countHeld(org, gtin, now, counts); err != nil {
			return nil, err
		}
	}
	out := make([]SupplyHolding, 0, len(counts))
	for h, n := range counts {
		h.Units = n
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.GTIN != b.GTIN {
			return a.GTIN < b.GTIN
		}
		if a.Lot != b.Lot {
			return a.Lot < b.Lot
		}
		if a.Incoming != b.Incoming {
			return a.Incoming
		}
		return a.Status < b.Status || a.Status == b.Status && a.Peer < b.Peer
	})
	return out, nil
}

// HoldingOf is the holding that unit u of product gtin (named product) in
// lot counts in for org at now, Units aside: what SupplyHoldings counts it
// in.
func HoldingOf(org, gtin, product string, u *supply.Unit, lot *supply.Lot, now time.Time) SupplyHolding {
	incoming := u.Status == supply.StatusInTransit && u.To == org
	h := SupplyHolding{GTIN: gtin, Product: product, Lot: u.Lot, Expiry: lot.Expiry, Status: supply.Effective(*u, *lot, now), Incoming: incoming}
	switch h.Status {
	case supply.StatusRecalled, supply.StatusSuspect, supply.StatusIllegitimate, supply.StatusExpired:
		h.Stop = supply.Why(h.Status, *u, *lot)
	}
	switch {
	case incoming:
		h.Peer = u.Custodian
	case u.Status == supply.StatusInTransit:
		h.Peer = u.To
	}
	return h
}

// countHeld adds org's units of gtin to counts.
func (v *View) countHeld(org, gtin string, now time.Time, counts map[SupplyHolding]int) error {
	p, err := getProduct(v, gtin)
	if err != nil {
		return err
	}
	lots := map[string]*supply.Lot{}
	return v.Scan("supply-unit/"+gtin+"/", func(_ string, val []byte) error {
		var u supply.Unit
		if err := unmarshalState(val, &u); err != nil {
			return err
		}
		incoming := u.Status == supply.StatusInTransit && u.To == org
		if u.Custodian != org && !incoming || u.Status == supply.StatusDispensed || u.Status == supply.StatusDecommissioned {
			return nil
		}
		lot, ok := lots[u.Lot]
		if !ok {
			if lot, err = getLot(v, gtin, u.Lot); err != nil {
				return err
			}
			lots[u.Lot] = lot
		}
		h := HoldingOf(org, gtin, p.Name, &u, lot, now)
		counts[h]++
		return nil
	})
}
