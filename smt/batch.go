package smt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Change sets Key to the value hash *Value, or deletes Key if Value is nil.
type Change struct {
	Key   Hash
	Value *Hash
}

// Apply makes the changes in order, as Update and Delete one by one
// would, and leaves the same nodes in the store: each position's last write
// wins either way, and the tree's form is canonical. But the changes share
// one buffer of the nodes they read and write, so a node many keys' paths
// pass through (the root and the levels below it) is read from the store
// once and written to it once, in position order, at the end. With a cache
// c (nil: none), nodes below the root are looked up there by the hash
// their parent names before the store is read, and the nodes Apply writes
// at the cached depths go into it, for the next Apply and for proofs
// (ProveCached). An error before the final writes leaves the store
// unchanged.
func (t *Tree) Apply(changes []Change, c *Cache) error {
	buf := &bufferedNodes{under: t.nodes, cache: c, nodes: make(map[string]bufferedNode)}
	bt := &Tree{nodes: buf}
	for _, ch := range changes {
		var err error
		if ch.Value == nil {
			err = bt.Delete(ch.Key)
		} else {
			err = bt.Update(ch.Key, *ch.Value)
		}
		if err != nil {
			return fmt.Errorf("map key %x: %w", ch.Key[:8], err)
		}
	}
	return buf.flush()
}

// bufferedNodes keeps the nodes an Apply reads and writes, over the store
// under it.
type bufferedNodes struct {
	under Nodes
	cache *Cache // nil: none
	nodes map[string]bufferedNode
}

type bufferedNode struct {
	b     []byte // nil: no node
	dirty bool   // written (or deleted) by the batch
}

// descend is descend (smt.go) with each node below the root found by the
// hash its parent names: in the buffer if the batch read or wrote its
// position, else in the cache, else in the store. A position the batch
// has not written holds what it held before the batch, which its parent,
// as the batch left it, names by hash.
func (m *bufferedNodes) descend(k Hash) (int, *node, error) {
	n, err := get(m, 0, k)
	for d := 0; ; d++ {
		switch {
		case err != nil || n == nil || n.leaf:
			return d, n, err
		case d == Depth:
			return 0, nil, errors.New("map: inner node at the full depth: corrupt tree")
		}
		h := n.child(bit(k, d))
		if h == Empty {
			return d + 1, nil, nil
		}
		n, err = m.child(d+1, k, h)
	}
}

// child returns the node with hash h at depth d on k's path.
func (m *bufferedNodes) child(d int, k, h Hash) (*node, error) {
	p := pos(d, k)
	if b, ok := m.nodes[p]; ok {
		if b.b == nil {
			return nil, nil
		}
		return decode(p, b.b)
	}
	c, err := cachedChild(m.under, m.cache, d, k, h)
	if err != nil {
		return nil, err
	}
	m.nodes[p] = bufferedNode{b: c.encode()}
	return &c, nil
}

func (m *bufferedNodes) Get(pos string) ([]byte, error) {
	if n, ok := m.nodes[pos]; ok {
		return n.b, nil
	}
	b, err := m.under.Get(pos)
	if err != nil {
		return nil, err
	}
	m.nodes[pos] = bufferedNode{b: b}
	return b, nil
}

// Set keeps node, which the tree never changes once written (encode makes
// a new slice each time).
func (m *bufferedNodes) Set(pos string, node []byte) error {
	m.nodes[pos] = bufferedNode{b: node, dirty: true}
	return nil
}

func (m *bufferedNodes) Delete(pos string) error {
	m.nodes[pos] = bufferedNode{dirty: true}
	return nil
}

// flush writes each position the batch wrote, its last write, in position
// order.
func (m *bufferedNodes) flush() error {
	var dirty []string
	for p, n := range m.nodes {
		if n.dirty {
			dirty = append(dirty, p)
		}
	}
	slices.Sort(dirty)
	for _, p := range dirty {
		var err error
		if b := m.nodes[p].b; b != nil {
			m.cache.keep(p, b)
			err = m.under.Set(p, b)
		} else {
			err = m.under.Delete(p)
		}
		if err != nil {
			return fmt.Errorf("map node %s: %w", p, err)
		}
	}
	return nil
}

// parsePos returns the depth and the path prefix (the rest of the key
// zero) that position p names.
func parsePos(p string) (int, Hash, bool) {
	var k Hash
	d, err := strconv.ParseUint(p[:min(3, len(p))], 16, 16)
	if err != nil || len(p) != 3+2*((int(d)+7)/8) || d > Depth {
		return 0, k, false
	}
	_, err = hex.Decode(k[:], []byte(p[3:]))
	return int(d), k, err == nil
}
