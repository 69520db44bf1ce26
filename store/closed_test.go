package store

import (
	"errors"
	"sync"
	"testing"
)

// TestUseAfterCloseIsAnError: reads that outlive the store (a goroutine
// CometBFT started, still querying after the node stopped) get ErrClosed
// instead of a Pebble panic, including reads racing with Close.
func TestUseAfterCloseIsAnError(t *testing.T) {
	s, _ := openTemp(t)
	commit(t, s, 1, map[string]string{"a": "1"})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if _, err := s.Get("a", 0); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("read during close: %v", err)
					return
				}
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Get("a", 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Scan("", 0, func(string, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scan after Close: %v", err)
	}
	if _, err := s.AppHash(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppHash after Close: %v", err)
	}
}
