package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func commit(t *testing.T, s *Store, height int64, writes map[string]string) {
	t.Helper()
	b := s.NewBlock(height)
	for k, v := range writes {
		var err error
		if v == "" {
			err = b.Delete(k)
		} else {
			err = b.Set(k, []byte(v))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(b, []byte(fmt.Sprintf("hash-%d", height)), nil); err != nil {
		t.Fatal(err)
	}
}

func TestGetAtHeight(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 0, map[string]string{"a": "a0"})
	commit(t, s, 1, map[string]string{"a": "a1", "b": "b1"})
	commit(t, s, 3, map[string]string{"a": "", "ab": "ab3"}) // delete a
	cases := []struct {
		key    string
		height int64
		want   string // "" = not found
	}{
		{"a", 0, ""}, {"a", 1, "a1"}, {"a", 2, "a1"}, {"a", 3, ""},
		{"b", 1, "b1"}, {"b", 3, "b1"}, {"ab", 1, ""}, {"ab", 3, "ab3"},
		{"zz", 3, ""},
	}
	for _, c := range cases {
		h := c.height
		if h == 0 {
			h = 0 // latest
		}
		got, err := s.Get(c.key, h)
		switch {
		case c.want == "" && !errors.Is(err, ErrNotFound):
			t.Errorf("Get(%q,%d) = %q, %v; want not found", c.key, c.height, got, err)
		case c.want != "" && (err != nil || string(got) != c.want):
			t.Errorf("Get(%q,%d) = %q, %v; want %q", c.key, c.height, got, err, c.want)
		}
	}
	if _, err := s.Get("a", 4); !errors.Is(err, ErrFutureHeight) {
		t.Errorf("Get at future height: %v", err)
	}
	last, err := s.LastCommit()
	if err != nil || last.Height != 3 || string(last.AppHash) != "hash-3" {
		t.Fatalf("LastCommit = %+v, %v", last, err)
	}
}

func TestScanAtHeight(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 1, map[string]string{"p/a": "1", "p/b": "1", "q/a": "1"})
	commit(t, s, 2, map[string]string{"p/a": "2", "p/c": "2", "p/b": ""})
	scan := func(h int64) string {
		var out string
		if err := s.Scan("p/", h, func(k string, v []byte) error { out += k + "=" + string(v) + " "; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := scan(1), "p/a=1 p/b=1 "; got != want {
		t.Errorf("scan@1 = %q, want %q", got, want)
	}
	if got, want := scan(2), "p/a=2 p/c=2 "; got != want {
		t.Errorf("scan@2 = %q, want %q", got, want)
	}
}

func TestBlockReadsOwnWritesAndHashIsOrderFree(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 1, map[string]string{"k": "old"})
	b1 := s.NewBlock(2)
	b1.Set("x", []byte("1"))
	b1.Set("k", []byte("new"))
	b2 := s.NewBlock(2)
	b2.Set("k", []byte("new"))
	b2.Set("x", []byte("1"))
	if string(b1.Hash()) != string(b2.Hash()) {
		t.Fatal("same writes in another order hash differently")
	}
	b2.Set("x", []byte("2"))
	if string(b1.Hash()) == string(b2.Hash()) {
		t.Fatal("different writes hash the same")
	}
	if v, _ := b1.Get("k"); string(v) != "new" {
		t.Fatalf("block sees %q, want its own write", v)
	}
	if v, _ := s.Get("k", 0); string(v) != "old" {
		t.Fatalf("store sees %q before commit", v)
	}
	if err := b1.Set("bad\x00key", nil); err == nil {
		t.Fatal("NUL in key accepted")
	}
}

func TestCommitSurvivesReopenAndRefusesOldHeight(t *testing.T) {
	s, dir := openTemp(t)
	commit(t, s, 1, map[string]string{"k": "v"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := s2.Get("k", 0); err != nil || string(v) != "v" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	if err := s2.Commit(s2.NewBlock(1), nil, nil); err == nil {
		t.Fatal("second commit at height 1 accepted")
	}
}

func TestWriteHashesMatchBlockHashes(t *testing.T) {
	s, _ := openTemp(t)
	want := map[int64][]byte{}
	for h, writes := range []map[string]string{{"a": "1", "b": "2"}, {"a": "3", "c/x": "4"}, {"b": ""}} {
		b := s.NewBlock(int64(h + 1))
		for k, v := range writes {
			if v == "" {
				b.Delete(k)
			} else {
				b.Set(k, []byte(v))
			}
		}
		want[int64(h+1)] = b.Hash()
		if err := s.Commit(b, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.WriteHashes()
	if err != nil {
		t.Fatal(err)
	}
	for h, w := range want {
		if string(got[h]) != string(w) {
			t.Fatalf("height %d: %x, want %x", h, got[h], w)
		}
	}
	// A version changed behind the store's back is found.
	if err := s.db.Set(stateKey("a", 1), []byte{valueTag, 'X'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	got, err = s.WriteHashes()
	if err != nil || string(got[1]) == string(want[1]) {
		t.Fatalf("tampered version not reflected: %v", err)
	}
	// The newest version disagreeing with the latest keyspace is an error.
	if err := s.db.Set(stateKey("c/x", 2), []byte{valueTag, 'Y'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteHashes(); err == nil {
		t.Fatal("latest/version mismatch not reported")
	}
}

// TestGetAtTheLastHeightDuringACommit: a read at the last height never
// sees the values of the block being committed, though Commit writes the
// latest-values table before the last height moves (a view at height H
// once read H+1's nonce, and a committed write was reported dropped).
func TestGetAtTheLastHeightDuringACommit(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 1, map[string]string{"k": "1"})
	const blocks = 300
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			h := s.LastHeight()
			v, err := s.GetAt("k", h)
			if err == nil && string(v) != fmt.Sprint(h) {
				err = fmt.Errorf("at height %d read %s", h, v)
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
		}
	}()
	for h := int64(2); h <= blocks; h++ {
		commit(t, s, h, map[string]string{"k": fmt.Sprint(h)})
	}
	close(done)
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// TestBlockScanSeesItsWritesOverCommittedState: a block's Scan merges the
// committed state with its own writes and its parents' (a child's newest),
// deletions included, whatever the prefix: with a '/' (looked up by the
// key's first segment), without one, or empty.
func TestBlockScanSeesItsWritesOverCommittedState(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 1, map[string]string{"p/a": "1", "p/b": "1", "p/x/y": "1", "q/a": "1", "pq": "1"})
	b := s.NewBlock(2)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.Set("p/c", []byte("2")))
	must(b.Delete("p/b"))
	must(b.Set("q/b", []byte("2")))
	child := b.Child()
	must(child.Set("p/a", []byte("3")))
	must(child.Set("p/x/z", []byte("3")))
	must(child.Delete("p/c"))
	must(child.Set("pr", []byte("3")))
	scan := func(blk *Block, prefix string) string {
		var out string
		must(blk.Scan(prefix, func(k string, v []byte) error { out += k + "=" + string(v) + " "; return nil }))
		return out
	}
	for _, c := range []struct {
		blk          *Block
		prefix, want string
	}{
		{b, "p/", "p/a=1 p/c=2 p/x/y=1 "},
		{child, "p/", "p/a=3 p/x/y=1 p/x/z=3 "},
		{child, "p/x/", "p/x/y=1 p/x/z=3 "},
		{child, "q/", "q/a=1 q/b=2 "},
		{child, "p", "p/a=3 p/x/y=1 p/x/z=3 pq=1 pr=3 "},
		{child, "", "p/a=3 p/x/y=1 p/x/z=3 pq=1 pr=3 q/a=1 q/b=2 "},
		{child, "r/", ""},
	} {
		if got := scan(c.blk, c.prefix); got != c.want {
			t.Errorf("scan %q = %q, want %q", c.prefix, got, c.want)
		}
	}
	child.Merge()
	if got, want := scan(b, "p/"), "p/a=3 p/x/y=1 p/x/z=3 "; got != want {
		t.Errorf("after merge: scan p/ = %q, want %q", got, want)
	}
	if got, want := scan(b, "pr"), "pr=3 "; got != want {
		t.Errorf("after merge: scan pr = %q, want %q", got, want)
	}
}
