package smt

import (
	"bytes"
	"fmt"
)

// Proof shows what a key holds in a tree with a given root: the hashes of
// the siblings along the key's path, root first, down to where the path
// ends, and how it ends. It ends in an empty subtree (no value: Leaf fields
// empty), in the key's own leaf (membership: Leaf fields empty, the value
// is the one being proven), or in another key's leaf (no value: LeafKey and
// LeafValue are that leaf's).
type Proof struct {
	Siblings  [][]byte `json:"siblings"`
	LeafKey   []byte   `json:"leaf_key,omitempty"`
	LeafValue []byte   `json:"leaf_value,omitempty"`
}

// Prove returns the proof of what k holds in the tree in r, and its value
// hash (nil: none).
func Prove(r Reader, k Hash) (Proof, *Hash, error) {
	p := Proof{Siblings: [][]byte{}}
	for d := 0; d <= Depth; d++ {
		n, err := get(r, d, k)
		if err != nil {
			return Proof{}, nil, err
		}
		switch {
		case n == nil:
			return p, nil, nil
		case n.leaf && n.a == k:
			v := n.b
			return p, &v, nil
		case n.leaf:
			p.LeafKey, p.LeafValue = bytes.Clone(n.a[:]), bytes.Clone(n.b[:])
			return p, nil, nil
		}
		s := n.child(1 - bit(k, d))
		p.Siblings = append(p.Siblings, s[:])
	}
	return Proof{}, nil, fmt.Errorf("map: inner node at the full depth: corrupt tree")
}

// VerifyProof checks that, in the map with root root (empty: Empty), key k
// holds value hash v (nil: holds no value).
func VerifyProof(root []byte, k Hash, v *Hash, p Proof) error {
	d := len(p.Siblings)
	if d > Depth {
		return fmt.Errorf("%w: %d siblings, at most %d", ErrInvalid, d, Depth)
	}
	var h Hash
	switch {
	case v != nil && (p.LeafKey != nil || p.LeafValue != nil):
		return fmt.Errorf("%w: a membership proof names no other leaf", ErrInvalid)
	case v != nil:
		h = (&node{leaf: true, a: k, b: *v}).hash()
	case p.LeafKey == nil && p.LeafValue == nil:
		h = Empty
	default:
		other, err := otherLeaf(k, d, p)
		if err != nil {
			return err
		}
		h = other.hash()
	}
	for j := d - 1; j >= 0; j-- {
		if len(p.Siblings[j]) != Size {
			return fmt.Errorf("%w: sibling %d has %d bytes", ErrInvalid, j, len(p.Siblings[j]))
		}
		var s Hash
		copy(s[:], p.Siblings[j])
		if bit(k, j) == 0 {
			h = hash3(tagInner, h, s)
		} else {
			h = hash3(tagInner, s, h)
		}
	}
	want := Empty
	if len(root) != 0 {
		if len(root) != Size {
			return fmt.Errorf("%w: root has %d bytes", ErrInvalid, len(root))
		}
		copy(want[:], root)
	}
	if h != want {
		return fmt.Errorf("%w: the path computes root %x, not %x", ErrInvalid, h, want)
	}
	return nil
}

// otherLeaf reads the leaf a non-membership proof ends in: another key's,
// on k's path down to depth d.
func otherLeaf(k Hash, d int, p Proof) (*node, error) {
	if len(p.LeafKey) != Size || len(p.LeafValue) != Size {
		return nil, fmt.Errorf("%w: the leaf's key and value must have %d bytes", ErrInvalid, Size)
	}
	n := &node{leaf: true}
	copy(n.a[:], p.LeafKey)
	copy(n.b[:], p.LeafValue)
	if n.a == k {
		return nil, fmt.Errorf("%w: the leaf is the key's own: it holds a value", ErrInvalid)
	}
	if firstDiff(k, n.a) < d {
		return nil, fmt.Errorf("%w: the leaf is not on the key's path", ErrInvalid)
	}
	return n, nil
}
