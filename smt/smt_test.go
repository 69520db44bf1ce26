package smt

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sort"
	"testing"
)

// memNodes is a Nodes in a map.
type memNodes map[string][]byte

func (m memNodes) Get(pos string) ([]byte, error) { return m[pos], nil }
func (m memNodes) Set(pos string, n []byte) error { m[pos] = n; return nil }
func (m memNodes) Delete(pos string) error        { delete(m, pos); return nil }
func keyN(i int) Hash                             { return Key(string(rune('a'+i%26)) + string(rune(i))) }
func valN(i, gen int) Hash                        { return sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(gen)}) }

// refRoot computes the root of a map from scratch, by the definition in the
// package comment: the reference the incremental tree must match.
func refRoot(m map[Hash]Hash) Hash {
	keys := make([]Hash, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return string(keys[i][:]) < string(keys[j][:]) })
	var sub func(keys []Hash, d int) Hash
	sub = func(keys []Hash, d int) Hash {
		switch len(keys) {
		case 0:
			return Empty
		case 1:
			return (&node{leaf: true, a: keys[0], b: m[keys[0]]}).hash()
		}
		i := sort.Search(len(keys), func(i int) bool { return bit(keys[i], d) == 1 })
		return hash3(tagInner, sub(keys[:i], d+1), sub(keys[i:], d+1))
	}
	return sub(keys, 0)
}

func checkAll(t *testing.T, nodes memNodes, model map[Hash]Hash, probes int) {
	t.Helper()
	tr := New(nodes)
	root, err := tr.Root()
	if err != nil {
		t.Fatal(err)
	}
	if want := refRoot(model); root != want {
		t.Fatalf("root %x, reference %x", root, want)
	}
	var r []byte
	if root != Empty {
		r = root[:]
	}
	for k, v := range model {
		p, got, err := Prove(nodes, k)
		if err != nil || got == nil || *got != v {
			t.Fatalf("prove %x: value %v, err %v", k[:4], got, err)
		}
		if err := VerifyProof(r, k, &v, p); err != nil {
			t.Fatalf("membership of %x: %v", k[:4], err)
		}
		if err := VerifyProof(r, k, nil, p); err == nil {
			t.Fatalf("membership proof of %x verifies as non-membership", k[:4])
		}
	}
	for i := range probes {
		k := Key("absent" + string(rune(i)))
		if _, ok := model[k]; ok {
			continue
		}
		p, got, err := Prove(nodes, k)
		if err != nil || got != nil {
			t.Fatalf("prove absent: value %v, err %v", got, err)
		}
		if err := VerifyProof(r, k, nil, p); err != nil {
			t.Fatalf("non-membership: %v", err)
		}
		v := valN(i, 0)
		if err := VerifyProof(r, k, &v, p); err == nil {
			t.Fatal("non-membership proof verifies as membership")
		}
	}
}

func TestRandomOperationsMatchAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nodes, model := memNodes{}, map[Hash]Hash{}
	tr := New(nodes)
	for step := range 3000 {
		i := rng.IntN(400)
		k := keyN(i)
		if rng.IntN(3) == 0 {
			if err := tr.Delete(k); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		} else {
			v := valN(i, step)
			if err := tr.Update(k, v); err != nil {
				t.Fatal(err)
			}
			model[k] = v
		}
		if step%250 == 0 {
			checkAll(t, nodes, model, 50)
		}
	}
	checkAll(t, nodes, model, 200)
	for k := range model { // delete everything: no node is left behind
		if err := tr.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	if len(nodes) != 0 {
		t.Fatalf("%d nodes left in an empty map", len(nodes))
	}
}

// TestKeysSharingLongPrefixes drives the deep splits and collapses: keys that
// differ only in their last bits.
func TestKeysSharingLongPrefixes(t *testing.T) {
	nodes, model := memNodes{}, map[Hash]Hash{}
	tr := New(nodes)
	base := Key("base")
	for i := range 8 {
		k := base
		k[Size-1] ^= byte(i)
		v := valN(i, 1)
		if err := tr.Update(k, v); err != nil {
			t.Fatal(err)
		}
		model[k] = v
	}
	checkAll(t, nodes, model, 10)
	for _, i := range []int{1, 3, 0, 7} {
		k := base
		k[Size-1] ^= byte(i)
		if err := tr.Delete(k); err != nil {
			t.Fatal(err)
		}
		delete(model, k)
		checkAll(t, nodes, model, 10)
	}
}

func TestRootIsIndependentOfOrder(t *testing.T) {
	a, b := memNodes{}, memNodes{}
	for i := range 200 {
		if err := New(a).Update(keyN(i), valN(i, 0)); err != nil {
			t.Fatal(err)
		}
		if err := New(b).Update(keyN(199-i), valN(199-i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	ra, _ := New(a).Root()
	rb, _ := New(b).Root()
	if ra != rb || len(a) != len(b) {
		t.Fatalf("roots %x / %x, nodes %d / %d", ra, rb, len(a), len(b))
	}
}

// TestProofFailsAfterAnyByteChanges flips every bit of every byte of a
// membership and a non-membership proof, of the value and root, and of the
// key of a membership proof.
func TestProofFailsAfterAnyByteChanges(t *testing.T) {
	nodes := memNodes{}
	for i := range 100 {
		if err := New(nodes).Update(keyN(i), valN(i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	root, _ := New(nodes).Root()
	cases := []struct {
		name string
		k    Hash
	}{{"member", keyN(7)}, {"absent", Key("nobody")}, {"absent2", Key("nobody2")}, {"absent3", Key("nobody3")}}
	sawOtherLeaf := false
	for _, c := range cases {
		p, v, err := Prove(nodes, c.k)
		if err != nil {
			t.Fatal(err)
		}
		sawOtherLeaf = sawOtherLeaf || p.LeafKey != nil
		if err := VerifyProof(root[:], c.k, v, p); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		fields := append([][]byte{root[:], c.k[:], p.LeafKey, p.LeafValue}, p.Siblings...)
		if v != nil {
			fields = append(fields, v[:])
		}
		for fi, f := range fields {
			if fi == 1 && v == nil {
				// a non-membership proof is also one for every key on the same
				// path: those are absent too, a true statement
				continue
			}
			for i := range f {
				for b := range 8 {
					f[i] ^= 1 << b
					var vv *Hash
					if v != nil {
						x := *v
						vv = &x
					}
					k := c.k
					if fi == 1 {
						copy(k[:], f)
					}
					if err := VerifyProof(root[:], k, vv, p); !errors.Is(err, ErrInvalid) {
						t.Fatalf("%s: field %d byte %d bit %d flipped: %v", c.name, fi, i, b, err)
					}
					f[i] ^= 1 << b
				}
			}
		}
		if len(p.Siblings) > 0 { // a dropped or added sibling
			q := p
			q.Siblings = p.Siblings[1:]
			if err := VerifyProof(root[:], c.k, v, q); err == nil {
				t.Fatalf("%s: a dropped sibling verifies", c.name)
			}
		}
		q := p
		q.Siblings = append([][]byte{make([]byte, Size)}, p.Siblings...)
		if err := VerifyProof(root[:], c.k, v, q); err == nil {
			t.Fatalf("%s: an added sibling verifies", c.name)
		}
	}
	if !sawOtherLeaf {
		t.Log("no non-membership proof ended in another leaf")
	}
}

func TestEmptyMap(t *testing.T) {
	nodes := memNodes{}
	r, err := New(nodes).Root()
	if err != nil || r != Empty {
		t.Fatalf("root %x %v", r, err)
	}
	p, v, err := Prove(nodes, Key("x"))
	if err != nil || v != nil {
		t.Fatal(v, err)
	}
	if err := VerifyProof(nil, Key("x"), nil, p); err != nil {
		t.Fatal(err)
	}
}
