package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
)

// When a chain keeps the supply map. The map's root joins the app hash,
// so a chain founded before the map existed must not start one on its
// own: a node replaying that chain's blocks would compute app hashes the
// chain never had. So the map is kept from the height in supplyMapFromKey:
//
//   - a chain this carechain founds says so in its genesis
//     (Genesis.SupplyMap, set by init, testnet and the demo): the map is
//     kept from its first block;
//   - a chain founded before takes it by the consensus upgrade
//     SupplyMapUpgrade, approved by governance: at the plan's height its
//     Migrate puts every product, lot and unit already in state into the
//     map, and the map is kept from then on.
//
// Until then the chain's app hashes are the v2 ones it always had, and a
// verification bundle is refused with ErrNoSupplyMap.

// SupplyMapUpgrade is the name of the consensus upgrade that starts the
// supply map on a chain founded before it.
const SupplyMapUpgrade = "supply-map"

const supplyMapFromKey = "supply-map-from"

// ErrNoSupplyMap: the chain keeps no supply map (yet).
var ErrNoSupplyMap = carechain.NewError(carechain.KindConflict,
	"this chain keeps no authenticated supply map: it was founded before the map; its members approve the consensus upgrade "+SupplyMapUpgrade)

// supplyMapFrom is the height from which the chain in r keeps the supply
// map; 0 if it does not.
func supplyMapFrom(r getter) (int64, error) {
	raw, err := r.Get(supplyMapFromKey)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var h int64
	if err := unmarshalState(raw, &h); err != nil {
		return 0, fmt.Errorf("decode %s: %w", supplyMapFromKey, err)
	}
	return h, nil
}

func supplyMapUpgrade() Upgrade {
	return Upgrade{Name: SupplyMapUpgrade, Check: checkSupplyMapOff, Migrate: startSupplyMap}
}

// checkSupplyMapOff refuses the upgrade on a chain that keeps the map.
func checkSupplyMapOff(b *store.Block) error {
	h, err := supplyMapFrom(b)
	if err == nil && h > 0 {
		err = fmt.Errorf("the chain keeps the supply map from height %d already", h)
	}
	return err
}

// startSupplyMap puts every product, lot and unit in state into the map
// and keeps it from b's height on.
func startSupplyMap(b *store.Block) error {
	if err := checkSupplyMapOff(b); err != nil {
		return err
	}
	t := smt.New(mapNodes{b})
	for _, prefix := range supply.MappedPrefixes {
		err := b.Scan(prefix, func(k string, v []byte) error { return t.Update(smt.Key(k), smt.Value(v)) })
		if err != nil {
			return fmt.Errorf("supply map: %s: %w", prefix, err)
		}
	}
	return setCBOR(b, supplyMapFromKey, b.Height())
}
