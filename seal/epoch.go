package seal

import (
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

// WrapEpochKey wraps k to r, bound to patient, category and epoch. Call it
// once per reader of the epoch.
func WrapEpochKey(r Recipient, k EpochKey, patient, category string, epoch uint32) ([]byte, error) {
	if r == nil {
		return nil, errors.New("seal: nil Recipient")
	}
	if err := checkIDs(patient, category); err != nil {
		return nil, err
	}
	defer clear(k[:]) // k is a copy
	return r.Wrap(k[:], EpochInfo(patient, category, epoch))
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
	key, err := id.Unwrap(wrapped, EpochInfo(patient, category, epoch))
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
