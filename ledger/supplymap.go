package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
)

// The authenticated map of supply state (package smt): every product, lot
// and unit the supply transactions write, keyed by SHA-256 of the state key,
// holding SHA-256 of the stored CBOR. Its nodes are state like any other,
// under supplyMapPrefix, written with the block that changed the values, so
// the map at any committed height is readable and its root after each block
// goes into the app hash (proof.AppInfo.SupplyRoot). A block that writes no
// supply state writes no map node, and a chain that never had supply state
// has no root: its app hashes are the ones it always had.

const supplyMapPrefix = "smt/supply/"

// mapNodes keeps map nodes in a block of state writes.
type mapNodes struct{ b *store.Block }

func (n mapNodes) Get(pos string) ([]byte, error) { return mapGet(n.b, pos) }
func (n mapNodes) Set(pos string, v []byte) error { return n.b.Set(supplyMapPrefix+pos, v) }
func (n mapNodes) Delete(pos string) error        { return n.b.Delete(supplyMapPrefix + pos) }

// mapReader reads map nodes from a view of state.
type mapReader struct{ r getter }

// getter reads state values: a view, a block, or one exact height.
type getter interface {
	Get(key string) ([]byte, error)
}

func (m mapReader) Get(pos string) ([]byte, error) { return mapGet(m.r, pos) }

func mapGet(r getter, pos string) ([]byte, error) {
	v, err := r.Get(supplyMapPrefix + pos)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// updateSupplyMap brings the map up to date with the supply state b writes,
// in key order, as one smt.Apply: the block's changes read each node their
// paths share once, and find the top levels in nodes (nil: none), the
// App's cache of map nodes.
func updateSupplyMap(b *store.Block, nodes *smt.Cache) error {
	var changes []smt.Change
	for _, prefix := range supply.MappedPrefixes {
		for _, k := range b.Written(prefix) {
			v, err := b.Get(k)
			switch {
			case errors.Is(err, store.ErrNotFound):
				changes = append(changes, smt.Change{Key: smt.Key(k)})
			case err == nil:
				vh := smt.Value(v)
				changes = append(changes, smt.Change{Key: smt.Key(k), Value: &vh})
			default:
				return fmt.Errorf("supply map: %s: %w", k, err)
			}
		}
	}
	if err := smt.New(mapNodes{b}).Apply(changes, nodes); err != nil {
		return fmt.Errorf("supply map: %w", err)
	}
	return nil
}

// supplyRoot is the map's root in r, nil while the map is empty.
func supplyRoot(r getter) ([]byte, error) {
	root, err := smt.RootOf(mapReader{r})
	if err != nil || root == smt.Empty {
		return nil, err
	}
	return root[:], nil
}

// SupplyRoot is the root of the authenticated map of supply state at v's
// height (nil: empty).
func (v *View) SupplyRoot() ([]byte, error) { return supplyRoot(v) }

// SupplyEntry returns the value of a supply state key at v's height (nil:
// absent) with its map proof.
func (v *View) SupplyEntry(stateKey string) (proof.SupplyEntry, error) {
	p, vh, err := smt.ProveCached(mapReader{v}, v.mapNodes, smt.Key(stateKey))
	if err != nil {
		return proof.SupplyEntry{}, err
	}
	val, err := v.Get(stateKey)
	switch {
	case errors.Is(err, store.ErrNotFound) && vh == nil:
		return proof.SupplyEntry{Proof: p}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return proof.SupplyEntry{}, err
	case vh == nil || err != nil || smt.Value(val) != *vh:
		return proof.SupplyEntry{}, fmt.Errorf("supply map at %d disagrees with the state of %s", v.Height(), stateKey)
	}
	return proof.SupplyEntry{Value: val, Proof: p}, nil
}

// SupplyBundle returns the map entries that answer a scan of gtin whose
// serial has commitment c (nil: not computed, as the product is not
// registered): the product, the unit and, if the unit exists, its lot. The
// caller adds the checkpoint at v's height. ErrNoSupplyMap if the chain
// keeps no map at v's height.
func (v *View) SupplyBundle(gtin string, c []byte) (*proof.SupplyBundle, error) {
	if from, err := supplyMapFrom(v); err != nil {
		return nil, err
	} else if from == 0 || from > v.Height() {
		return nil, ErrNoSupplyMap
	}
	out := &proof.SupplyBundle{Version: 1, Commitment: c}
	var err error
	if out.Product, err = v.SupplyEntry(supply.ProductKey(gtin)); err != nil || c == nil {
		return out, err
	}
	unit, err := v.SupplyEntry(supply.UnitKey(gtin, c))
	if err != nil {
		return nil, err
	}
	out.Unit = &unit
	if unit.Value == nil {
		return out, nil
	}
	u, err := getUnit(v, gtin, c)
	if err != nil {
		return nil, err
	}
	lot, err := v.SupplyEntry(supply.LotKey(gtin, u.Lot))
	if err != nil {
		return nil, err
	}
	out.Lot = &lot
	return out, nil
}
