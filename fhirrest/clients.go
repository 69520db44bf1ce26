package fhirrest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Registered clients (ledger identity.client): an organization's software
// that signs its assertions with RS384 or ES384, as SMART requires servers
// to accept, by a key of the JWKS its admin put on the ledger. The key is
// the one the assertion's kid names, and it is used with the algorithm it
// is registered for only, so a client's RSA key never checks an HMAC made
// with it as the secret. The token is issued for the principal the client
// acts for, narrowed to the client's registered scopes, and ends when the
// client does, is registered to act for someone else, or the principal's
// key changes.

// assertionAlgs are the assertion algorithms the token endpoint accepts:
// EdDSA by a principal's ledger key, RS384 and ES384 by a client's key.
var assertionAlgs = []string{"EdDSA", "RS384", "ES384"}

// clientKey finds the key that checks an assertion t of a registered
// client iss, and who it signs for.
func clientKey(v *ledger.View, t *jwt.Token, iss string) (assertionSigner, any, error) {
	c, err := v.Client(iss)
	if err != nil {
		return assertionSigner{}, nil, fmt.Errorf("unknown client %q", iss)
	}
	if !c.Active() {
		return assertionSigner{}, nil, fmt.Errorf("client %s was ended", iss)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return assertionSigner{}, nil, errors.New("a client's assertion must name its key (kid)")
	}
	keys, err := tx.ParseJWKS(c.JWKS)
	if err != nil {
		return assertionSigner{}, nil, fmt.Errorf("client %s: %w", iss, err)
	}
	for _, k := range keys {
		if k.ID != kid {
			continue
		}
		if k.Alg != t.Method.Alg() {
			return assertionSigner{}, nil, fmt.Errorf("key %q of client %s signs with %s, not %s", kid, iss, k.Alg, t.Method.Alg())
		}
		if c.App() { // a confidential app, trading a code: it acts for whoever approved it
			return assertionSigner{client: c}, k.Key, nil
		}
		p, err := v.Principal(c.ActsFor)
		if err != nil || p.Status != carechain.StatusActive {
			return assertionSigner{}, nil, fmt.Errorf("client %s acts for %s, who is no longer active", iss, c.ActsFor)
		}
		return assertionSigner{principal: p, client: c}, k.Key, nil
	}
	return assertionSigner{}, nil, fmt.Errorf("client %s has no key %q", iss, kid)
}

// clientScope is the scope a token for client c is issued with: the
// requested scopes, each within c's registered ones, or those when none
// is requested. kind is the kind of the principal c acts for.
func clientScope(requested string, c *ledger.ClientRegistration, kind carechain.Kind) (string, error) {
	registered, err := parseScopes(c.Scopes, kind)
	if err != nil {
		return "", fmt.Errorf("the registered scopes of client %s: %w", c.ID, err)
	}
	if strings.TrimSpace(requested) == "" {
		return c.Scopes, nil
	}
	asked, err := parseScopes(requested, kind)
	if err != nil {
		return "", err
	}
	for i, sc := range asked {
		if !registered.covers(sc) {
			return "", fmt.Errorf("%w %q: beyond client %s's registered scopes %q", errInvalidScope, strings.Fields(requested)[i], c.ID, c.Scopes)
		}
	}
	return requested, nil
}

// clientLive checks that the client a session was issued to, if any, is
// still registered, active, and acting for the session's principal (an
// App Launch app's tokens are for whoever approved it: still an app).
func clientLive(v *ledger.View, sess session) error {
	if sess.client == "" {
		return nil
	}
	c, err := v.Client(sess.client)
	if err != nil || !c.Active() || c.App() != sess.app || !sess.app && c.ActsFor != sess.principal {
		return fmt.Errorf("the token's client %s was ended or changed since it was issued", sess.client)
	}
	return nil
}
