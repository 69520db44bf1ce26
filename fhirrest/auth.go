package fhirrest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Client assertions (SMART backend services, RFC 7523): a JWT signed with
// EdDSA by the principal's ledger key, iss = sub = principal ID, or signed
// with RS384 or ES384 by a key of a registered client's JWKS (clients.go),
// iss = sub = client ID, aud = the token URL, iat (not before this server started, at most replay.MaxAhead
// ahead of its clock), expiring within maxAssertionTTL, with a unique jti.
//
// Seen jtis are kept in memory until they expire (replay.Guard). A restart
// forgets them, so assertions issued before the server started are refused:
// none can be replayed against a restarted server. A client that writes iat
// in whole seconds (as most do; ClientAssertion writes microseconds) is
// therefore refused within the first second after a start, and one whose
// clock runs behind the server's until its clock passes the start.
const (
	assertionType   = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionTTL = 5 * time.Minute
	// assertionLeeway is the clock skew allowed on exp (and nbf).
	assertionLeeway = 30 * time.Second
	// maxAssertionsSeen bounds the jti cache; when it is full, the oldest
	// are forgotten and assertions issued before them refused.
	maxAssertionsSeen = 1 << 14
	// maxSessions bounds the issued tokens kept; past it, expired ones
	// are dropped when the next is issued.
	maxSessions = 1 << 16
)

// session is what an access token stands for. keyVersion is the version of
// the principal's key it was issued under: a token ends when that key is
// rotated or revoked.
type session struct {
	principal  string
	client     string // the registered client it was issued to, if any
	app        bool   // client is an App Launch app (launch.go)
	keyVersion uint32
	scope      string   // as granted
	scopes     scopeSet // scope, parsed
	expires    time.Time
}

// tokens holds issued bearer tokens, in memory.
type tokens struct {
	mu       sync.Mutex
	sessions map[string]session
}

func newTokens() *tokens {
	return &tokens{sessions: map[string]session{}}
}

func (t *tokens) issue(s session, now time.Time) string {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.sessions) >= maxSessions {
		for k, old := range t.sessions {
			if now.After(old.expires) {
				delete(t.sessions, k)
			}
		}
	}
	t.sessions[tok] = s
	return tok
}

// revoke ends token tok.
func (t *tokens) revoke(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sessions, tok)
}

func (t *tokens) lookup(tok string, now time.Time) (session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sessions[tok]
	if ok && now.After(s.expires) {
		delete(t.sessions, tok)
		return s, false
	}
	return s, ok
}

// TokenURL is where clients get tokens; it is the audience of assertions.
func (s *server) tokenURL() string { return strings.TrimRight(s.BaseURL, "/") + "/auth/token" }

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient,omitempty"`
}

// oauthError is an RFC 6749 error response.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"error_description\":%q}\n", code, desc)
}

// readForm reads a form body of at most carechain.MaxSmallRequestBytes into
// r.PostForm. A parameter of names given more than once is refused: which
// value counts would be up to each reader (a proxy, a log, this server).
func readForm(w http.ResponseWriter, r *http.Request, names ...string) error {
	r.Body = http.MaxBytesReader(w, r.Body, carechain.MaxSmallRequestBytes)
	if err := r.ParseForm(); err != nil {
		return errors.New("form body expected")
	}
	for _, name := range names {
		if len(r.PostForm[name]) > 1 {
			return fmt.Errorf("%s given more than once", name)
		}
	}
	return nil
}

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r, "grant_type", "client_assertion_type", "client_assertion", "scope",
		"code", "redirect_uri", "client_id", "code_verifier"); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") == "authorization_code" && s.Codes != nil {
		s.authorizationCode(w, r)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_assertion_type") != assertionType {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "use grant_type=client_credentials with a jwt-bearer client_assertion")
		return
	}
	who, err := s.verifyAssertion(r.PostForm.Get("client_assertion"))
	if err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	if who.principal == nil { // an App Launch app's key (clientKey)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client "+who.client.ID+" is an App Launch app: it gets tokens with grant_type=authorization_code")
		return
	}
	scope := r.PostForm.Get("scope")
	if who.client != nil {
		if scope, err = clientScope(scope, who.client, who.principal.Kind); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_scope", err.Error())
			return
		}
		s.writeToken(w, who.principal, who.client.ID, scope)
		return
	}
	if scope == "" {
		scope = defaultScope(who.principal.Kind)
	}
	s.writeToken(w, who.principal, "", scope)
}

// writeToken issues a token of scope (scopes.go) for principal, through
// client if one is named, or refuses a scope it cannot grant
// (invalid_scope).
func (s *server) writeToken(w http.ResponseWriter, principal *carechain.Principal, client, scope string) {
	scopes, err := parseScopes(scope, principal.Kind)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_scope", err.Error())
		return
	}
	scope = strings.Join(strings.Fields(scope), " ")
	now := s.Now()
	tok := s.tokens.issue(session{principal: principal.ID, client: client, keyVersion: principal.KeyVersion,
		scope: scope, scopes: scopes, expires: now.Add(s.TokenTTL)}, now)
	resp := tokenResponse{AccessToken: tok, TokenType: "bearer", ExpiresIn: int(s.TokenTTL.Seconds()), Scope: scope}
	if principal.Kind == carechain.KindPatient {
		resp.Patient = patientRef(principal.ID)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// assertionClaims are a client assertion's claims. iat is read as written,
// not rounded to seconds as jwt.NumericDate is, so an assertion issued
// within the second the server started can be told from one issued before.
type assertionClaims struct {
	jwt.RegisteredClaims
	IssuedAt json.Number `json:"iat"`
}

// assertionSigner is who signed a client assertion: the principal a token
// is issued for and, when a registered client signed, that client. A
// confidential App Launch app acts for no principal (nil): its assertion
// authenticates it when it trades a code (launch.go).
type assertionSigner struct {
	principal *carechain.Principal
	client    *ledger.ClientRegistration
}

// verifyAssertion checks a client assertion and returns who signed it.
func (s *server) verifyAssertion(assertion string) (assertionSigner, error) {
	var who assertionSigner
	var claims assertionClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		v := s.App.Latest()
		if t.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
			var key any
			var err error
			who, key, err = clientKey(v, t, iss)
			return key, err
		}
		pr, err := v.Principal(iss)
		if err != nil {
			return nil, fmt.Errorf("unknown client %q", iss)
		}
		if pr.Status != carechain.StatusActive {
			return nil, fmt.Errorf("the key of %s is revoked", iss)
		}
		who.principal = pr
		return ed25519.PublicKey(pr.PublicKey), nil
	}, jwt.WithValidMethods(assertionAlgs), jwt.WithAudience(s.tokenURL()), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.Now), jwt.WithLeeway(assertionLeeway))
	if err != nil {
		return who, fmt.Errorf("client assertion: %w", err)
	}
	if claims.Subject != claims.Issuer {
		return who, errors.New("client assertion: sub must equal iss")
	}
	now := s.Now()
	if claims.ExpiresAt.Sub(now) > maxAssertionTTL {
		return who, fmt.Errorf("client assertion: expires more than %v ahead", maxAssertionTTL)
	}
	iat, err := numericDate(claims.IssuedAt)
	if err != nil {
		return who, fmt.Errorf("client assertion: iat: %w", err)
	}
	if claims.ID == "" {
		return who, errors.New("client assertion: jti is required")
	}
	if err := s.assertions.Use(claims.Issuer+"/"+claims.ID, iat, claims.ExpiresAt.Add(assertionLeeway), now); err != nil {
		return who, fmt.Errorf("client assertion %s: %w", claims.ID, err)
	}
	return who, nil
}

// numericDate is a JWT NumericDate (seconds since the epoch, maybe with a
// fraction) as a time, to the microsecond.
func numericDate(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, errors.New("required")
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1<<40 {
		return time.Time{}, fmt.Errorf("%q is not a time", n)
	}
	return time.UnixMicro(int64(math.Round(f * 1e6))), nil
}

type ctxKey struct{}

// caller is the authenticated requester of a FHIR request.
type caller struct {
	// view is the ledger state the request reads: one snapshot, taken when
	// it was authenticated.
	view      *ledger.View
	principal *carechain.Principal
	scope     string   // the token's, as granted
	scopes    scopeSet // scope, parsed
	purpose   consent.Purpose
	// deid, for a research request, de-identifies its answer (deid.go).
	deid *answerDeid
}

// authed requires a bearer token; the purpose of use comes from the
// X-Purpose-Of-Use header (default treatment), or is emergency for a
// request that breaks the glass (breakGlass).
func (s *server) authed(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.SignIns.ForgetEnded(s.Now())
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sess, found := s.tokens.lookup(tok, s.Now())
		if !ok || !found {
			if id := r.PathValue("id"); id != "" {
				s.Records.RecordRefused("(unauthenticated)", sourceOf(r), id, r.Method, "no valid bearer token")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="carechain"`)
			s.fail(w, http.StatusUnauthorized, "login", errors.New("a bearer token from /auth/token is required"))
			return
		}
		v := s.App.Latest()
		p, err := v.Principal(sess.principal)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			s.failErr(w, err)
			return
		}
		if err != nil || p.Status != carechain.StatusActive {
			s.fail(w, http.StatusUnauthorized, "login", errors.New("the token's principal is no longer active"))
			return
		}
		if p.KeyVersion != sess.keyVersion {
			s.fail(w, http.StatusUnauthorized, "login", errors.New("the token's key was rotated since it was issued: get a new token"))
			return
		}
		if err := clientLive(v, sess); err != nil {
			s.fail(w, http.StatusUnauthorized, "login", err)
			return
		}
		purpose := consent.Purpose(r.Header.Get("X-Purpose-Of-Use"))
		if purpose == "" {
			purpose = consent.PurposeTreatment
		}
		if !purpose.Valid() {
			s.fail(w, http.StatusBadRequest, "value", fmt.Errorf("unknown X-Purpose-Of-Use %q", purpose))
			return
		}
		c := caller{view: v, principal: p, scope: sess.scope, scopes: sess.scopes, purpose: purpose}
		if in, ok := interactionOf(r); ok {
			if err := c.permits(in); err != nil {
				s.fail(w, http.StatusForbidden, "forbidden", err)
				return
			}
		}
		if c, ok = s.breakGlass(w, r, c); !ok {
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, c)
		if sess.client != "" { // the access log names the app (or backend client) too
			ctx = records.WithClient(ctx, sess.client)
		}
		s.serve(w, r.WithContext(ctx), c, h)
	}
}

// ClientAssertion makes a SMART backend-services client assertion for
// principal: a JWT signed (EdDSA) with its ledger key, for the token URL,
// issued now (iat to the microsecond), valid for two minutes, with a random
// jti.
func ClientAssertion(principal string, key ed25519.PrivateKey, tokenURL string) (string, error) {
	jti := make([]byte, 12)
	rand.Read(jti)
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, assertionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: principal, Subject: principal, Audience: jwt.ClaimStrings{tokenURL},
			ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: base64.RawURLEncoding.EncodeToString(jti),
		},
		IssuedAt: json.Number(strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)),
	}).SignedString(key)
}

// sourceOf is the network address a request came from, without its port.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
