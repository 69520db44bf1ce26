package launch

import (
	"errors"
	"sync"
	"time"
)

// CodeTTL is how long an authorization code can be traded for a token.
const CodeTTL = 60 * time.Second

// maxCodes bounds the codes kept; past it, expired ones are dropped, and
// if none has expired the code is not issued.
const maxCodes = 1 << 14

// Grant is what a person approved: the token a code is traded for.
type Grant struct {
	ClientID    string
	RedirectURI string
	Challenge   string
	Principal   string
	Scopes      []string // approved, each as requested
}

// Errors of Redeem; each is an invalid_grant but ErrUnknownClient.
var (
	ErrUnknownCode   = errors.New("the code is unknown or has expired")
	ErrCodeReused    = errors.New("the code was used before: the token it gave is ended")
	ErrCodeMismatch  = errors.New("the code was issued to another client or redirect_uri")
	ErrWrongVerifier = errors.New("code_verifier does not match the code_challenge")
	ErrCodesFull     = errors.New("too many authorization codes outstanding: try again in a minute")
)

type code struct {
	grant   Grant
	expires time.Time
	used    bool
	token   string // what its first use got
}

// Codes holds issued codes in memory; it is safe for concurrent use.
type Codes struct {
	mu    sync.Mutex
	codes map[string]*code
}

// NewCodes returns an empty store.
func NewCodes() *Codes { return &Codes{codes: map[string]*code{}} }

// Issue stores g under a new code valid until now + CodeTTL.
func (cs *Codes) Issue(g Grant, now time.Time) (string, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.codes) >= maxCodes {
		for k, c := range cs.codes {
			if now.After(c.expires) {
				delete(cs.codes, k)
			}
		}
		if len(cs.codes) >= maxCodes {
			return "", ErrCodesFull
		}
	}
	k := randomCode()
	cs.codes[k] = &code{grant: g, expires: now.Add(CodeTTL)}
	return k, nil
}

// Redeem uses code once, for the client and redirect URI it was issued
// to, with the PKCE verifier of its challenge. A code used before is
// refused with ErrCodeReused and the token its first use got (Bind), to
// be ended; a code presented with a wrong verifier is spent.
func (cs *Codes) Redeem(k, clientID, redirectURI, verifier string, now time.Time) (Grant, string, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.codes[k]
	switch {
	case !ok || now.After(c.expires):
		return Grant{}, "", ErrUnknownCode
	case c.used:
		tok := c.token
		c.token = ""
		return Grant{}, tok, ErrCodeReused
	}
	c.used = true
	switch {
	case c.grant.ClientID != clientID || c.grant.RedirectURI != redirectURI:
		return Grant{}, "", ErrCodeMismatch
	case !ValidVerifier(verifier, c.grant.Challenge):
		return Grant{}, "", ErrWrongVerifier
	}
	return c.grant, "", nil
}

// Bind notes the token code k's use got, for Redeem to name if k is
// presented again.
func (cs *Codes) Bind(k, token string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.codes[k]; ok {
		c.token = token
	}
}
