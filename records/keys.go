package records

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/seal"
)

// Encryption keys live in the keystore beside signing keys: an HPKE private
// key is a 32-byte seed, stored as the seed of a keystore entry. A reader's
// current key is EncryptionKeyName(reader) ("st-mary.enc"); a rotation
// (RotateEncryptionKey) keeps the key it replaces as "<that name>.<n>"
// ("st-mary.enc.1", then .2, …), because what was sealed to it stays sealed
// to it. The entry's Ed25519 public key is unused.

const encSuffix = ".enc"

// EncryptionKeyName is the keystore name of a reader's encryption key:
// "st-mary" → "st-mary.enc", "patient/demo-01" → "patient.demo-01.enc".
func EncryptionKeyName(reader string) string { return strings.ReplaceAll(reader, "/", ".") + encSuffix }

// readerOfKeyName parses the name of an encryption key, current or earlier:
// "st-mary.enc" → ("st-mary", 0), "patient.k7.enc.2" → ("patient/k7", 2).
// Generation 0 is the current key; earlier ones count up from 1.
func readerOfKeyName(name string) (reader string, generation int, ok bool) {
	base := name
	if i := strings.LastIndex(name, encSuffix+"."); i > 0 {
		n, err := strconv.Atoi(name[i+len(encSuffix)+1:])
		if err != nil || n < 1 {
			return "", 0, false
		}
		base, generation = name[:i+len(encSuffix)], n
	}
	reader, ok = strings.CutSuffix(base, encSuffix)
	if !ok || reader == "" {
		return "", 0, false
	}
	if rest, isPatient := strings.CutPrefix(reader, "patient."); isPatient {
		reader = carechain.PatientPrefix + rest
	}
	return reader, generation, true
}

// isPatientKey reports whether a keystore name is a patient's key (signing
// or encryption): those open only with the patient's passphrase, at sign-in.
func isPatientKey(name string) bool { return strings.HasPrefix(name, "patient.") }

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

// LoadEncryptionKey unlocks a reader's current encryption key.
func LoadEncryptionKey(ks *keystore.Store, reader string, passphrase []byte) (*seal.PrivateKey, error) {
	return unlockEncryptionKey(ks, EncryptionKeyName(reader), passphrase)
}

func unlockEncryptionKey(ks *keystore.Store, name string, passphrase []byte) (*seal.PrivateKey, error) {
	priv, err := ks.Unlock(name, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
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

// RotateEncryptionKey replaces reader's current encryption key in ks with a
// new one and returns it, and the name the replaced key is kept under: the
// next free "<reader>.enc.<n>". Both are encrypted with passphrase, which
// must open the current key. The ledger learns the new public key from an
// identity.rotate-encryption transaction, to submit after this: until it
// commits, records are still sealed to the old key, which is kept.
func RotateEncryptionKey(ks *keystore.Store, reader string, passphrase []byte) (*seal.PrivateKey, string, error) {
	name := EncryptionKeyName(reader)
	cur, err := ks.Unlock(name, passphrase)
	if err != nil {
		return nil, "", fmt.Errorf("current encryption key %s: %w", name, err)
	}
	defer clear(cur)
	entries, err := ks.List()
	if err != nil {
		return nil, "", err
	}
	next := 1
	for _, e := range entries {
		if rd, gen, ok := readerOfKeyName(e.Name); ok && rd == reader && gen >= next {
			next = gen + 1
		}
	}
	kept := name + "." + strconv.Itoa(next)
	if err := ks.Import(kept, cur, passphrase); err != nil {
		return nil, "", fmt.Errorf("keep the replaced key as %s: %w", kept, err)
	}
	k, err := seal.GenerateKey()
	if err != nil {
		return nil, "", err
	}
	seed := k.Bytes()
	defer clear(seed)
	if err := ks.Replace(name, ed25519.NewKeyFromSeed(seed), passphrase); err != nil {
		return nil, "", fmt.Errorf("store the new encryption key %s: %w", name, err)
	}
	return k, kept, nil
}

// Keyring holds the HPKE private keys this node may use, by reader ID: its
// organizations' keys and the keys of custodial patients signed in, each
// with the earlier keys it replaced. Keys stay in memory only. A keyring
// from OpenNodeKeys also finds, when it needs one, a key added to the
// node's keystore after the start.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string][]*seal.PrivateKey // newest first
	src  *keySource                    // nil: only the keys given to Add
}

// Add makes key usable for reader (an organization ID or a patient ID),
// before the keys it already holds for reader.
func (k *Keyring) Add(reader string, key *seal.PrivateKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string][]*seal.PrivateKey)
	}
	pub := key.Public().Bytes()
	for _, have := range k.keys[reader] {
		if string(have.Public().Bytes()) == string(pub) {
			return
		}
	}
	k.keys[reader] = append([]*seal.PrivateKey{key}, k.keys[reader]...)
}

// Unlock adds reader's encryption keys from ks that open with passphrase,
// the current one and those it replaced, and returns how many opened. A
// custodial patient's sign-in calls it with the patient's passphrase.
func (k *Keyring) Unlock(ks *keystore.Store, reader string, passphrase []byte) (int, error) {
	entries, err := ks.List()
	if err != nil {
		return 0, err
	}
	opened := 0
	for _, e := range byGeneration(entries, reader) {
		key, err := unlockEncryptionKey(ks, e.Name, passphrase)
		if errors.Is(err, keystore.ErrWrongPassphrase) {
			continue
		} else if err != nil {
			return opened, fmt.Errorf("encryption key %s: %w", e.Name, err)
		}
		k.Add(reader, key)
		opened++
	}
	return opened, nil
}

func (k *Keyring) held(reader string) []*seal.PrivateKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[reader]
}

// Identity is identity, for callers outside the package: what opens keys
// wrapped to reader (with seal.UnwrapEpochKey, OpenSealed, AuditLog).
func (k *Keyring) Identity(reader string) (seal.Identity, bool) { return k.identity(reader) }

// identity returns what opens keys wrapped to reader: its keys here, newest
// first, each in turn. It is false if this node holds no key of reader.
func (k *Keyring) identity(reader string) (seal.Identity, bool) {
	if len(k.held(reader)) == 0 && k.load(reader) == 0 {
		return nil, false
	}
	return readerKeys{k, reader}, true
}

// load adds reader's keys that its key source has and this keyring does not
// yet, and returns how many it added.
func (k *Keyring) load(reader string) int {
	if k.src == nil {
		return 0
	}
	found := k.src.encryptionKeys(reader)
	for _, key := range found {
		k.Add(reader, key)
	}
	return len(found)
}

// readerKeys is a seal.Identity made of one reader's keys. A wrap none of
// them opens (a wrap to a key added after the start) makes the keyring look
// in its key source once, then try again.
type readerKeys struct {
	kr     *Keyring
	reader string
}

func (r readerKeys) Unwrap(wrapped, info []byte) ([]byte, error) {
	key, err := unwrapWithAny(r.kr.held(r.reader), wrapped, info)
	if err == nil || r.kr.load(r.reader) == 0 {
		return key, err
	}
	return unwrapWithAny(r.kr.held(r.reader), wrapped, info)
}

func unwrapWithAny(keys []*seal.PrivateKey, wrapped, info []byte) ([]byte, error) {
	err := seal.ErrDecrypt
	for _, k := range keys {
		var key []byte
		if key, err = k.Unwrap(wrapped, info); err == nil {
			return key, nil
		}
	}
	return nil, err
}

// Custodian holds the signing keys of principals whose keys this node keeps
// (custodial staff and portal users), unlocked, in memory only. One from
// OpenNodeKeys also finds a staff key added to the node's keystore after
// the start.
type Custodian struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PrivateKey
	src  *keySource // nil: only the keys given to Add
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
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if !ok && c.src != nil {
		if k, ok = c.src.signingKey(id); ok {
			c.Add(id, k)
		}
	}
	return Signer{ID: id, Key: k}, ok
}

// PrincipalOfKeyName maps a keystore name back to a principal ID:
// "st-mary.dr-chen" → "st-mary/dr-chen", "patient.demo-01" → "patient/demo-01".
// Encryption keys' names map to none.
func PrincipalOfKeyName(name string) (string, bool) {
	org, rest, ok := strings.Cut(name, ".")
	if _, _, enc := readerOfKeyName(name); !ok || enc {
		return "", false
	}
	return org + "/" + rest, true
}

// Holds reports whether c holds id's key now (without looking in its key
// source).
func (c *Custodian) Holds(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.keys[id]
	return ok
}

// Remove forgets id's key (a custodial patient who signed out).
func (c *Custodian) Remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, id)
}

// Holds reports whether k holds a key of reader now (without looking in
// its key source).
func (k *Keyring) Holds(reader string) bool { return len(k.held(reader)) > 0 }

// Remove forgets every key of reader (a custodial patient who signed out).
func (k *Keyring) Remove(reader string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, reader)
}
