package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/carechain/carechain/store"
)

// TestBlobsAreCheckedByHash: a blob is kept only under the hash of its
// bytes, and one altered on disk is refused and moved aside.
func TestBlobsAreCheckedByHash(t *testing.T) {
	dir := t.TempDir()
	b, err := store.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("sealed bytes")
	sum := sha256.Sum256(data)
	other := sha256.Sum256([]byte("other"))
	if err := b.Put(other[:], data); !errors.Is(err, store.ErrBlobMismatch) {
		t.Fatalf("put under another hash: %v", err)
	}
	if _, err := b.Get(sum[:]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get before put: %v", err)
	}
	if err := b.Put(sum[:], data); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(sum[:]); err != nil || !bytes.Equal(got, data) || !b.Has(sum[:]) {
		t.Fatalf("get: %q %v", got, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	if err := os.WriteFile(files[0], []byte("sealed bytez"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(sum[:]); !errors.Is(err, store.ErrBlobAltered) {
		t.Fatalf("get of an altered blob: %v", err)
	}
	if _, err := b.Get(sum[:]); !errors.Is(err, store.ErrNotFound) || b.Has(sum[:]) {
		t.Fatalf("the altered blob is still in place: %v", err)
	}
	if _, err := os.Stat(files[0] + ".altered"); err != nil {
		t.Fatalf("the altered blob was not moved aside: %v", err)
	}
}
