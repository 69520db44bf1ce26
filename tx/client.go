package tx

import (
	"fmt"
	"strings"

	"github.com/carechain/carechain"
)

// TypeRegisterClient registers, replaces or ends a SMART backend-services
// client of an organization: software that gets tokens with client
// assertions signed by one of its JWKS keys (RS384 or ES384) and acts for
// one staff or node principal of that organization, within its scopes.
const TypeRegisterClient Type = "identity.client"

func init() {
	register[RegisterClient](TypeRegisterClient)
}

// MaxScopesLen bounds a client's registered scopes.
const MaxScopesLen = 1024

// RegisterClient is signed by an admin of the client's organization. A
// registration of an ID already registered replaces it (new keys, new
// scopes); one with Revoked set ends the client for good.
type RegisterClient struct {
	// ID is the client ID, "<org>/<name>", spelled like a staff principal's.
	ID string `cbor:"1,keyasint"`
	// ActsFor is the staff or node principal of the same organization the
	// client's tokens are issued for.
	ActsFor string `cbor:"2,keyasint"`
	// JWKS is the client's public keys, a JSON Web Key Set (ParseJWKS).
	JWKS []byte `cbor:"3,keyasint,omitempty"`
	// Scopes are the SMART scopes the client may ask for, space-separated.
	Scopes  string `cbor:"4,keyasint,omitempty"`
	Revoked bool   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body.
func (r *RegisterClient) Validate() error {
	for _, id := range []string{r.ID, r.ActsFor} {
		if err := carechain.ValidatePrincipalID(id); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	org := carechain.OrgOf(r.ID)
	if org == "" {
		return fmt.Errorf("%w: client id must be <org>/<name>", ErrInvalid)
	}
	if carechain.OrgOf(r.ActsFor) != org {
		return fmt.Errorf("%w: client %s must act for a principal of %s, not %s", ErrInvalid, r.ID, org, r.ActsFor)
	}
	if len(r.Scopes) > MaxScopesLen {
		return fmt.Errorf("%w: scopes over %d bytes", ErrInvalid, MaxScopesLen)
	}
	for _, c := range []byte(r.Scopes) {
		if c < ' ' || c > '~' {
			return fmt.Errorf("%w: scopes must be printable ASCII", ErrInvalid)
		}
	}
	if r.Revoked && len(r.JWKS) == 0 {
		return nil
	}
	if _, err := ParseJWKS(r.JWKS); err != nil {
		return err
	}
	if !r.Revoked && len(r.Scopes) == 0 || r.Scopes != "" && len(strings.Fields(r.Scopes)) == 0 {
		return fmt.Errorf("%w: a client needs at least one scope", ErrInvalid)
	}
	return nil
}
