// Package launch is the authorization-code side of SMART App Launch 2.0
// (standalone launch) shared by the node's two HTTP surfaces: the portal,
// where a person signs in and approves an app's scopes (authorization
// endpoint, consent screen), and the FHIR API, whose token endpoint trades
// the code for a token.
//
// Check reads an authorization request against the ledger: the app must be
// a registered, active App Launch app (ledger.ClientRegistration.App), the
// redirect URI one of its registered ones, compared exactly, the audience
// this server's FHIR base, and PKCE S256 is required ("plain" is refused).
// A request with a bad client or redirect URI is never redirected: its
// error is shown to the person (Error.Redirectable is false).
//
// Codes holds issued codes in memory: 256 random bits each, valid for
// CodeTTL, usable once, bound to the app, the redirect URI, the PKCE
// challenge, the person and the approved scopes. A code presented a
// second time is refused and names the token its first use got, so the
// token endpoint can end it (RFC 6749 §4.1.2). A restart forgets every
// code: apps start again.
package launch

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/carechain/carechain/ledger"
)

// Limits on an authorization request's values: they come from anyone's
// browser.
const (
	maxState = 512
	maxScope = 2048
	// A PKCE code verifier is 43 to 128 unreserved characters (RFC 7636
	// §4.1); its S256 challenge is 43 base64url characters.
	minVerifier, maxVerifier = 43, 128
	challengeLen             = 43
)

// Error is an authorization error (RFC 6749 §4.1.2.1). A Redirectable one
// goes back to the app at its redirect URI; one that is not (bad client,
// bad redirect URI) is shown to the person and goes nowhere.
type Error struct {
	Code         string // invalid_request, unauthorized_client, access_denied, invalid_scope, …
	Description  string
	Redirectable bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Redirectable: true}
}

// Request is a checked authorization request.
type Request struct {
	ClientID    string
	RedirectURI string
	State       string
	Challenge   string // the PKCE S256 code challenge
	Scope       string // as requested, space-separated
	Aud         string // the FHIR base the token is for
	Client      *ledger.ClientRegistration
}

// Params are a request's values, to carry it through a form (the consent
// screen posts them back, and Check runs again).
func (r Request) Params() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {r.ClientID}, "redirect_uri": {r.RedirectURI},
		"state": {r.State}, "code_challenge": {r.Challenge}, "code_challenge_method": {"S256"}, "scope": {r.Scope}, "aud": {r.Aud}}
}

// Check reads authorization request q (query or form values) against the
// ledger state v, for the FHIR base aud. On error the request is partly
// read: a Redirectable *Error goes to r.RedirectURI with r.State.
func Check(v *ledger.View, q url.Values, aud string) (Request, error) {
	for name, vals := range q {
		if len(vals) > 1 {
			return Request{}, &Error{Code: "invalid_request", Description: name + " given more than once"}
		}
	}
	r := Request{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri")}
	c, err := v.Client(r.ClientID)
	switch {
	case r.ClientID == "" || errors.Is(err, ledger.ErrNotFound):
		return r, &Error{Code: "invalid_client", Description: fmt.Sprintf("no app %q is registered here", r.ClientID)}
	case err != nil:
		return r, fmt.Errorf("app %q: %w", r.ClientID, err)
	case !c.App():
		return r, &Error{Code: "unauthorized_client", Description: fmt.Sprintf("%q is not an App Launch app", r.ClientID)}
	case !c.Active():
		return r, &Error{Code: "unauthorized_client", Description: fmt.Sprintf("the app %q was ended", r.ClientID)}
	case !slices.Contains(c.RedirectURIs, r.RedirectURI):
		return r, &Error{Code: "invalid_request", Description: fmt.Sprintf("redirect_uri %q is not one the app %q registered", r.RedirectURI, r.ClientID)}
	}
	r.Client, r.State, r.Aud = c, q.Get("state"), q.Get("aud")
	r.Challenge, r.Scope = q.Get("code_challenge"), strings.Join(strings.Fields(q.Get("scope")), " ")
	switch {
	case q.Get("response_type") != "code":
		return r, refuse("unsupported_response_type", "response_type must be code")
	case r.State == "" || len(r.State) > maxState:
		return r, refuse("invalid_request", "state is required, at most %d bytes", maxState)
	case q.Get("code_challenge_method") != "S256":
		return r, refuse("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
	case len(r.Challenge) != challengeLen || !base64url(r.Challenge):
		return r, refuse("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier")
	case strings.TrimRight(q.Get("aud"), "/") != strings.TrimRight(aud, "/"):
		return r, refuse("invalid_request", "aud must be this server's FHIR base, %s", aud)
	case r.Scope == "" || len(r.Scope) > maxScope:
		return r, refuse("invalid_scope", "scope is required, at most %d bytes", maxScope)
	}
	return r, nil
}

// Redirect is where to send the browser: u with params added to its query.
func Redirect(u string, params url.Values) string {
	parsed, err := url.Parse(u)
	if err != nil { // registered URIs parse (tx.ValidRedirectURI)
		return ""
	}
	q := parsed.Query()
	for k, v := range params {
		q[k] = v
	}
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// ErrorRedirect is where a Redirectable error sends the browser.
func (e *Error) RedirectTo(r Request) string {
	p := url.Values{"error": {e.Code}, "error_description": {e.Description}}
	if r.State != "" {
		p.Set("state", r.State)
	}
	return Redirect(r.RedirectURI, p)
}

// ValidVerifier checks a PKCE code verifier's form and that its S256
// challenge is challenge (in constant time).
func ValidVerifier(verifier, challenge string) bool {
	if len(verifier) < minVerifier || len(verifier) > maxVerifier || strings.ContainsFunc(verifier, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c))
	}) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func base64url(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func randomCode() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
