package tx

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with ZIP-215 rules (curve25519-voi, as CometBFT
// itself does): they are precisely defined, so every node reaches the same
// verdict on every signature, and they are the rules under which single and
// batch verification agree. Signatures made by any standard Ed25519 signer
// (such as crypto/ed25519) verify.
var verifyOpts = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// VerifySignature reports whether sig is pub's signature of msg.
func VerifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, verifyOpts)
}

// Verifier checks signatures, keeping the decompressed form of recently used
// public keys, which makes each check about a quarter cheaper. It is safe for
// concurrent use.
type Verifier struct {
	mu       sync.Mutex
	expanded map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey
}

// maxExpandedKeys bounds the cache; past it the cache starts over.
const maxExpandedKeys = 10_000

// Verify checks s's signature under pub.
func (v *Verifier) Verify(s *Signed, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrBadSignature
	}
	k := [ed25519.PublicKeySize]byte(pub)
	v.mu.Lock()
	x, ok := v.expanded[k]
	v.mu.Unlock()
	if !ok {
		var err error
		if x, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
			return ErrBadSignature
		}
		v.mu.Lock()
		if v.expanded == nil || len(v.expanded) >= maxExpandedKeys {
			v.expanded = make(map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey)
		}
		v.expanded[k] = x
		v.mu.Unlock()
	}
	if !voi.VerifyExpandedWithOptions(x, s.Payload, s.Sig, verifyOpts) {
		return ErrBadSignature
	}
	return nil
}
