package records

import (
	"crypto/rand"
	"fmt"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
)

// sealToOrgs seals plain for organizations orgs, as the supply journal and
// a private ship's details are sealed: under a fresh AES-256-GCM content
// key, bound to ad, the key wrapped with HPKE to each organization's
// encryption key with info(org). It returns the wraps, in orgs' order,
// and nonce ‖ ciphertext.
func sealToOrgs(v *ledger.View, orgs []string, info func(org string) []byte, plain, ad []byte) (wraps [][]byte, sealed []byte, err error) {
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	defer clear(k)
	for _, org := range orgs {
		pub, err := orgEncryptionKey(v, org)
		if err != nil {
			return nil, nil, err
		}
		w, err := pub.Wrap(k, info(org))
		if err != nil {
			return nil, nil, fmt.Errorf("wrap to %s: %w", org, err)
		}
		wraps = append(wraps, w)
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return wraps, gcm(k).Seal(nonce, nonce, plain, ad), nil
}
