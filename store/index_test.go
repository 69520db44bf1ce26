package store

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func TestIndexReplaceAndLookup(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if empty, err := x.Empty(); !empty || err != nil {
		t.Fatalf("a new index: empty %v, %v", empty, err)
	}
	tok := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	a, b := []byte("patient/a\x00rec-1"), []byte("patient/b\x00rec-2")
	if err := x.Replace(a, [][]byte{tok("doe"), tok("1980")}); err != nil {
		t.Fatal(err)
	}
	if err := x.Replace(b, [][]byte{tok("doe")}); err != nil {
		t.Fatal(err)
	}
	if empty, _ := x.Empty(); empty {
		t.Fatal("an index with members is empty")
	}
	got, err := x.Lookup(tok("doe"), 10)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("doe: %q %v", got, err)
	}
	if got, _ := x.Lookup(tok("doe"), 1); len(got) != 1 {
		t.Fatalf("limit 1: %q", got)
	}
	// A new version of a drops its old tokens.
	if err := x.Replace(a, [][]byte{tok("roe")}); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if x, err = OpenIndex(dir); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for s, want := range map[string]int{"doe": 1, "1980": 0, "roe": 1} {
		if got, err := x.Lookup(tok(s), 10); err != nil || len(got) != want {
			t.Errorf("%s after replace and reopen: %q %v, want %d", s, got, err, want)
		}
	}
	if err := x.Replace(b, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Lookup(tok("doe"), 10); len(got) != 0 {
		t.Fatalf("removed member still found: %q", got)
	}
	// A member that extends another is its own member.
	if err := x.Replace(append(a, '0'), [][]byte{tok("roe")}); err != nil {
		t.Fatal(err)
	}
	if err := x.Replace(a, [][]byte{tok("roe")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Lookup(tok("roe"), 10); len(got) != 2 {
		t.Fatalf("roe: %q", got)
	}
	if err := x.RemovePrefix([]byte("patient/a\x00")); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Lookup(tok("roe"), 10); len(got) != 0 {
		t.Fatalf("roe after RemovePrefix: %q", got)
	}
	if err := x.Replace(a, [][]byte{[]byte("short")}); err == nil {
		t.Fatal("a token of the wrong size was accepted")
	}
}

// TestIndexHeight: the height an index follows the chain through starts at
// 0, survives a reopen, and is not a token (an index with only a height is
// still empty).
func TestIndexHeight(t *testing.T) {
	dir := t.TempDir()
	x, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := x.Height(); h != 0 || err != nil {
		t.Fatalf("a new index's height: %d, %v", h, err)
	}
	if err := x.SetHeight(-1); err == nil {
		t.Fatal("a negative height was accepted")
	}
	if err := x.SetHeight(42); err != nil {
		t.Fatal(err)
	}
	if empty, err := x.Empty(); !empty || err != nil {
		t.Fatalf("an index with only a height: empty %v, %v", empty, err)
	}
	x.Close()
	if x, err = OpenIndex(dir); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if h, err := x.Height(); h != 42 || err != nil {
		t.Fatalf("height after a reopen: %d, %v", h, err)
	}
}
