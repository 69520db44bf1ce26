package seal

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

const (
	// PrivateKeySize is the size of PrivateKey.Bytes: the 32-byte X-Wing
	// seed from which both the ML-KEM-768 and X25519 keys are derived.
	PrivateKeySize = 32
	// PublicKeySize is the size of PublicKey.Bytes: the ML-KEM-768
	// encapsulation key followed by the X25519 public key.
	PublicKeySize = mlkem.EncapsulationKeySize768 + x25519Size
	// WrappedEpochKeySize is the size of a key wrapped by a *PublicKey: the
	// HPKE encapsulation, the key and the GCM tag.
	WrappedEpochKeySize = mlkem.CiphertextSize768 + x25519Size + KeySize + 16

	// KeyIDSize is the size of PublicKey.ID.
	KeyIDSize = 16

	x25519Size = 32
)

// The ciphersuite is fixed: no negotiation, nothing to downgrade.
var (
	kem  = hpke.MLKEM768X25519()
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// PrivateKey is a principal's HPKE key pair (ML-KEM-768 + X25519, a.k.a.
// X-Wing). It is an Identity.
type PrivateKey struct {
	k    hpke.PrivateKey
	seed []byte
	pub  *PublicKey
}

// PublicKey is the public half of a PrivateKey, as published on the ledger.
// It is a Recipient.
type PublicKey struct {
	k hpke.PublicKey
}

var (
	_ Identity  = (*PrivateKey)(nil)
	_ Recipient = (*PublicKey)(nil)
)

// GenerateKey returns a new random key pair.
func GenerateKey() (*PrivateKey, error) {
	seed := make([]byte, PrivateKeySize)
	defer clear(seed)
	rand.Read(seed)
	return ParsePrivateKey(seed)
}

// ParsePrivateKey decodes a key from PrivateKey.Bytes. Any PrivateKeySize
// bytes are a valid seed; a corrupted seed gives a key that opens nothing.
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("seal: private key is %d bytes, want %d", len(b), PrivateKeySize)
	}
	k, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: invalid private key: %w", err)
	}
	return &PrivateKey{k: k, seed: bytes.Clone(b), pub: &PublicKey{k: k.PublicKey()}}, nil
}

// Public returns the public key of k.
func (k *PrivateKey) Public() *PublicKey {
	return k.pub
}

// Bytes returns the PrivateKeySize-byte seed of k (the standard X-Wing
// private key encoding), for storage. It is secret: store it only
// encrypted, and zero it when done.
func (k *PrivateKey) Bytes() []byte {
	return bytes.Clone(k.seed)
}

// Unwrap opens a key wrapped to k's public key with the same info. It
// returns ErrDecrypt if wrapped was made for another key or info, or was
// tampered with.
func (k *PrivateKey) Unwrap(wrapped []byte, info []byte) ([]byte, error) {
	if len(wrapped) != WrappedEpochKeySize {
		return nil, fmt.Errorf("seal: wrapped key is %d bytes, want %d", len(wrapped), WrappedEpochKeySize)
	}
	key, err := hpke.Open(k.k, kdf, aead, info, wrapped)
	if err != nil {
		return nil, ErrDecrypt
	}
	return key, nil
}

// ParsePublicKey decodes a key from PublicKey.Bytes. It accepts only the
// canonical encoding, and rejects keys nobody could wrap to: an ML-KEM key
// with unreduced coefficients, or a low-order X25519 point.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("seal: public key is %d bytes, want %d", len(b), PublicKeySize)
	}
	k, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: invalid public key: %w", err)
	}
	if err := checkX25519(b[mlkem.EncapsulationKeySize768:]); err != nil {
		return nil, fmt.Errorf("seal: invalid public key: X25519 point: %w", err)
	}
	return &PublicKey{k: k}, nil
}

// checkX25519 rejects a u-coordinate that is not reduced modulo 2^255-19
// (several encodings of one key) or whose point has low order.
func checkX25519(u []byte) error {
	if u[31] > 0x7f || u[31] == 0x7f && allFF(u[1:31]) && u[0] >= 0xed {
		return errors.New("not canonically encoded")
	}
	// The clamped scalar is a multiple of the cofactor and smaller than the
	// prime order, so ECDH yields all zeros, and fails, exactly for
	// low-order points.
	probe, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{1}, x25519Size))
	if err != nil {
		return err
	}
	point, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		return err
	}
	_, err = probe.ECDH(point)
	return err
}

func allFF(b []byte) bool {
	return bytes.Count(b, []byte{0xff}) == len(b)
}

// ID names p: the first KeyIDSize bytes of the SHA-256 of its encoding.
// Wraps carry it (WrapKeyID) to say which key they were made to.
func (p *PublicKey) ID() []byte { return KeyIDOf(p.Bytes()) }

// KeyIDOf is PublicKey.ID of the key encoded as encoded (PublicKey.Bytes),
// without parsing it.
func KeyIDOf(encoded []byte) []byte {
	sum := sha256.Sum256(encoded)
	return sum[:KeyIDSize]
}

// Bytes returns the PublicKeySize-byte canonical encoding of p.
func (p *PublicKey) Bytes() []byte {
	return p.k.Bytes()
}

// Wrap encrypts key to p with HPKE, bound to info. key must be KeySize
// bytes; the result is WrappedEpochKeySize bytes.
func (p *PublicKey) Wrap(key []byte, info []byte) ([]byte, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	wrapped, err := hpke.Seal(p.k, kdf, aead, info, key)
	if err != nil {
		return nil, fmt.Errorf("seal: HPKE: %w", err)
	}
	return wrapped, nil
}
