package tx

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/carechain/carechain/trust"
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
	// Bypass, switched off (only in a build with -tags notrust, see package
	// trust), accepts every signature unchecked.
	Bypass trust.Bypass

	mu       sync.Mutex
	expanded map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey
}

// maxExpandedKeys bounds the cache; past it the cache starts over.
const maxExpandedKeys = 10_000

// Verify checks s's signature under pub.
func (v *Verifier) Verify(s *Signed, pub ed25519.PublicKey) error {
	if v.Bypass.Off() {
		return nil
	}
	x, ok := v.expand(pub)
	if !ok || !voi.VerifyExpandedWithOptions(x, s.Payload, s.Sig, verifyOpts) {
		return ErrBadSignature
	}
	return nil
}

// expand returns pub decompressed, from the cache if it can; false if pub
// is not a valid public key.
func (v *Verifier) expand(pub ed25519.PublicKey) (*voi.ExpandedPublicKey, bool) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, false
	}
	k := [ed25519.PublicKeySize]byte(pub)
	v.mu.Lock()
	x, ok := v.expanded[k]
	v.mu.Unlock()
	if ok {
		return x, true
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil, false
	}
	v.mu.Lock()
	if v.expanded == nil || len(v.expanded) >= maxExpandedKeys {
		v.expanded = make(map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey)
	}
	v.expanded[k] = x
	v.mu.Unlock()
	return x, true
}

// VerifyBatch checks the signature of each ss[i] under pubs[i] in one
// batch, and returns each verdict: the same as Verify's, since ZIP-215
// rules make batch and single verification agree. When all verify, a batch
// costs about half as much per signature as checking each; when one does
// not, the batch falls back to checking each. The batch draws randomness
// (crypto/rand), which only keeps a forger from arranging bad signatures
// that cancel out: it never changes a verdict, so a verdict may decide
// state.
func (v *Verifier) VerifyBatch(ss []*Signed, pubs []ed25519.PublicKey) []bool {
	ok := make([]bool, len(ss))
	if len(ss) < 2 || v.Bypass.Off() {
		for i := range ss {
			ok[i] = v.Verify(ss[i], pubs[i]) == nil
		}
		return ok
	}
	bv := voi.NewBatchVerifierWithCapacity(len(ss))
	var idx []int // entries of the batch: ss indexes
	for i, s := range ss {
		if x, valid := v.expand(pubs[i]); valid {
			bv.AddExpandedWithOptions(x, s.Payload, s.Sig, verifyOpts)
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return ok
	}
	_, valid := bv.Verify(nil)
	for k, i := range idx {
		ok[i] = valid[k]
	}
	return ok
}
