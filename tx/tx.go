// Package tx defines carechain transactions: their canonical encoding, their
// signatures and the bounds every decoder enforces.
//
// A transaction travels as an Envelope: the canonical CBOR encoding of a Tx
// (the payload) and an Ed25519 signature over exactly those bytes. The payload
// names the chain, the signer (a principal ID, not a key, so keys can rotate),
// a per-signer nonce that must strictly increase, the transaction type and its
// body.
//
// Encoding is RFC 8949 core deterministic CBOR. Decoding is strict: a payload or
// envelope that is not in canonical form, has duplicate or unknown fields, or
// exceeds the size limits is rejected, so every transaction has exactly one
// byte representation and one hash.
//
// Use Sign to build a transaction and Decode then Verify to check one.
//
// Each transaction type is declared, with its body and the body's stateless
// checks, in one file per module (identity.go, records.go, consent.go,
// audit.go, amend.go), which registers it (register); Types lists them.
package tx

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/trust"
)

// Limits on untrusted input.
const (
	// MaxTxBytes bounds an encoded envelope (see the root package's limits).
	MaxTxBytes = carechain.MaxTxBytes
	// MaxStringLen bounds free-text fields such as names and reasons.
	MaxStringLen = 256
	// MaxRoles bounds the roles of one principal.
	MaxRoles = 16
	// MaxEncryptionKey bounds an HPKE public key (ML-KEM-768 + X25519 is 1216 bytes).
	MaxEncryptionKey = 2048
	// MaxCiphertext bounds one encrypted record version.
	MaxCiphertext = carechain.MaxCiphertextBytes
	// MaxWraps bounds the key wraps of one transaction.
	MaxWraps = 256
	// MaxWrapBytes bounds one wrapped key.
	MaxWrapBytes = 2048
	// MaxBatch bounds the record versions of one record.batch.
	MaxBatch = 100
	// MaxAuditEvents bounds the events of one audit anchor.
	MaxAuditEvents = 1024
)

// Type names a transaction type.
type Type string

// Tx is the signed content of a transaction.
type Tx struct {
	ChainID string          `cbor:"1,keyasint"`
	Signer  string          `cbor:"2,keyasint"`
	Nonce   uint64          `cbor:"3,keyasint"`
	Type    Type            `cbor:"4,keyasint"`
	Body    cbor.RawMessage `cbor:"5,keyasint"`
}

// Envelope is a transaction as it is broadcast and stored in blocks.
type Envelope struct {
	Payload []byte `cbor:"1,keyasint"` // canonical encoding of Tx
	Sig     []byte `cbor:"2,keyasint"` // Ed25519 over Payload
}

// Signed is a decoded envelope: the transaction, the bytes that were signed and the signature.
type Signed struct {
	Tx
	Payload []byte
	Sig     []byte
	// Hash is SHA-256 of the whole envelope, the same as CometBFT's tx hash.
	Hash [32]byte
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = carechain.NewError(carechain.KindMalformed, "malformed transaction")

// ErrTooLarge is returned for an envelope over MaxTxBytes.
var ErrTooLarge = carechain.NewError(carechain.KindTooLarge, "transaction too large")

// ErrBadSignature is returned by Verify.
var ErrBadSignature = errors.New("bad signature")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       256,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v in canonical form.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes canonical CBOR into v strictly: unknown fields, duplicate
// keys, trailing bytes and non-canonical encodings are errors.
func Unmarshal(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if string(again) != string(data) {
		return fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return nil
}

// UnmarshalState decodes CBOR the ledger wrote itself (its state) into v:
// strictly, like Unmarshal (unknown fields, duplicate keys and trailing
// bytes are errors), but without re-encoding v to check the canonical
// form, which only input from outside the node needs and which costs as
// much as the decoding.
func UnmarshalState(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Sign builds a signed envelope for t. The body is encoded canonically.
func Sign(key ed25519.PrivateKey, chainID, signer string, nonce uint64, typ Type, body any) ([]byte, error) {
	return SignUnder(trust.Bypass{}, key, chainID, signer, nonce, typ, body)
}

// SignUnder is Sign, but with bypass switched off (only in a build with -tags
// notrust) the envelope's signature is zeros: only a node whose Verifier
// bypasses the check admits it.
func SignUnder(bypass trust.Bypass, key ed25519.PrivateKey, chainID, signer string, nonce uint64, typ Type, body any) ([]byte, error) {
	b, err := Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s body: %w", typ, err)
	}
	payload, err := Marshal(Tx{ChainID: chainID, Signer: signer, Nonce: nonce, Type: typ, Body: b})
	if err != nil {
		return nil, fmt.Errorf("encode %s tx: %w", typ, err)
	}
	var sig []byte
	if bypass.Off() {
		sig = make([]byte, ed25519.SignatureSize)
	} else {
		sig = ed25519.Sign(key, payload)
	}
	env, err := Marshal(Envelope{Payload: payload, Sig: sig})
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	if len(env) > MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env), MaxTxBytes)
	}
	return env, nil
}

// Decode parses an envelope and its payload. It does not check the signature.
func Decode(raw []byte) (*Signed, error) {
	if len(raw) > MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxTxBytes)
	}
	var env Envelope
	if err := Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if len(env.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(env.Sig), ed25519.SignatureSize)
	}
	s := &Signed{Payload: env.Payload, Sig: env.Sig, Hash: sha256.Sum256(raw)}
	if err := Unmarshal(env.Payload, &s.Tx); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if s.ChainID == "" || s.Signer == "" || s.Type == "" {
		return nil, fmt.Errorf("%w: chain id, signer and type are required", ErrMalformed)
	}
	if len(s.ChainID) > 64 || len(s.Signer) > 128 || len(s.Type) > 64 {
		return nil, fmt.Errorf("%w: chain id, signer or type too long", ErrMalformed)
	}
	return s, nil
}

// Verify checks the signature against the signer's public key.
func (s *Signed) Verify(pub ed25519.PublicKey) error {
	if !VerifySignature(pub, s.Payload, s.Sig) {
		return ErrBadSignature
	}
	return nil
}

// DecodeBody decodes the body of s into the body type of its Type. It returns
// ErrUnknownType for a type this version does not know, and runs the body's
// stateless checks.
func (s *Signed) DecodeBody() (Body, error) {
	b, err := newBody(s.Type)
	if err != nil {
		return nil, err
	}
	if err := Unmarshal(s.Body, b); err != nil {
		return nil, fmt.Errorf("%s body: %w", s.Type, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%s body: %w", s.Type, err)
	}
	return b, nil
}
