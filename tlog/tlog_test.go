package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type memKV map[string][]byte

var errMissing = errors.New("missing")

func (m memKV) Get(k string) ([]byte, error) {
	v, ok := m[k]
	if !ok {
		return nil, errMissing
	}
	return v, nil
}

func (m memKV) Set(k string, v []byte) error { m[k] = bytes.Clone(v); return nil }

func newLog() Log { return Log{IsNotFound: func(err error) bool { return errors.Is(err, errMissing) }} }

func leafN(i int) Leaf {
	return Leaf{Kind: KindRecord, Key: fmt.Sprintf("rec-%d/1", i), Height: int64(i/3 + 1), ContentHash: ContentHash([]byte(fmt.Sprint(i)))}
}

func TestInclusionAndConsistencyAtEverySize(t *testing.T) {
	kv, l := memKV{}, newLog()
	var roots [][]byte
	for i := range 40 {
		idx, err := l.Append(kv, leafN(i))
		if err != nil || idx != uint64(i) {
			t.Fatalf("append %d: %d %v", i, idx, err)
		}
		size, root, err := l.Head(kv)
		if err != nil || size != uint64(i+1) {
			t.Fatalf("head: %d %v", size, err)
		}
		roots = append(roots, root)
	}
	for size := uint64(1); size <= 40; size++ {
		for i := uint64(0); i < size; i++ {
			p, err := l.InclusionProof(kv, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leafN(int(i)), i, size, p, roots[size-1]); err != nil {
				t.Fatalf("leaf %d in size %d: %v", i, size, err)
			}
			if VerifyInclusion(leafN(int(i)+1), i, size, p, roots[size-1]) == nil {
				t.Fatalf("a different leaf verified at %d/%d", i, size)
			}
		}
		for s1 := uint64(1); s1 <= size; s1++ {
			p, err := l.ConsistencyProof(kv, s1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(s1, size, p, roots[s1-1], roots[size-1]); err != nil {
				t.Fatalf("consistency %d->%d: %v", s1, size, err)
			}
			if s1 < size && VerifyConsistency(s1, size, p, roots[s1-1], roots[s1-1]) == nil {
				t.Fatalf("consistency %d->%d verified against a wrong root", s1, size)
			}
		}
	}
	idx, leaf, err := l.Find(kv, KindRecord, "rec-17/1")
	if err != nil || idx != 17 || leaf.Height != leafN(17).Height {
		t.Fatalf("find: %d %+v %v", idx, leaf, err)
	}
	if _, _, err := l.Find(kv, KindRecord, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("find missing: %v", err)
	}
}
