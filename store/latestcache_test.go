package store

import (
	"errors"
	"strings"
	"testing"
)

// TestLatestReadsAreCachedUntilACommit: reads of the last height, served
// from the cache once a key was read, give the same values as Pebble: a
// copy the caller may change, absent keys absent, and after each commit
// the new block's values (set, deleted, too large to cache).
func TestLatestReadsAreCachedUntilACommit(t *testing.T) {
	s, _ := openTemp(t)
	big := strings.Repeat("x", maxLatestCachedValue+1)
	commit(t, s, 1, map[string]string{"k": "v1", "big": big})
	want := func(key, val string) {
		t.Helper()
		for range 2 { // from Pebble, then from the cache
			got, err := s.Get(key, 0)
			switch {
			case val == "" && !errors.Is(err, ErrNotFound):
				t.Fatalf("Get(%q) = %q, %v; want not found", key, got, err)
			case val != "" && (err != nil || string(got) != val):
				t.Fatalf("Get(%q) = %.20q, %v; want %.20q", key, got, err, val)
			}
			if len(got) > 0 {
				got[0] = '!' // the caller's copy
			}
		}
	}
	want("k", "v1")
	want("absent", "")
	want("big", big)
	commit(t, s, 2, map[string]string{"k": "v2", "absent": "now", "big": big + "y"})
	want("k", "v2")
	want("absent", "now")
	want("big", big+"y")
	commit(t, s, 3, map[string]string{"k": ""})
	want("k", "")
	if got, err := s.Get("k", 2); err != nil || string(got) != "v2" {
		t.Fatalf("Get(k, 2) = %q, %v; want v2", got, err)
	}
}
