package tx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
)

// TypeRegisterClient registers, replaces or ends a SMART client of an
// organization: either a backend-services client, software that gets
// tokens with client assertions signed by one of its JWKS keys (RS384 or
// ES384) and acts for one staff or node principal of that organization,
// within its scopes; or (App set) an App Launch app, which gets tokens for
// whoever signs in and approves it, through its registered redirect URIs.
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
	// App marks a SMART App Launch app (authorization code with PKCE): it
	// acts for no one (ActsFor is empty) but for whoever approves it, and
	// names the redirect URIs its codes may be sent to. A transaction
	// without App is a backend-services client's, checked as it always was.
	App bool `cbor:"6,keyasint,omitempty"`
	// RedirectURIs are an app's exact redirect URIs (ValidRedirectURI).
	RedirectURIs []string `cbor:"7,keyasint,omitempty"`
}

// Bounds on an app's redirect URIs.
const (
	MaxRedirectURIs   = 8
	MaxRedirectURILen = 512
)

// Validate implements Body.
func (r *RegisterClient) Validate() error {
	if r.App {
		return r.validateApp()
	}
	if len(r.RedirectURIs) > 0 {
		return fmt.Errorf("%w: only an app (App) has redirect URIs", ErrInvalid)
	}
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
	if err := checkScopesText(r.Scopes); err != nil {
		return err
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

// validateApp checks an App Launch app's registration. An app without keys
// is a public client: it proves itself with PKCE alone; one with a JWKS is
// confidential and also signs a client assertion when it trades a code.
func (r *RegisterClient) validateApp() error {
	if err := carechain.ValidatePrincipalID(r.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if carechain.OrgOf(r.ID) == "" {
		return fmt.Errorf("%w: client id must be <org>/<name>", ErrInvalid)
	}
	if r.ActsFor != "" {
		return fmt.Errorf("%w: an app acts for whoever approves it: it has no acts-for", ErrInvalid)
	}
	if r.Revoked {
		return nil
	}
	if len(r.JWKS) > 0 { // a confidential app: private_key_jwt as well as PKCE
		if _, err := ParseJWKS(r.JWKS); err != nil {
			return err
		}
	}
	if len(r.RedirectURIs) == 0 || len(r.RedirectURIs) > MaxRedirectURIs {
		return fmt.Errorf("%w: an app needs 1 to %d redirect URIs", ErrInvalid, MaxRedirectURIs)
	}
	for _, u := range r.RedirectURIs {
		if err := ValidRedirectURI(u); err != nil {
			return fmt.Errorf("%w: redirect URI %q: %v", ErrInvalid, u, err)
		}
	}
	if len(strings.Fields(r.Scopes)) == 0 {
		return fmt.Errorf("%w: an app needs at least one scope", ErrInvalid)
	}
	return checkScopesText(r.Scopes)
}

// checkScopesText bounds a client's scopes and keeps them printable ASCII.
func checkScopesText(scopes string) error {
	if len(scopes) > MaxScopesLen {
		return fmt.Errorf("%w: scopes over %d bytes", ErrInvalid, MaxScopesLen)
	}
	for _, c := range []byte(scopes) {
		if c < ' ' || c > '~' {
			return fmt.Errorf("%w: scopes must be printable ASCII", ErrInvalid)
		}
	}
	return nil
}

// ValidRedirectURI checks an app's redirect URI: an absolute https URL,
// or http to the app's own machine (127.0.0.1, [::1] or localhost, for
// native apps, RFC 8252), without user info or fragment. Codes go to a
// registered URI only, compared exactly.
func ValidRedirectURI(raw string) error {
	if len(raw) > MaxRedirectURILen {
		return fmt.Errorf("over %d bytes", MaxRedirectURILen)
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c <= ' ' || c > '~' }) {
		return errors.New("spaces, control and non-ASCII characters are not allowed")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	// The host names the origin the portal's consent screen lets its form
	// answer redirect to (its Content-Security-Policy): a DNS name or IP
	// address only.
	if strings.ContainsFunc(u.Host, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-:[]", c))
	}) {
		return errors.New("the host must be a DNS name or an IP address")
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return errors.New("not an absolute URL with a host")
	case u.User != nil || u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("user info and fragments are not allowed")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1" || u.Hostname() == "localhost"):
		return nil
	}
	return errors.New("want https, or http to 127.0.0.1, [::1] or localhost")
}
