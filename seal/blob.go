package seal

import (
	"crypto/rand"
	"fmt"

	"github.com/carechain/carechain"
)

// Blobs are contents too large for the ledger (images), sealed like a
// record version but kept off it: a fresh data key encrypts the content and
// is wrapped under the epoch key, bound to b, with associated data of their
// own, so a blob's key or ciphertext cannot pass for a record version's.
// The sealed blob is one byte string, the wrapped data key followed by the
// ciphertext: what a node stores, hashes and copies to other nodes.

// MaxBlobSize bounds a blob's plaintext.
const MaxBlobSize = carechain.MaxBlobBytes

// SealedBlobOverhead is how much larger a sealed blob is than its content.
const SealedBlobOverhead = WrappedDataKeySize + gcmOverhead

// SealBlob encrypts content (at most MaxBlobSize bytes) under a fresh data
// key wrapped under ek, bound to b.
func SealBlob(content []byte, b Binding, ek EpochKey) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(content) > MaxBlobSize {
		return nil, fmt.Errorf("seal: blob is %d bytes, limit is %d", len(content), MaxBlobSize)
	}
	dk := make([]byte, KeySize)
	defer clear(dk)
	rand.Read(dk)
	out := make([]byte, 0, len(content)+SealedBlobOverhead)
	out = newAEAD(ek[:]).Seal(out, nil, dk, b.blobKeyAD())
	return newAEAD(dk).Seal(out, nil, content, b.blobAD()), nil
}

// OpenBlob opens a sealed blob with ek; ErrDecrypt if ek or b is not what
// it was sealed with, or it was altered.
func OpenBlob(sealed []byte, b Binding, ek EpochKey) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(sealed) < SealedBlobOverhead || len(sealed) > MaxBlobSize+SealedBlobOverhead {
		return nil, fmt.Errorf("seal: sealed blob is %d bytes, want %d to %d", len(sealed), SealedBlobOverhead, MaxBlobSize+SealedBlobOverhead)
	}
	dk, err := newAEAD(ek[:]).Open(nil, nil, sealed[:WrappedDataKeySize], b.blobKeyAD())
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(dk)
	content, err := newAEAD(dk).Open(nil, nil, sealed[WrappedDataKeySize:], b.blobAD())
	if err != nil {
		return nil, ErrDecrypt
	}
	return content, nil
}

func (b Binding) blobAD() []byte { return b.appendVersion([]byte("carechain/blob/v1")) }

func (b Binding) blobKeyAD() []byte {
	ad := b.appendVersion([]byte("carechain/blob-key/v1"))
	ad = appendString(ad, b.Category)
	return append(ad, byte(b.Epoch>>24), byte(b.Epoch>>16), byte(b.Epoch>>8), byte(b.Epoch))
}
