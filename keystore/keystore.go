// Package keystore keeps Ed25519 private keys on disk, only ever in encrypted
// form.
//
// Each key lives in its own file, <dir>/<name>.key, a small JSON document
// holding the public key, the creation time and the 32-byte Ed25519 seed
// encrypted with XChaCha20-Poly1305 under a key derived from a passphrase
// with scrypt. The version, name and public key are bound to the ciphertext
// as associated data, so moving fields between files makes decryption fail.
//
// Typical use:
//
//	ks, err := keystore.Open("/var/lib/carechain/keys", keystore.DefaultKDF)
//	if err != nil { ... }
//	pub, err := ks.Create("validator", passphrase)
//	...
//	priv, err := ks.Unlock("validator", passphrase)
//	if errors.Is(err, keystore.ErrWrongPassphrase) { ... }
//	sig := ed25519.Sign(priv, msg)
//
// List and Public need no passphrase, but the public keys and creation times
// they return are read from the file without authentication: anyone able to
// write the key directory can change them. Only Unlock verifies a key file
// (the passphrase authenticates its name and public key).
//
// Files are written with mode 0600 through a temporary file, fsync and rename,
// so a key file is either absent or complete. The directory should be on a
// local file system that supports hard links (Create relies on them to never
// overwrite an existing key). Store methods may be called concurrently; the
// package never logs. Callers should zero passphrases and unlocked private
// keys when they are done with them.
package keystore

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

var (
	// ErrNotFound is returned when the named key does not exist.
	ErrNotFound = errors.New("keystore: no such key")
	// ErrExists is returned by Create and Import when the name is taken.
	ErrExists = errors.New("keystore: key already exists")
	// ErrWrongPassphrase is returned by Unlock when decryption fails: the
	// passphrase is wrong, or the key file was corrupted or tampered with.
	ErrWrongPassphrase = errors.New("keystore: wrong passphrase")

	errEmptyPassphrase = errors.New("keystore: empty passphrase")
)

const (
	fileVersion  = 1
	fileSuffix   = ".key"
	saltSize     = 32
	maxFileSize  = 64 << 10
	maxNameLen   = 64
	kdfName      = "scrypt"
	cipherName   = "chacha20poly1305"
	maxScryptMem = 1 << 30 // bound on 128*N*r*p, see KDFParams
)

// KDFParams are scrypt cost parameters (N, r, p). Accepted values are N a
// power of two in [1<<10, 1<<20], r in [1, 32], p in [1, 16], and in addition
// 128*N*r*p at most 1 GiB so that a hand-edited file cannot make Unlock run
// for minutes or exhaust memory.
type KDFParams struct{ N, R, P int }

var (
	// DefaultKDF (N=1<<15, r=8, p=1) is the setting to use for real keys.
	DefaultKDF = KDFParams{N: 1 << 15, R: 8, P: 1}
	// FastKDF (N=1<<10, r=8, p=1) is cheap to brute-force. It exists only
	// for tests and demos with throwaway keys; never use it for real keys.
	FastKDF = KDFParams{N: 1 << 10, R: 8, P: 1}
)

func (k KDFParams) validate() error {
	switch {
	case k.N < 1<<10 || k.N > 1<<20 || k.N&(k.N-1) != 0:
		return fmt.Errorf("scrypt N=%d is not a power of two in [1<<10, 1<<20]", k.N)
	case k.R < 1 || k.R > 32:
		return fmt.Errorf("scrypt r=%d is not in [1, 32]", k.R)
	case k.P < 1 || k.P > 16:
		return fmt.Errorf("scrypt p=%d is not in [1, 16]", k.P)
	case 128*int64(k.N)*int64(k.R)*int64(k.P) > maxScryptMem:
		return fmt.Errorf("scrypt N=%d r=%d p=%d exceeds the cost limit (128*N*r*p <= 1 GiB)", k.N, k.R, k.P)
	}
	return nil
}

// Store is a directory of encrypted key files. Create one with Open.
type Store struct {
	dir string
	kdf KDFParams
	mu  sync.Mutex // serialises writes made through this Store
}

// Open opens the key directory dir, creating it with mode 0700 if it does not
// exist. kdf is used to encrypt keys written through the returned Store;
// existing files carry their own parameters. Use DefaultKDF for real keys.
func Open(dir string, kdf KDFParams) (*Store, error) {
	if err := kdf.validate(); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			err = os.Chmod(dir, 0o700) // in case of an unusual umask
		}
		if err != nil {
			return nil, fmt.Errorf("keystore: creating directory: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("keystore: %s is not a directory", dir)
	}
	return &Store{dir: dir, kdf: kdf}, nil
}

// Entry describes a stored key. PublicKey and Created are not authenticated
// (see the package documentation).
type Entry struct {
	Name      string
	PublicKey ed25519.PublicKey
	Created   time.Time
}

// ValidName reports whether name is acceptable as a key name: 1 to 64
// characters from [a-z0-9._-], not starting with '.'.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Create generates a new key pair with crypto/rand, stores it under name
// encrypted with passphrase and returns its public key. It returns ErrExists,
// leaving the existing file untouched, if name is already in use.
func (s *Store) Create(name string, passphrase []byte) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keystore: generating key: %w", err)
	}
	defer clear(priv)
	if err := s.write(name, priv, passphrase, false); err != nil {
		return nil, err
	}
	return pub, nil
}

// Import stores an existing private key under name, encrypted with
// passphrase. It returns ErrExists if name is already in use.
func (s *Store) Import(name string, priv ed25519.PrivateKey, passphrase []byte) error {
	return s.write(name, priv, passphrase, false)
}

// Replace atomically overwrites the existing key name with priv encrypted
// under passphrase (which may differ from the old one), for example after a
// key rotation. The creation time is reset. It returns ErrNotFound if name
// does not exist.
func (s *Store) Replace(name string, priv ed25519.PrivateKey, passphrase []byte) error {
	return s.write(name, priv, passphrase, true)
}

// List returns the keys in the store sorted by name. It needs no passphrase
// and fails if any key file is malformed.
func (s *Store) List() ([]Entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var out []Entry
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), fileSuffix)
		if !ok || !ValidName(name) {
			continue // temporary files start with '.', other files are not ours
		}
		kf, err := s.load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Name: name, PublicKey: kf.PublicKey, Created: kf.created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Public returns the public key stored under name without needing the
// passphrase. The value is not authenticated; Unlock verifies it.
func (s *Store) Public(name string) (ed25519.PublicKey, error) {
	e, err := s.Entry(name)
	return e.PublicKey, err
}

// Entry describes the key stored under name, as List does, without needing
// the passphrase. It returns ErrNotFound if there is no such key.
func (s *Store) Entry(name string) (Entry, error) {
	kf, err := s.load(name)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Name: name, PublicKey: kf.PublicKey, Created: kf.created}, nil
}

// Unlock decrypts and returns the private key stored under name. It returns
// ErrNotFound if there is no such key and an error wrapping
// ErrWrongPassphrase if the passphrase is wrong or the file was tampered
// with. The caller should zero the returned key when done.
func (s *Store) Unlock(name string, passphrase []byte) (ed25519.PrivateKey, error) {
	kf, err := s.load(name)
	if err != nil {
		return nil, err
	}
	p := s.path(name)
	aead, err := newAEAD(passphrase, kf.Salt, KDFParams{kf.Scrypt.N, kf.Scrypt.R, kf.Scrypt.P})
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", p, err)
	}
	seed, err := aead.Open(nil, kf.Nonce, kf.Ciphertext, associatedData(kf.Version, kf.Name, kf.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("%w (or corrupted key file %s)", ErrWrongPassphrase, p)
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), kf.PublicKey) {
		clear(priv)
		return nil, fmt.Errorf("%w: %s: seed does not match the stored public key", ErrWrongPassphrase, p)
	}
	return priv, nil
}

// Decoy does the work of an Unlock that fails, scrypt with the Store's
// parameters and a decryption that does not verify, and returns nothing.
// Passphrase login calls it for a name without a key, so that an unknown
// name costs what a wrong passphrase costs and the two cannot be told apart
// by timing.
func (s *Store) Decoy(passphrase []byte) {
	aead, err := newAEAD(passphrase, make([]byte, saltSize), s.kdf)
	if err != nil {
		return
	}
	_, _ = aead.Open(nil, make([]byte, aead.NonceSize()), make([]byte, ed25519.SeedSize+aead.Overhead()), nil)
}

// keyFile is the on-disk format. []byte fields are standard base64 in JSON.
type keyFile struct {
	Version    int          `json:"version"`
	Name       string       `json:"name"`
	PublicKey  []byte       `json:"public_key"`
	Created    string       `json:"created"`
	KDF        string       `json:"kdf"`
	Scrypt     scryptParams `json:"scrypt"`
	Salt       []byte       `json:"salt"`
	Cipher     string       `json:"cipher"`
	Nonce      []byte       `json:"nonce"`
	Ciphertext []byte       `json:"ciphertext"`

	created time.Time
}

type scryptParams struct {
	N int `json:"n"`
	R int `json:"r"`
	P int `json:"p"`
}

// associatedData binds the format version, the name and the public key to
// the ciphertext. Names are at most 64 bytes, so the encoding is unambiguous.
func associatedData(version int, name string, pub []byte) []byte {
	ad := []byte("carechain-keystore\x00")
	ad = append(ad, byte(version), byte(len(name)))
	ad = append(ad, name...)
	return append(ad, pub...)
}

// newAEAD derives the file key with scrypt and returns the XChaCha20-Poly1305
// AEAD for it. The derived key buffer is zeroed before returning.
func newAEAD(passphrase, salt []byte, k KDFParams) (cipher.AEAD, error) {
	key, err := scrypt.Key(passphrase, salt, k.N, k.R, k.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+fileSuffix) }

// load reads and validates the key file for name without decrypting it.
func (s *Store) load(name string) (*keyFile, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("keystore: invalid key name %q", name)
	}
	p := s.path(name)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	} else if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: %s: not a regular file", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("keystore: %s: file too large", p)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("keystore: %s: malformed key file: %w", p, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("keystore: %s: malformed key file: trailing data", p)
	}
	if err := kf.validate(name); err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", p, err)
	}
	return &kf, nil
}

func (kf *keyFile) validate(name string) error {
	var err error
	switch {
	case kf.Version != fileVersion:
		return fmt.Errorf("unsupported version %d", kf.Version)
	case kf.Name != name:
		return fmt.Errorf("name field %q does not match file name", kf.Name)
	case len(kf.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("public key is %d bytes, want %d", len(kf.PublicKey), ed25519.PublicKeySize)
	case kf.KDF != kdfName:
		return fmt.Errorf("unsupported kdf %q", kf.KDF)
	case kf.Cipher != cipherName:
		return fmt.Errorf("unsupported cipher %q", kf.Cipher)
	case len(kf.Salt) != saltSize:
		return fmt.Errorf("salt is %d bytes, want %d", len(kf.Salt), saltSize)
	case len(kf.Nonce) != chacha20poly1305.NonceSizeX:
		return fmt.Errorf("nonce is %d bytes, want %d", len(kf.Nonce), chacha20poly1305.NonceSizeX)
	case len(kf.Ciphertext) != ed25519.SeedSize+chacha20poly1305.Overhead:
		return fmt.Errorf("ciphertext is %d bytes, want %d", len(kf.Ciphertext), ed25519.SeedSize+chacha20poly1305.Overhead)
	}
	if err = (KDFParams{kf.Scrypt.N, kf.Scrypt.R, kf.Scrypt.P}).validate(); err != nil {
		return err
	}
	if kf.created, err = time.Parse(time.RFC3339, kf.Created); err != nil {
		return fmt.Errorf("bad created time: %w", err)
	}
	return nil
}

// write encrypts priv and stores it as name. If replace is false the name
// must not exist (ErrExists); if true it must exist (ErrNotFound).
func (s *Store) write(name string, priv ed25519.PrivateKey, passphrase []byte, replace bool) error {
	if !ValidName(name) {
		return fmt.Errorf("keystore: invalid key name %q", name)
	}
	if len(passphrase) == 0 {
		return errEmptyPassphrase
	}
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("keystore: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	seed := priv.Seed()
	defer clear(seed)
	check := ed25519.NewKeyFromSeed(seed)
	pub := ed25519.PublicKey(bytes.Clone(check[ed25519.SeedSize:]))
	clear(check)
	if !bytes.Equal(pub, priv[ed25519.SeedSize:]) {
		return errors.New("keystore: malformed private key (public half does not match seed)")
	}

	kf := keyFile{
		Version: fileVersion, Name: name, PublicKey: pub,
		Created: time.Now().UTC().Format(time.RFC3339),
		KDF:     kdfName, Scrypt: scryptParams{s.kdf.N, s.kdf.R, s.kdf.P},
		Salt:   make([]byte, saltSize),
		Cipher: cipherName, Nonce: make([]byte, chacha20poly1305.NonceSizeX),
	}
	if _, err := rand.Read(kf.Salt); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if _, err := rand.Read(kf.Nonce); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	aead, err := newAEAD(passphrase, kf.Salt, s.kdf)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	kf.Ciphertext = aead.Seal(nil, kf.Nonce, seed, associatedData(kf.Version, name, pub))
	data, err := json.MarshalIndent(&kf, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return s.install(name, append(data, '\n'), replace)
}

// install writes data to a temporary file in the store directory, then moves
// it to the key file for name: by hard link when creating (which fails if the
// name exists, like O_EXCL), by rename when replacing.
func (s *Store) install(name string, data []byte, replace bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	final := s.path(name)
	if replace {
		if _, err := os.Lstat(final); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		} else if err != nil {
			return fmt.Errorf("keystore: %w", err)
		}
	}
	// CreateTemp uses mode 0600; the leading '.' keeps temporary files out
	// of the key name space.
	f, err := os.CreateTemp(s.dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer os.Remove(f.Name()) // after Link this drops the temporary name
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && replace {
		err = os.Rename(f.Name(), final)
	} else if err == nil {
		if err = os.Link(f.Name(), final); errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %q", ErrExists, name)
		}
	}
	if err != nil {
		return fmt.Errorf("keystore: writing %s: %w", final, err)
	}
	// Make the new directory entry durable.
	d, err := os.Open(s.dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return fmt.Errorf("keystore: %s written but directory sync failed: %w", final, err)
	}
	return nil
}
