package node

import (
	"crypto/ed25519"
	"fmt"
	"os"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/privval"
)

// ValidatorKey returns the private key of h's CometBFT validator
// (priv_validator_key.json). A joining organization signs its application
// with it, proving it holds the key it asks to validate with.
func (h Home) ValidatorKey() (ed25519.PrivateKey, error) {
	// Read here, not with privval's loaders, which exit the process on error.
	b, err := os.ReadFile(h.ValidatorKeyFile())
	if err != nil {
		return nil, fmt.Errorf("validator key: %w", err)
	}
	var k privval.FilePVKey
	if err := cmtjson.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("validator key %s: %w", h.ValidatorKeyFile(), err)
	}
	priv, ok := k.PrivKey.(cmted25519.PrivKey)
	if !ok || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("validator key %s: not an Ed25519 key", h.ValidatorKeyFile())
	}
	return ed25519.PrivateKey(priv), nil
}
