// Package seal encrypts record versions so that only a patient's chosen
// readers can open them. Keys form three layers:
//
//   - each record version is encrypted (AES-256-GCM) under a fresh random data
//     key, bound to record ID, version and patient;
//   - the data key is wrapped (AES-256-GCM) under the epoch key of the patient
//     and category, bound to record, version, patient, category and epoch;
//   - the epoch key is wrapped with HPKE (X-Wing: ML-KEM-768 + X25519,
//     HKDF-SHA256, AES-256-GCM) to each reader (patient, authoring
//     organization, grantees), bound to patient, category and epoch.
//
// Revoking a reader starts a new epoch: a new key from NewEpochKey, wrapped
// only to the remaining readers. Versions sealed earlier stay under the old
// epoch key, which the revoked reader may already hold.
//
//	ek, err := seal.NewEpochKey()
//	w, err := seal.WrapEpochKey(readerPub, ek, patient, category, epoch) // per reader
//	b := seal.Binding{RecordID: id, Version: v, Patient: patient, Category: category, Epoch: epoch}
//	s, err := seal.Seal(fhirJSON, b, ek)
//	...
//	ek, err = seal.UnwrapEpochKey(readerPriv, w, patient, category, epoch)
//	fhirJSON, err = seal.Open(s, b, ek) // errors.Is(err, seal.ErrDecrypt) if not for us
//
// Recipient and Identity are the extension points: *PublicKey and
// *PrivateKey implement them with HPKE, and other key types (a passphrase
// keystore, a hardware key) can too.
//
// The package never logs, touches no disk and keeps no keyring. It zeroes
// data keys after use; epoch and private keys belong to the caller, who
// should store them only encrypted and zero them when done.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
)

// Recipient wraps a key to one reader. info is public context the wrap is
// bound to; the reader must present the same info to unwrap.
type Recipient interface {
	Wrap(key []byte, info []byte) ([]byte, error)
}

// Identity unwraps keys wrapped to it by the matching Recipient. Unwrap
// returns an error wrapping ErrDecrypt if wrapped was not made for this
// identity and info, or was tampered with.
type Identity interface {
	Unwrap(wrapped []byte, info []byte) ([]byte, error)
}

// ErrDecrypt is returned when a wrapped key or ciphertext fails to decrypt:
// wrong key, wrong binding, wrong identity or tampered bytes. It deliberately
// does not say which.
var ErrDecrypt = errors.New("seal: decryption failed")

const (
	// KeySize is the size of epoch and data keys, and the only key size
	// that Recipients in this package wrap.
	KeySize = 32
	// MaxIDSize bounds RecordID, Patient and Category, in bytes.
	MaxIDSize = 256
	// MaxCiphertextSize bounds Sealed.Ciphertext: what one transaction can
	// carry (see the root package's limits).
	MaxCiphertextSize = carechain.MaxCiphertextBytes
	// MaxPlaintextSize is the largest plaintext Seal accepts.
	MaxPlaintextSize = MaxCiphertextSize - gcmOverhead
	// WrappedDataKeySize is the exact size of Sealed.WrappedKey.
	WrappedDataKeySize = KeySize + gcmOverhead

	gcmOverhead = 12 + 16 // random nonce and tag
)

// Binding names what a record version is: the associated data of its
// encryption. Opening with any field changed fails with ErrDecrypt.
type Binding struct {
	RecordID string // the record, the same for all its versions
	Version  uint64 // the version of the record
	Patient  string // the patient's pseudonymous ID
	Category string // the record category: with Patient, selects the epoch key
	Epoch    uint32 // the epoch of (Patient, Category) whose key wraps the data key
}

// Sealed is one encrypted record version. Both fields are safe to store and
// publish; neither reveals the plaintext or its keys.
type Sealed struct {
	// Ciphertext is the plaintext under the data key: a random nonce, the
	// encrypted bytes and the GCM tag (len(plaintext) + 28 bytes).
	Ciphertext []byte
	// WrappedKey is the data key under the epoch key, WrappedDataKeySize bytes.
	WrappedKey []byte
}

// Seal encrypts plaintext under a fresh data key and wraps that key under
// ek, binding both to b. plaintext may be at most MaxPlaintextSize bytes.
func Seal(plaintext []byte, b Binding, ek EpochKey) (*Sealed, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("seal: plaintext is %d bytes, limit is %d", len(plaintext), MaxPlaintextSize)
	}
	dk := make([]byte, KeySize)
	defer clear(dk)
	rand.Read(dk)

	return &Sealed{
		Ciphertext: newAEAD(dk).Seal(nil, nil, plaintext, b.recordAD()),
		WrappedKey: newAEAD(ek[:]).Seal(nil, nil, dk, b.dataKeyAD()),
	}, nil
}

// Open unwraps the data key of s with ek and decrypts the record version. It
// returns ErrDecrypt if ek is not the key s was sealed under, b is not the
// binding it was sealed with, or s was tampered with.
func Open(s *Sealed, b Binding, ek EpochKey) ([]byte, error) {
	if s == nil {
		return nil, errors.New("seal: nil Sealed")
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(s.WrappedKey) != WrappedDataKeySize {
		return nil, fmt.Errorf("seal: wrapped data key is %d bytes, want %d", len(s.WrappedKey), WrappedDataKeySize)
	}
	if len(s.Ciphertext) < gcmOverhead || len(s.Ciphertext) > MaxCiphertextSize {
		return nil, fmt.Errorf("seal: ciphertext is %d bytes, want %d to %d", len(s.Ciphertext), gcmOverhead, MaxCiphertextSize)
	}
	dk, err := newAEAD(ek[:]).Open(nil, nil, s.WrappedKey, b.dataKeyAD())
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(dk)
	plaintext, err := newAEAD(dk).Open(nil, nil, s.Ciphertext, b.recordAD())
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

func (b Binding) validate() error {
	if err := checkID("record ID", b.RecordID); err != nil {
		return err
	}
	return checkIDs(b.Patient, b.Category)
}

// recordAD binds the content to record, version and patient only, not to
// category and epoch: those are bound by the data key wrap, and leaving them
// out lets a data key be rewrapped under a new epoch without re-encrypting.
func (b Binding) recordAD() []byte {
	return b.appendVersion([]byte("carechain/record/v1"))
}

func (b Binding) dataKeyAD() []byte {
	ad := b.appendVersion([]byte("carechain/data-key/v1"))
	ad = appendString(ad, b.Category)
	return binary.BigEndian.AppendUint32(ad, b.Epoch)
}

// appendVersion appends what names the record version: record, version and
// patient.
func (b Binding) appendVersion(ad []byte) []byte {
	ad = appendString(ad, b.RecordID)
	ad = binary.BigEndian.AppendUint64(ad, b.Version)
	return appendString(ad, b.Patient)
}

// appendString length-prefixes s so that adjacent fields cannot run into
// each other ("ab","c" vs "a","bc").
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func checkIDs(patient, category string) error {
	if err := checkID("patient", patient); err != nil {
		return err
	}
	return checkID("category", category)
}

func checkID(what, s string) error {
	if len(s) == 0 || len(s) > MaxIDSize {
		return fmt.Errorf("seal: %s is %d bytes, want 1 to %d", what, len(s), MaxIDSize)
	}
	return nil
}

// newAEAD returns AES-256-GCM with a random nonce prepended to each
// ciphertext. Random nonces are safe here: a data key encrypts once, and an
// epoch key wraps far fewer than 2^32 data keys.
func newAEAD(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("seal: " + err.Error()) // keys here are always KeySize bytes
	}
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("seal: " + err.Error()) // cannot happen with an AES block
	}
	return a
}
