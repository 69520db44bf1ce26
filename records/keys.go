package records

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"

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

// Custodian holds the signing keys of principals whose keys this node keeps
// (custodial staff and portal users), unlocked, in memory only.
type Custodian struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PrivateKey
}

// Add keeps id's signing key.
func (c *Custodian) Add(id string, key ed25519.PrivateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make(map[string]ed25519.PrivateKey)
	}
	c.keys[id] = key
}

// Merge adds every key of other.
func (c *Custodian) Merge(other *Custodian) {
	other.mu.RLock()
	defer other.mu.RUnlock()
	for id, k := range other.keys {
		c.Add(id, k)
	}
}

// Signer returns the signer for id, if this node keeps its key.
func (c *Custodian) Signer(id string) (Signer, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[id]
	return Signer{ID: id, Key: k}, ok
}

// PrincipalOfKeyName maps a keystore name back to a principal ID:
// "st-mary.dr-chen" → "st-mary/dr-chen", "patient.demo-01" → "patient/demo-01".
func PrincipalOfKeyName(name string) (string, bool) {
	org, rest, ok := strings.Cut(name, ".")
	if !ok || strings.HasSuffix(name, encSuffix) {
		return "", false
	}
	return org + "/" + rest, true
}

// LoadCustodian unlocks every signing key in ks named after a principal.
func LoadCustodian(ks *keystore.Store, passphrase []byte) (*Custodian, error) {
	entries, err := ks.List()
	if err != nil {
		return nil, err
	}
	c := &Custodian{}
	for _, e := range entries {
		id, ok := PrincipalOfKeyName(e.Name)
		if !ok {
			continue
		}
		k, err := ks.Unlock(e.Name, passphrase)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", e.Name, err)
		}
		c.Add(id, k)
	}
	return c, nil
}
