package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carechain/carechain"
)

// Blobs is a node's store of sealed blobs (seal.SealBlob): files named by
// the SHA-256 of their bytes, under one directory, two hex digits of fan-out
// ("ab/ab12…"). Like the journal and the search index it is node-local, not
// consensus state; the ledger names each blob by the same hash
// (carechain.BlobRef), so a copy from anywhere is checked before it is
// kept, and every read checks it again: a file altered on disk is refused
// (ErrBlobAltered) and moved aside, never served.
type Blobs struct{ dir string }

// ErrBlobAltered is a stored blob whose bytes no longer match its name.
var ErrBlobAltered = errors.New("the stored blob does not match its hash: it was altered on disk")

// ErrBlobMismatch is a blob given to Put whose bytes do not match the hash.
var ErrBlobMismatch = carechain.NewError(carechain.KindInvalid, "the blob does not match its hash")

// OpenBlobs opens (creating it) the blob store in dir.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &Blobs{dir: dir}, nil
}

func (b *Blobs) path(hash []byte) (string, error) {
	if len(hash) != sha256.Size {
		return "", fmt.Errorf("blob hash is %d bytes, want %d", len(hash), sha256.Size)
	}
	h := hex.EncodeToString(hash)
	return filepath.Join(b.dir, h[:2], h), nil
}

// Has reports whether a blob named hash is stored (unchecked).
func (b *Blobs) Has(hash []byte) bool {
	p, err := b.path(hash)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Put stores data as the blob named hash, after checking that it hashes
// to it. The file appears whole or not at all (written aside, synced,
// renamed).
func (b *Blobs) Put(hash, data []byte) error {
	p, err := b.path(hash)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], hash) {
		return ErrBlobMismatch
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	tmp := p + ".tmp-" + rand.Text()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("blob store: writing %x: %w", hash, err)
	}
	return nil
}

// Get reads the blob named hash and checks it: ErrNotFound if it is not
// here, ErrBlobAltered if its bytes do not match (the file is then renamed
// "<hash>.altered", so the next Get finds none and a good copy can be
// fetched again).
func (b *Blobs) Get(hash []byte) ([]byte, error) {
	p, err := b.path(hash)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %x: %w", hash, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], hash) {
		if rerr := os.Rename(p, p+".altered"); rerr != nil {
			return nil, fmt.Errorf("blob %x: %w (and it could not be moved aside: %v)", hash, ErrBlobAltered, rerr)
		}
		return nil, fmt.Errorf("blob %x: %w", hash, ErrBlobAltered)
	}
	return data, nil
}

// Remove deletes the blob named hash, if it is here.
func (b *Blobs) Remove(hash []byte) error {
	p, err := b.path(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}
