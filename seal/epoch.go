package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// EpochKey is the key of one patient, one category and one epoch. It wraps
// the data keys of the record versions sealed in that epoch. Callers should
// zero it when done.
type EpochKey [KeySize]byte

// maxWrappedEpochKeySize bounds what UnwrapEpochKey hands to an Identity of
// unknown type; *PrivateKey then insists on exactly WrappedEpochKeySize.
const maxWrappedEpochKeySize = 4096

// NewEpochKey returns a new random epoch key, for a new (patient, category)
// or for the next epoch after a revocation.
func NewEpochKey() (EpochKey, error) {
	var k EpochKey
	rand.Read(k[:])
	return k, nil
}

// EpochInfo is the HPKE info an epoch key is wrapped with: a context string,
// the patient, the category and the epoch number, unambiguously encoded.
func EpochInfo(patient, category string, epoch uint32) []byte {
	info := []byte("carechain/epoch-key/v1")
	info = appendString(info, patient)
	info = appendString(info, category)
	return binary.BigEndian.AppendUint32(info, epoch)
}

// A wrap made to a *PublicKey is tagged with the key's ID: tagMagic, the
// KeyIDSize-byte ID, then the HPKE wrap, whose info also carries the ID (so
// the tag cannot be changed). The tag says which of a reader's keys opens the
// wrap, and lets the ledger tell a wrap made to a key its reader has since
// replaced (WrapKeyID). Wraps made before tags (exactly WrappedEpochKeySize
// bytes) carry none and still open.
var tagMagic = []byte("cck1")

// TaggedWrapSize is the size of a wrap WrapEpochKey makes to a *PublicKey.
const TaggedWrapSize = 4 + KeyIDSize + WrappedEpochKeySize

// WrapEpochKey wraps k to r, bound to patient, category and epoch. Call it
// once per reader of the epoch. A wrap to a *PublicKey is tagged with its ID.
func WrapEpochKey(r Recipient, k EpochKey, patient, category string, epoch uint32) ([]byte, error) {
	if r == nil {
		return nil, errors.New("seal: nil Recipient")
	}
	if err := checkIDs(patient, category); err != nil {
		return nil, err
	}
	defer clear(k[:]) // k is a copy
	info := EpochInfo(patient, category, epoch)
	pub, ok := r.(*PublicKey)
	if !ok {
		return r.Wrap(k[:], info)
	}
	id := pub.ID()
	w, err := pub.Wrap(k[:], append(info, id...))
	if err != nil {
		return nil, err
	}
	return append(append(bytes.Clone(tagMagic), id...), w...), nil
}

// WrapKeyID returns the ID of the key a wrap made by WrapEpochKey was made
// to, or nil for a wrap without a tag. It does not check the wrap.
func WrapKeyID(wrapped []byte) []byte {
	if len(wrapped) != TaggedWrapSize || !bytes.HasPrefix(wrapped, tagMagic) {
		return nil
	}
	return wrapped[len(tagMagic) : len(tagMagic)+KeyIDSize]
}

// UnwrapEpochKey unwraps an epoch key wrapped to id by WrapEpochKey with the
// same patient, category and epoch. It returns an error wrapping ErrDecrypt
// if the wrap is for another identity, patient, category or epoch, or was
// tampered with.
func UnwrapEpochKey(id Identity, wrapped []byte, patient, category string, epoch uint32) (EpochKey, error) {
	var k EpochKey
	if id == nil {
		return k, errors.New("seal: nil Identity")
	}
	if err := checkIDs(patient, category); err != nil {
		return k, err
	}
	if len(wrapped) > maxWrappedEpochKeySize {
		return k, fmt.Errorf("seal: wrapped epoch key is %d bytes, limit is %d", len(wrapped), maxWrappedEpochKeySize)
	}
	info := EpochInfo(patient, category, epoch)
	if len(wrapped) == TaggedWrapSize {
		keyID := WrapKeyID(wrapped)
		if keyID == nil {
			return k, ErrDecrypt // the size of a tagged wrap, without the tag: changed
		}
		info = append(info, keyID...)
		wrapped = wrapped[len(tagMagic)+KeyIDSize:]
	}
	key, err := id.Unwrap(wrapped, info)
	if err != nil {
		return k, err
	}
	defer clear(key)
	if len(key) != KeySize {
		return k, ErrDecrypt
	}
	copy(k[:], key)
	return k, nil
}
