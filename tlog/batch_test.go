package tlog

import (
	"fmt"
	"testing"
)

// TestBatchPaths: every item of batches of many sizes verifies against the
// root, and against no other position or root.
func TestBatchPaths(t *testing.T) {
	for size := 1; size <= 33; size++ {
		var leaves [][]byte
		for i := range size {
			leaves = append(leaves, BatchLeafHash(fmt.Appendf(nil, "item %d", i)))
		}
		root, paths := BatchPaths(leaves)
		if string(root) != string(BatchRoot(leaves)) {
			t.Fatalf("size %d: BatchPaths and BatchRoot disagree on the root", size)
		}
		for i := range leaves {
			path := paths[i]
			if err := VerifyBatchPath(leaves[i], uint64(i), uint64(size), path, root); err != nil {
				t.Fatalf("size %d item %d: %v", size, i, err)
			}
			if size > 1 {
				if VerifyBatchPath(leaves[i], uint64((i+1)%size), uint64(size), path, root) == nil {
					t.Fatalf("size %d item %d verifies at another index", size, i)
				}
			}
			other := BatchLeafHash([]byte("another"))
			if VerifyBatchPath(other, uint64(i), uint64(size), path, root) == nil {
				t.Fatalf("size %d: another item verifies at %d", size, i)
			}
		}
	}
}
