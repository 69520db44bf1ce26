package smt

import (
	"bytes"
	"fmt"
	"sync"
)

// Cache keeps nodes that proofs read, by their hash. A node's hash names
// its content (its two children, or its key and value), so an entry never
// goes stale: whatever height a proof reads at and however the map changed
// since, the node a parent names by hash h is the one cached under h. A
// proof then reads only the root from the store and finds the nodes below
// it in the cache, as long as they are there; the top levels, which every
// proof walks, stay there.
//
// The cache is bounded: it keeps only nodes at depths up to maxCacheDepth
// (the levels many paths share; below them a path is nearly a key's own),
// in two generations of at most maxCacheNodes/2 entries each. When the
// newer one is full, the older is dropped and the newer takes its place;
// a node found in the older moves to the newer, so the nodes in use
// survive. It holds at most maxCacheNodes entries: about 20 MiB (a 65-byte
// node under a 32-byte hash, with the map's overhead). A tree has at most
// 2^(maxCacheDepth+1)-1 = maxCacheNodes/2 nodes at those depths, so a
// generation can hold all the current ones.
// A Cache is safe for concurrent use; the zero value is not, use NewCache.
type Cache struct {
	mu       sync.Mutex
	cur, old map[Hash]node
}

const (
	// maxCacheDepth is the deepest level whose nodes a Cache keeps.
	maxCacheDepth = 15
	// maxCacheNodes bounds the nodes a Cache holds, over both generations.
	maxCacheNodes = 1 << (maxCacheDepth + 2)
)

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{cur: make(map[Hash]node)} }

func (c *Cache) get(h Hash) (node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.cur[h]; ok {
		return n, true
	}
	n, ok := c.old[h]
	if ok {
		c.add(h, n) // still in use: keep it into the next generation
	}
	return n, ok
}

func (c *Cache) put(h Hash, n node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(h, n)
}

func (c *Cache) add(h Hash, n node) {
	if len(c.cur) >= maxCacheNodes/2 {
		c.old, c.cur = c.cur, make(map[Hash]node, len(c.cur))
	}
	c.cur[h] = n
}

// Len is the number of nodes the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
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
		if n, ok := c.get(h); ok {
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
		c.put(h, *n)
	}
	return *n, nil
}

// keep puts the node b that an Apply wrote at position p into c (nil: no
// cache), if p is at a cached depth.
func (c *Cache) keep(p string, b []byte) {
	if c == nil || posDepth(p) > maxCacheDepth {
		return
	}
	n, err := decode(p, b)
	if err == nil {
		c.put(n.hash(), *n)
	}
}

// posDepth is the depth a position names (its first three hex digits).
func posDepth(p string) int {
	d := 0
	for _, ch := range p[:3] {
		d <<= 4
		if ch >= 'a' {
			d += int(ch-'a') + 10
		} else {
			d += int(ch - '0')
		}
	}
	return d
}
