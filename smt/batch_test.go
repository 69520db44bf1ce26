package smt

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// posSprintf is pos as it was first written, with fmt: the stored keys of
// existing chains, which pos must keep.
func posSprintf(d int, k Hash) string {
	n := (d + 7) / 8
	p := make([]byte, n)
	copy(p, k[:n])
	if d%8 != 0 {
		p[n-1] &= 0xff << (8 - d%8)
	}
	return fmt.Sprintf("%03x%x", d, p)
}

func TestPosKeepsStoredKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var k Hash
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		for d := 0; d <= Depth; d++ {
			if got, want := pos(d, k), posSprintf(d, k); got != want {
				t.Fatalf("pos(%d) = %q, want %q", d, got, want)
			}
			if gd, gk, ok := parsePos(pos(d, k)); !ok || gd != d || pos(gd, gk) != pos(d, k) {
				t.Fatalf("parsePos(pos(%d)) = %d, %x, %v", d, gd, gk, ok)
			}
		}
	}
}

// countingNodes is a Nodes in a map that counts the reads.
type countingNodes struct {
	memNodes
	reads int
}

func (c *countingNodes) Get(pos string) ([]byte, error) { c.reads++; return c.memNodes.Get(pos) }

// TestApplyMatchesOneByOne: blocks of changes (updates, deletes, keys set
// twice) applied by Apply, with and without a cache shared across blocks,
// leave the same nodes and root as Update and Delete one by one, and the
// reference root of the model; the cache saves most reads of the store.
func TestApplyMatchesOneByOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	single, batched, cached := memNodes{}, &countingNodes{memNodes: memNodes{}}, &countingNodes{memNodes: memNodes{}}
	cache := NewCache()
	model := map[Hash]Hash{}
	for block := range 30 {
		changes := make([]Change, 0, 200)
		for range 1 + rng.IntN(200) {
			k := keyN(rng.IntN(1500))
			if rng.IntN(4) == 0 {
				changes = append(changes, Change{Key: k})
				delete(model, k)
				continue
			}
			v := valN(rng.IntN(1<<16), block)
			changes = append(changes, Change{Key: k, Value: &v})
			model[k] = v
		}
		tr := New(single)
		for _, c := range changes {
			var err error
			if c.Value == nil {
				err = tr.Delete(c.Key)
			} else {
				err = tr.Update(c.Key, *c.Value)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := New(batched).Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		if err := New(cached).Apply(changes, cache); err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(single, batched.memNodes, bytesEqual) || !maps.EqualFunc(single, cached.memNodes, bytesEqual) {
			t.Fatalf("block %d: the nodes differ: %d one by one, %d batched, %d batched with a cache", block, len(single), len(batched.memNodes), len(cached.memNodes))
		}
		checkAll(t, batched.memNodes, model, 20)
	}
	if cache.Len() == 0 || cached.reads >= batched.reads/2 {
		t.Fatalf("the cache holds %d nodes; %d reads of the store with it, %d without", cache.Len(), cached.reads, batched.reads)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestApplyReadsSharedNodesOnce: a batch reads each node of the store at
// most once, however many of its keys' paths pass through it.
func TestApplyReadsSharedNodesOnce(t *testing.T) {
	nodes := &countingNodes{memNodes: memNodes{}}
	var changes []Change
	for i := range 1000 {
		v := valN(i, 0)
		changes = append(changes, Change{Key: keyN(i), Value: &v})
	}
	if err := New(nodes).Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	for i := range changes {
		v := valN(i, 1)
		changes[i].Value = &v
	}
	nodes.reads = 0
	if err := New(nodes).Apply(changes, nil); err != nil {
		t.Fatal(err)
	}
	if nodes.reads > len(nodes.memNodes) {
		t.Fatalf("%d reads of a store of %d nodes", nodes.reads, len(nodes.memNodes))
	}
}

// TestProveCachedMatchesProve: proofs through a cache equal those read
// from the store, at every state the cache saw, members and non-members.
func TestProveCachedMatchesProve(t *testing.T) {
	cache := NewCache()
	nodes := memNodes{}
	rng := rand.New(rand.NewPCG(5, 6))
	for gen := range 5 {
		var changes []Change
		for range 300 {
			v := valN(rng.IntN(1<<16), gen)
			changes = append(changes, Change{Key: keyN(rng.IntN(600)), Value: &v})
		}
		if err := New(nodes).Apply(changes, nil); err != nil {
			t.Fatal(err)
		}
		for i := range 700 {
			want, wv, err := Prove(nodes, keyN(i))
			if err != nil {
				t.Fatal(err)
			}
			got, gv, err := ProveCached(nodes, cache, keyN(i))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got, gv == nil) != fmt.Sprint(want, wv == nil) || gv != nil && *gv != *wv {
				t.Fatalf("gen %d key %d: cached proof %v, want %v", gen, i, got, want)
			}
		}
	}
}

// TestCacheAnswersOnlyTheNamedNode: a slot answers only for the hash it
// holds, and a newer node at the position replaces the older.
func TestCacheAnswersOnlyTheNamedNode(t *testing.T) {
	c := NewCache()
	k := Key("k")
	a, b := node{leaf: true, a: k}, node{leaf: true, a: k, b: k}
	c.put(maxCacheDepth, k, a.hash(), a)
	if n, ok := c.get(maxCacheDepth, k, a.hash()); !ok || n != a {
		t.Fatal("the node put is not found")
	}
	if _, ok := c.get(maxCacheDepth, k, b.hash()); ok {
		t.Fatal("a lookup of another hash found the node")
	}
	if _, ok := c.get(maxCacheDepth-1, k, a.hash()); ok {
		t.Fatal("a lookup at another depth found the node")
	}
	c.put(maxCacheDepth, flip(k, maxCacheDepth+1), b.hash(), b) // same position: the bit is past the depth
	if _, ok := c.get(maxCacheDepth, k, a.hash()); ok || c.Len() != 1 {
		t.Fatalf("the older node is still cached (%d nodes)", c.Len())
	}
	if n, ok := c.get(maxCacheDepth, k, b.hash()); !ok || n != b {
		t.Fatal("the newer node is not found")
	}
}
