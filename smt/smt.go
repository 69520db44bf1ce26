// Package smt is a sparse Merkle tree: an authenticated map from 256-bit
// keys to 256-bit value hashes whose root commits to the whole map, with
// proofs that a key holds a value (membership) or holds none
// (non-membership), checkable by VerifyProof alone.
//
// The tree is the full binary tree of depth 256 over the key bits (bit 0 is
// the most significant bit of the key's first byte), in its compact form: a
// subtree holding a single leaf is that leaf, so a leaf sits at the shallowest
// depth where no other key shares its path, and a path holds about log2(n)
// nodes. Hashes are domain-separated so a leaf is never read as an inner
// node:
//
//	empty subtree  = 32 zero bytes (the default hash of every empty subtree, at any depth)
//	leaf(k, v)     = SHA-256(0x00 ‖ k ‖ v)
//	inner(l, r)    = SHA-256(0x01 ‖ l ‖ r)
//
// The form is canonical (a set of keys and values has one tree and one
// root, whatever the order of updates), so replicas that apply the same
// updates agree on the root.
//
// Nodes live in a Nodes store under a position string (depth and path
// prefix), so a tree can sit in any key-value store, such as a block of
// state writes; Prove reads only, so it also works on a view of the store
// at a past height. The package does no I/O of its own.
package smt

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Size is the size of keys, value hashes and node hashes.
const Size = sha256.Size

// Depth is the depth of the full tree: one level per key bit.
const Depth = 8 * Size

// Hash is a key, a value hash or a node hash.
type Hash = [Size]byte

// Empty is the hash of an empty subtree (and the root of an empty map).
var Empty Hash

// Key is the map key of a state key: its SHA-256.
func Key(stateKey string) Hash { return sha256.Sum256([]byte(stateKey)) }

// Value is the value hash of a stored value: its SHA-256.
func Value(stored []byte) Hash { return sha256.Sum256(stored) }

// Reader reads nodes: Get returns nil (and no error) for a position that
// holds none.
type Reader interface {
	Get(pos string) ([]byte, error)
}

// Nodes stores a tree's nodes.
type Nodes interface {
	Reader
	Set(pos string, node []byte) error
	Delete(pos string) error
}

// ErrInvalid is wrapped by every proof that does not verify.
var ErrInvalid = errors.New("map proof does not verify")

const (
	tagLeaf  = 0
	tagInner = 1
	nodeSize = 1 + 2*Size
)

// node is a stored node: a leaf (key, value hash) or an inner node (the
// hashes of its two children).
type node struct {
	leaf bool
	a, b Hash // leaf: key, value hash; inner: left, right
}

func (n *node) hash() Hash {
	tag := byte(tagInner)
	if n.leaf {
		tag = tagLeaf
	}
	return hash3(tag, n.a, n.b)
}

func hash3(tag byte, a, b Hash) Hash {
	h := sha256.New()
	h.Write([]byte{tag})
	h.Write(a[:])
	h.Write(b[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

func (n *node) encode() []byte {
	out := make([]byte, 0, nodeSize)
	if n.leaf {
		out = append(out, tagLeaf)
	} else {
		out = append(out, tagInner)
	}
	out = append(out, n.a[:]...)
	return append(out, n.b[:]...)
}

func decode(pos string, b []byte) (*node, error) {
	if len(b) != nodeSize || b[0] > tagInner {
		return nil, fmt.Errorf("map node %s: malformed (%d bytes)", pos, len(b))
	}
	n := &node{leaf: b[0] == tagLeaf}
	copy(n.a[:], b[1:1+Size])
	copy(n.b[:], b[1+Size:])
	return n, nil
}

// child returns the hash of the child on side bit of an inner node.
func (n *node) child(bit byte) Hash {
	if bit == 0 {
		return n.a
	}
	return n.b
}

func (n *node) setChild(bit byte, h Hash) {
	if bit == 0 {
		n.a = h
	} else {
		n.b = h
	}
}

// bit returns bit i of k, 0 or 1.
func bit(k Hash, i int) byte { return k[i/8] >> (7 - i%8) & 1 }

// flip returns k with bit i inverted.
func flip(k Hash, i int) Hash {
	k[i/8] ^= 1 << (7 - i%8)
	return k
}

// pos names the node at depth d on k's path: the depth as three lowercase
// hex digits, then the first d bits of k in hex (the last byte's unused
// bits zero). Positions are stored keys, so these bytes never change; the
// name is built by hand, not by fmt, as every node read and write makes one.
func pos(d int, k Hash) string {
	const digits = "0123456789abcdef"
	n := (d + 7) / 8
	out := make([]byte, 3+2*n)
	out[0], out[1], out[2] = digits[d>>8&0xf], digits[d>>4&0xf], digits[d&0xf]
	for i, c := range k[:n] {
		if i == n-1 && d%8 != 0 {
			c &= 0xff << (8 - d%8)
		}
		out[3+2*i], out[4+2*i] = digits[c>>4], digits[c&0xf]
	}
	return string(out)
}

// firstDiff returns the first bit at which a and b differ (a != b).
func firstDiff(a, b Hash) int {
	for i := range Size {
		if x := a[i] ^ b[i]; x != 0 {
			j := 0
			for x&0x80 == 0 {
				x <<= 1
				j++
			}
			return 8*i + j
		}
	}
	return Depth
}

// Tree is a sparse Merkle tree over a node store.
type Tree struct{ nodes Nodes }

// New returns the tree whose nodes are in n (an empty n: an empty map).
func New(n Nodes) *Tree { return &Tree{nodes: n} }

func get(r Reader, d int, k Hash) (*node, error) {
	p := pos(d, k)
	b, err := r.Get(p)
	if err != nil {
		return nil, fmt.Errorf("map node %s: %w", p, err)
	}
	if b == nil {
		return nil, nil
	}
	return decode(p, b)
}

func (t *Tree) put(d int, k Hash, n *node) error { return t.nodes.Set(pos(d, k), n.encode()) }

// RootOf returns the root of the tree in r (Empty for an empty map).
func RootOf(r Reader) (Hash, error) {
	n, err := get(r, 0, Empty)
	if err != nil || n == nil {
		return Empty, err
	}
	return n.hash(), nil
}

// Root returns the tree's root (Empty for an empty map).
func (t *Tree) Root() (Hash, error) { return RootOf(t.nodes) }

// descend walks k's path from the root to the first node that is not an
// inner node: it returns that depth and node (nil: an empty subtree).
func descend(r Reader, k Hash) (int, *node, error) {
	for d := 0; d <= Depth; d++ {
		n, err := get(r, d, k)
		if err != nil || n == nil || n.leaf {
			return d, n, err
		}
	}
	return 0, nil, errors.New("map: inner node at the full depth: corrupt tree")
}

// descend is descend over t's nodes; an Apply's buffer (batch.go) finds
// the nodes below the root in its cache.
func (t *Tree) descend(k Hash) (int, *node, error) {
	if b, ok := t.nodes.(*bufferedNodes); ok && b.cache != nil {
		return b.descend(k)
	}
	return descend(t.nodes, k)
}

// Update sets key k to value hash v.
func (t *Tree) Update(k, v Hash) error {
	d, n, err := t.descend(k)
	if err != nil {
		return err
	}
	leaf := &node{leaf: true, a: k, b: v}
	if n == nil || n.a == k {
		if err := t.put(d, k, leaf); err != nil {
			return err
		}
		return t.rehash(k, d, leaf.hash())
	}
	// Another leaf holds k's path down to d: both move to just below the
	// first bit where their keys differ, under inner nodes with one empty side.
	other := *n
	i := firstDiff(k, other.a)
	if err := t.put(i+1, other.a, &other); err != nil {
		return err
	}
	if err := t.put(i+1, k, leaf); err != nil {
		return err
	}
	in := &node{}
	in.setChild(bit(k, i), leaf.hash())
	in.setChild(1-bit(k, i), other.hash())
	for j := i; ; j-- {
		if err := t.put(j, k, in); err != nil {
			return err
		}
		if j == d {
			break
		}
		h := in.hash()
		in = &node{}
		in.setChild(bit(k, j-1), h)
	}
	return t.rehash(k, d, in.hash())
}

// rehash sets the hash of the node at depth d on k's path to h in each of
// its ancestors.
func (t *Tree) rehash(k Hash, d int, h Hash) error {
	for j := d - 1; j >= 0; j-- {
		p, err := t.inner(j, k)
		if err != nil {
			return err
		}
		p.setChild(bit(k, j), h)
		if err := t.put(j, k, p); err != nil {
			return err
		}
		h = p.hash()
	}
	return nil
}

func (t *Tree) inner(d int, k Hash) (*node, error) {
	n, err := get(t.nodes, d, k)
	if err == nil && (n == nil || n.leaf) {
		err = fmt.Errorf("map node %s: want an inner node: corrupt tree", pos(d, k))
	}
	return n, err
}

// Delete removes key k (nothing if k holds no value). A leaf left alone
// under an inner node moves up in its place, keeping the form canonical.
func (t *Tree) Delete(k Hash) error {
	d, n, err := t.descend(k)
	if err != nil || n == nil || n.a != k {
		return err
	}
	if err := t.nodes.Delete(pos(d, k)); err != nil {
		return err
	}
	var carry *node // a leaf moving up
	h := Empty
	for j := d - 1; j >= 0; j-- {
		p, err := t.inner(j, k)
		if err != nil {
			return err
		}
		side := bit(k, j)
		if carry != nil || h == Empty {
			lone, err := t.lone(j, k, p, h, carry)
			if err != nil {
				return err
			}
			if lone != nil { // p is left with one leaf: the leaf takes its place
				if err := t.nodes.Delete(pos(j, k)); err != nil {
					return err
				}
				carry, h = lone, lone.hash()
				continue
			}
			if carry != nil {
				if err := t.put(j+1, k, carry); err != nil {
					return err
				}
				carry = nil
			}
		}
		p.setChild(side, h)
		if err := t.put(j, k, p); err != nil {
			return err
		}
		h = p.hash()
	}
	if carry != nil {
		return t.put(0, k, carry)
	}
	return nil
}

// lone returns the only leaf left under inner node p at depth j once its
// child on k's side has hash h (carry: a leaf moving up), or nil if p keeps
// two subtrees or a subtree that is not a leaf. A lone sibling leaf is
// removed from its place.
func (t *Tree) lone(j int, k Hash, p *node, h Hash, carry *node) (*node, error) {
	sib := p.child(1 - bit(k, j))
	if h != Empty {
		if sib == Empty {
			return carry, nil
		}
		return nil, nil
	}
	sk := flip(k, j)
	s, err := get(t.nodes, j+1, sk)
	if err != nil || s == nil || !s.leaf {
		return nil, err
	}
	return s, t.nodes.Delete(pos(j+1, sk))
}
