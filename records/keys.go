package records

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/seal"
)

// Encryption keys live in the keystore beside signing keys: an HPKE private
// key is a 32-byte seed, stored as the seed of a keystore entry named
// EncryptionKeyName(reader). The entry's Ed25519 public key is unused.

const encSuffix = ".enc"

// EncryptionKeyName is the keystore name of a reader's encryption key:
// "st-mary" → "st-mary.enc", "patient/demo-01" → "patient.demo-01.enc".
func EncryptionKeyName(reader string) string { return strings.ReplaceAll(reader, "/", ".") + encSuffix }

// CreateEncryptionKey makes a new encryption key for reader and stores it.
func CreateEncryptionKey(ks *keystore.Store, reader string, passphrase []byte) (*seal.PrivateKey, error) {
	k, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := ks.Import(EncryptionKeyName(reader), ed25519.NewKeyFromSeed(k.Bytes()), passphrase); err != nil {
		return nil, fmt.Errorf("store encryption key of %s: %w", reader, err)
	}
	return k, nil
}

// LoadEncryptionKey unlocks a reader's encryption key.
func LoadEncryptionKey(ks *keystore.Store, reader string, passphrase []byte) (*seal.PrivateKey, error) {
	priv, err := ks.Unlock(EncryptionKeyName(reader), passphrase)
	if err != nil {
		return nil, err
	}
	return seal.ParsePrivateKey(priv.Seed())
}

// EnsureEncryptionKey loads a reader's encryption key, creating it if missing.
func EnsureEncryptionKey(ks *keystore.Store, reader string, passphrase []byte) (*seal.PrivateKey, error) {
	k, err := LoadEncryptionKey(ks, reader, passphrase)
	if errors.Is(err, keystore.ErrNotFound) {
		return CreateEncryptionKey(ks, reader, passphrase)
	}
	return k, err
}

// LoadKeyring unlocks every encryption key in ks into a keyring.
func LoadKeyring(ks *keystore.Store, passphrase []byte) (*Keyring, error) {
	entries, err := ks.List()
	if err != nil {
		return nil, err
	}
	kr := &Keyring{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name, encSuffix)
		if !ok {
			continue
		}
		reader := name
		if rest, ok := strings.CutPrefix(name, "patient."); ok {
			reader = "patient/" + rest
		}
		k, err := LoadEncryptionKey(ks, reader, passphrase)
		if err != nil {
			return nil, fmt.Errorf("encryption key %s: %w", e.Name, err)
		}
		kr.Add(reader, k)
	}
	return kr, nil
}
