package tlog

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// A batch is a small Merkle tree (RFC 6962 hashing) over the items one
// transaction carries, such as a node's anchored access events. Its root is
// signed once for the whole batch; each item keeps its inclusion path, so a
// reader checks its own item against the signed root without seeing, or
// hashing, the others.

// BatchLeafHash is the leaf hash of one item's encoding.
func BatchLeafHash(item []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(item) }

// BatchRoot is the root of the tree over leaf hashes (nil for none).
func BatchRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return rfc6962.DefaultHasher.HashChildren(BatchRoot(leaves[:k]), BatchRoot(leaves[k:]))
}

// BatchPaths is the root and the inclusion path (RFC 6962 PATH) of every
// leaf, computed in one pass: each inner node is hashed once.
func BatchPaths(leaves [][]byte) (root []byte, paths [][][]byte) {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	case 1:
		return leaves[0], [][][]byte{nil}
	}
	k := split(len(leaves))
	left, lp := BatchPaths(leaves[:k])
	right, rp := BatchPaths(leaves[k:])
	for i := range lp {
		lp[i] = append(lp[i], right)
	}
	for i := range rp {
		rp[i] = append(rp[i], left)
	}
	return rfc6962.DefaultHasher.HashChildren(left, right), append(lp, rp...)
}

// VerifyBatchPath checks that leaf is item index of a batch of size with root.
func VerifyBatchPath(leaf []byte, index, size uint64, path [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, path, root); err != nil {
		return fmt.Errorf("batch inclusion: %w", err)
	}
	return nil
}

// split is the largest power of two below n (n > 1).
func split(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}
