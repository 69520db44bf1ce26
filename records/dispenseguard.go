package records

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	"github.com/carechain/carechain"
)

// dispenseGuard narrows, on this node, the retry rule of supplydispense.go
// (units already dispensed by the organization, all in one block, are
// accepted without a second move): from the check of a dispense's units to
// the end of its record write, no other request of this node may name one
// of them, and once a record names them no other record written through
// this node may (an update of that record may). It is memory only: after a
// restart, or on another node of the organization, only the ledger's rule
// holds (README "Supply chain": the residual risk). It keeps digests of
// commitments, never serials.
type dispenseGuard struct {
	mu       sync.Mutex
	inFlight map[string]bool              // commitment → named by a request under way
	recorded map[[sha256.Size]byte]string // digest of a dispense's units → the record naming them
}

// maxRecorded bounds the dispenses the guard remembers; past it, it forgets
// them all (and only the ledger's rule holds for them).
const maxRecorded = 100_000

// unitsDigest names a set of units of a product, in any order.
func unitsDigest(gtin string, units [][]byte) [sha256.Size]byte {
	sorted := slices.Clone(units)
	slices.SortFunc(sorted, bytes.Compare)
	h := sha256.New()
	h.Write([]byte(gtin))
	for _, u := range sorted {
		h.Write(u)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// begin claims the units of plans for one request, refusing units another
// request of this node is dispensing, and a retry (units dispensed
// already) of units a record other than the plan's already names. The
// returned end releases them; end(true) after the record is written.
func (g *dispenseGuard) begin(plans []*unitDispense) (end func(written bool), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight == nil {
		g.inFlight, g.recorded = map[string]bool{}, map[[sha256.Size]byte]string{}
	}
	for _, p := range plans {
		for i, u := range p.units {
			if g.inFlight[string(u)] {
				return nil, carechain.E(carechain.KindConflict, fmt.Errorf("DO NOT DISPENSE: unit #%d is being dispensed by another request on this node; nothing was written", i+1))
			}
		}
		if rec, ok := g.recorded[unitsDigest(p.gtin, p.units)]; ok && p.done && rec != p.recordID {
			return nil, carechain.E(carechain.KindConflict, fmt.Errorf("DO NOT DISPENSE: these units were dispensed, and a MedicationDispense written on this node (%s) names them; nothing was written", rec))
		}
	}
	for _, p := range plans {
		for _, u := range p.units {
			g.inFlight[string(u)] = true
		}
	}
	return func(written bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, p := range plans {
			for _, u := range p.units {
				delete(g.inFlight, string(u))
			}
			if written {
				if len(g.recorded) >= maxRecorded {
					clear(g.recorded)
				}
				g.recorded[unitsDigest(p.gtin, p.units)] = p.recordID
			}
		}
	}, nil
}
