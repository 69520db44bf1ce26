package store

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/carechain/carechain"
)

func openQueue(t testing.TB, dir string) *Queue {
	t.Helper()
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func appendQueue(t testing.TB, q *Queue, items ...string) []uint64 {
	t.Helper()
	data := make([][]byte, len(items))
	for i, s := range items {
		data[i] = []byte(s)
	}
	seqs, err := q.Append(data...)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// queueContents is the queue as "seq:data" strings, oldest first.
func queueContents(t testing.TB, q *Queue) []string {
	t.Helper()
	items, err := q.Items(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%d:%s", it.Seq, it.Data))
	}
	if len(out) != q.Len() {
		t.Errorf("Len %d, but %d items", q.Len(), len(out))
	}
	return out
}

func TestQueueKeepsFIFOOrder(t *testing.T) {
	q := openQueue(t, t.TempDir())
	if seqs := appendQueue(t, q, "a", "b", "c"); !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Fatalf("seqs %v, want [1 2 3]", seqs)
	}
	appendQueue(t, q, "d", "e")
	cases := []struct {
		name   string
		remove []uint64
		max    int
		want   []string
	}{
		{"all, oldest first", nil, 10, []string{"1:a", "2:b", "3:c", "4:d", "5:e"}},
		{"max cuts at the head", nil, 2, []string{"1:a", "2:b"}},
		{"max zero", nil, 0, nil},
		{"remove from the middle", []uint64{3}, 10, []string{"1:a", "2:b", "4:d", "5:e"}},
		{"remove the head, repeated and missing numbers ignored", []uint64{1, 1, 3, 99}, 2, []string{"2:b", "4:d"}},
		{"remove the rest", []uint64{5, 2, 4}, 10, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := q.Remove(c.remove...); err != nil {
				t.Fatal(err)
			}
			items, err := q.Items(c.max)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, fmt.Sprintf("%d:%s", it.Seq, it.Data))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("items %q, want %q", got, c.want)
			}
		})
	}
	if q.Len() != 0 {
		t.Errorf("Len %d after removing everything", q.Len())
	}
}

func TestQueueSurvivesReopen(t *testing.T) {
	cases := []struct {
		name   string
		remove []uint64 // after appending 1:a 2:b 3:c
		want   []string
	}{
		{"nothing removed", nil, []string{"1:a", "2:b", "3:c", "4:d"}},
		{"head removed", []uint64{1}, []string{"2:b", "3:c", "4:d"}},
		{"tail removed", []uint64{3}, []string{"1:a", "2:b", "4:d"}},
		{"emptied", []uint64{1, 2, 3}, []string{"4:d"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQueue(t, dir)
			appendQueue(t, q, "a", "b", "c")
			if err := q.Remove(c.remove...); err != nil {
				t.Fatal(err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = openQueue(t, dir)
			if seqs := appendQueue(t, q, "d"); seqs[0] != 4 {
				t.Errorf("seq after reopen %d, want 4", seqs[0])
			}
			if got := queueContents(t, q); !slices.Equal(got, c.want) {
				t.Errorf("items %q, want %q", got, c.want)
			}
		})
	}
}

func TestQueueConcurrentAppendsLandOnce(t *testing.T) {
	q := openQueue(t, t.TempDir())
	const writers, perWriter = 50, 4
	var wg sync.WaitGroup
	seqs := make([][]uint64, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			var items [][]byte
			for i := range perWriter {
				items = append(items, fmt.Appendf(nil, "w%d-%d", w, i))
			}
			seqs[w], errs[w] = q.Append(items...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	items, err := q.Items(writers * perWriter * 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != writers*perWriter || q.Len() != len(items) {
		t.Fatalf("%d items, Len %d; want %d", len(items), q.Len(), writers*perWriter)
	}
	bySeq := map[uint64]string{}
	for _, it := range items {
		bySeq[it.Seq] = string(it.Data)
	}
	for w := range writers {
		for i, seq := range seqs[w] {
			if want := fmt.Sprintf("w%d-%d", w, i); bySeq[seq] != want {
				t.Errorf("seq %d holds %q, want %q", seq, bySeq[seq], want)
			}
			delete(bySeq, seq)
		}
	}
	if len(bySeq) != 0 {
		t.Errorf("items no Append returned: %v", bySeq)
	}
	if !slices.IsSortedFunc(items, func(a, b QueueItem) int { return cmp.Compare(a.Seq, b.Seq) }) {
		t.Error("items not in sequence order")
	}
}

func TestQueueRefusesOversizedItem(t *testing.T) {
	q := openQueue(t, t.TempDir())
	appendQueue(t, q, "a")
	cases := []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", MaxQueueItemBytes, true},
		{"one byte over", MaxQueueItemBytes + 1, false},
		{"far over", 10 * MaxQueueItemBytes, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := queueContents(t, q)
			big := bytes.Repeat([]byte{'x'}, c.size)
			seqs, err := q.Append([]byte("small"), big)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if err := q.Remove(seqs...); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrItemTooLarge) || carechain.KindOf(err) != carechain.KindTooLarge {
				t.Fatalf("err %v, want ErrItemTooLarge of kind too_large", err)
			}
			if seqs != nil {
				t.Errorf("seqs %v for a refused Append", seqs)
			}
			if after := queueContents(t, q); !slices.Equal(after, before) {
				t.Errorf("items %q after refused Append, want %q", after, before)
			}
		})
	}
	// A refused Append uses no sequence numbers: 1 was "a", 2 and 3 the
	// pair at the limit.
	if seqs := appendQueue(t, q, "b"); seqs[0] != 4 {
		t.Errorf("next seq %d, want 4", seqs[0])
	}
}

var queueBenchItem = bytes.Repeat([]byte{'e'}, 1600) // about one sealed access event

// BenchmarkQueueAppendSerial pays one fsync per Append.
func BenchmarkQueueAppendSerial(b *testing.B) {
	q := openQueue(b, b.TempDir())
	b.SetBytes(int64(len(queueBenchItem)))
	for b.Loop() {
		if _, err := q.Append(queueBenchItem); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueueAppendParallel has many goroutines append at once, as many
// concurrent reads do; Pebble's group commit lets them share fsyncs.
func BenchmarkQueueAppendParallel(b *testing.B) {
	q := openQueue(b, b.TempDir())
	b.SetBytes(int64(len(queueBenchItem)))
	b.SetParallelism(16) // 16 × GOMAXPROCS appenders
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Append(queueBenchItem); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkQueueAnchorCycle appends items as concurrent reads journal their
// access events and removes them a window later, as anchoring does, and
// reports the table bytes Pebble wrote (flushes and compactions) per item:
// the work an item costs beyond its WAL write.
func BenchmarkQueueAnchorCycle(b *testing.B) {
	q := openQueue(b, b.TempDir())
	item := make([]byte, len(queueBenchItem))
	if _, err := rand.Read(item); err != nil { // sealed events do not compress
		b.Fatal(err)
	}
	const window = 4096 // items appended between two anchors
	var pending []uint64
	for b.Loop() {
		seqs, err := q.Append(item)
		if err != nil {
			b.Fatal(err)
		}
		if pending = append(pending, seqs...); len(pending) == window {
			if err := q.Remove(pending...); err != nil {
				b.Fatal(err)
			}
			pending = pending[:0]
		}
	}
	m := q.db.Metrics().Total()
	b.ReportMetric(float64(m.TableBytesFlushed+m.TableBytesCompacted)/float64(b.N), "table-bytes/op")
}
