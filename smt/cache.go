package smt

import (
	"bytes"
	"fmt"
	"sync"
)

// Cache keeps the nodes of a tree's top levels, the levels every path
// passes through, for proofs (ProveCached) and batches of changes (Apply).
// It has one slot per position at depths 0 to maxCacheDepth, holding the
// last node read or written there with its hash. A lookup names the
// position and the hash the node's parent gives it, so it finds the node
// only if it is that one: a node's hash names its content, so whatever
// height a reader reads at and however the map changed since, a slot
// never answers with another node. A newer node at a position replaces the
// older one, so the cache holds the current top levels without ever
// evicting them, and its size is bounded: at most 2^(maxCacheDepth+1)-1
// slots of 98 bytes, 25 MiB, each level's made when a node is first kept
// there (a small tree fills its first levels only). A Cache is safe for
// concurrent use.
type Cache struct {
	mu sync.Mutex
	// levels holds each level's slots in path order, made on the first
	// write at that level.
	levels [maxCacheDepth + 1][]cacheSlot
}

type cacheSlot struct {
	hash Hash
	n    node
	full bool
}

// maxCacheDepth is the deepest level a Cache keeps.
const maxCacheDepth = 17

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{} }

// prefix is the index, in its level, of the position at depth d on k's path
// (d <= maxCacheDepth): the path's first d bits.
func prefix(d int, k Hash) int {
	return int((uint32(k[0])<<16 | uint32(k[1])<<8 | uint32(k[2])) >> (24 - d))
}

func (c *Cache) get(d int, k, h Hash) (node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.levels[d] == nil {
		return node{}, false
	}
	s := &c.levels[d][prefix(d, k)]
	return s.n, s.full && s.hash == h
}

func (c *Cache) put(d int, k, h Hash, n node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.levels[d] == nil {
		c.levels[d] = make([]cacheSlot, 1<<d)
	}
	c.levels[d][prefix(d, k)] = cacheSlot{hash: h, n: n, full: true}
}

// Len is the number of nodes the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, level := range c.levels {
		for _, s := range level {
			if s.full {
				n++
			}
		}
	}
	return n
}

// ProveCached is Prove with the nodes below the root looked up in c first
// (a nil c: Prove). Nodes it reads from r go into c.
func ProveCached(r Reader, c *Cache, k Hash) (Proof, *Hash, error) {
	if c == nil {
		return Prove(r, k)
	}
	p := Proof{Siblings: [][]byte{}}
	root, err := get(r, 0, k)
	if err != nil || root == nil {
		return p, nil, err
	}
	n := *root
	for d := 0; d <= Depth; d++ {
		switch {
		case n.leaf && n.a == k:
			v := n.b
			return p, &v, nil
		case n.leaf:
			p.LeafKey, p.LeafValue = bytes.Clone(n.a[:]), bytes.Clone(n.b[:])
			return p, nil, nil
		}
		b := bit(k, d)
		s := n.child(1 - b)
		p.Siblings = append(p.Siblings, s[:])
		h := n.child(b)
		if h == Empty {
			return p, nil, nil
		}
		if n, err = cachedChild(r, c, d+1, k, h); err != nil {
			return Proof{}, nil, err
		}
	}
	return Proof{}, nil, fmt.Errorf("map: inner node at the full depth: corrupt tree")
}

// cachedChild returns the node with hash h at depth d on k's path: from c,
// or read from r and, if d is a cached depth, checked against h and kept
// in c.
func cachedChild(r Reader, c *Cache, d int, k, h Hash) (node, error) {
	cached := c != nil && d <= maxCacheDepth
	if cached {
		if n, ok := c.get(d, k, h); ok {
			return n, nil
		}
	}
	n, err := get(r, d, k)
	switch {
	case err != nil:
		return node{}, err
	case n == nil || cached && n.hash() != h:
		return node{}, fmt.Errorf("map node %s: not the node its parent names: corrupt tree", pos(d, k))
	}
	if cached {
		c.put(d, k, h, *n)
	}
	return *n, nil
}

// keep puts the node b that an Apply wrote at position p into c (nil: no
// cache), if p is at a cached depth.
func (c *Cache) keep(p string, b []byte) {
	if c == nil {
		return
	}
	d, k, ok := parsePos(p)
	if !ok || d > maxCacheDepth {
		return
	}
	if n, err := decode(p, b); err == nil {
		c.put(d, k, n.hash(), *n)
	}
}
