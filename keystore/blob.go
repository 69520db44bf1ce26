package keystore

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// A sealed blob is any data encrypted under a passphrase the way key files
// are (scrypt, XChaCha20-Poly1305), for secrets kept outside a keystore:
// the private keys in a node backup. Its associated data is the caller's,
// so a blob cannot be moved to a context it was not made for.
type blobFile struct {
	Version    int          `json:"version"`
	KDF        string       `json:"kdf"`
	Scrypt     scryptParams `json:"scrypt"`
	Salt       []byte       `json:"salt"`
	Cipher     string       `json:"cipher"`
	Nonce      []byte       `json:"nonce"`
	Ciphertext []byte       `json:"ciphertext"`
}

// maxBlobSize bounds what OpenBlob reads: a sealed blob holds keys, not data.
const maxBlobSize = 64 << 20

// SealBlob encrypts data under passphrase with kdf, binding ad to it, and
// returns the sealed blob (JSON).
func SealBlob(data, passphrase, ad []byte, kdf KDFParams) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errEmptyPassphrase
	}
	if err := kdf.validate(); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	b := blobFile{Version: fileVersion, KDF: kdfName, Scrypt: scryptParams{kdf.N, kdf.R, kdf.P},
		Salt: make([]byte, saltSize), Cipher: cipherName, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	if _, err := rand.Read(b.Salt); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if _, err := rand.Read(b.Nonce); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	aead, err := newAEAD(passphrase, b.Salt, kdf)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	b.Ciphertext = aead.Seal(nil, b.Nonce, data, ad)
	return json.Marshal(&b)
}

// OpenBlob decrypts a blob made by SealBlob with the same ad. A wrong
// passphrase, or a blob altered or made for other associated data, is
// ErrWrongPassphrase.
func OpenBlob(sealed, passphrase, ad []byte) ([]byte, error) {
	if len(sealed) > maxBlobSize {
		return nil, fmt.Errorf("keystore: sealed blob of %d bytes is over the %d limit", len(sealed), maxBlobSize)
	}
	var b blobFile
	if err := json.Unmarshal(sealed, &b); err != nil {
		return nil, fmt.Errorf("keystore: sealed blob: %w", err)
	}
	if b.Version != fileVersion || b.KDF != kdfName || b.Cipher != cipherName ||
		len(b.Salt) != saltSize || len(b.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, errors.New("keystore: sealed blob: unknown version, algorithm or sizes")
	}
	kdf := KDFParams{b.Scrypt.N, b.Scrypt.R, b.Scrypt.P}
	if err := kdf.validate(); err != nil {
		return nil, fmt.Errorf("keystore: sealed blob: %w", err)
	}
	aead, err := newAEAD(passphrase, b.Salt, kdf)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	data, err := aead.Open(nil, b.Nonce, b.Ciphertext, ad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return data, nil
}
