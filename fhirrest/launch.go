package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/ledger"
)

// SMART App Launch (standalone, authorization code with PKCE): the portal
// serves the authorization endpoint (/auth/authorize: sign-in, then a
// consent screen) and issues codes into Options.Codes; the token endpoint
// here trades a code for a token (grant_type=authorization_code). An app
// proves it is the one that started the launch by the PKCE verifier. The token is the signed-in person's, held to
// the scopes they approved, within the app's registered scopes and what
// their kind of principal can have (GrantableScopes); consent, role
// policies and the access log apply to it as to any of theirs. An app
// registered with a JWKS is confidential: it also signs a client assertion
// (private_key_jwt, RS384 or ES384) when it trades a code.

// launchPatient is the scope asking for the patient in context: the
// signed-in patient, in a standalone launch.
const launchPatient = "launch/patient"

// GrantableScopes is what of the space-separated requested scopes app c
// may be given for who: each resource scope this server can grant to who
// (scopes.go) that c's registered scopes cover, and launch/patient if c
// registered it and who is a patient. Others (openid, fhirUser,
// offline_access, …) are not supported and are left out.
func GrantableScopes(requested string, c *ledger.ClientRegistration, who *carechain.Principal) []string {
	registered := strings.Fields(c.Scopes)
	var out []string
	for _, s := range strings.Fields(requested) {
		if slices.Contains(out, s) {
			continue
		}
		if s == launchPatient {
			if who.Kind == carechain.KindPatient && slices.Contains(registered, s) {
				out = append(out, s)
			}
			continue
		}
		sc, err := parseScope(s, who.Kind)
		if err != nil {
			continue
		}
		var allowed scopeSet
		for _, r := range registered {
			if rs, err := parseScope(r, who.Kind); err == nil {
				allowed = append(allowed, rs)
			}
		}
		if allowed.covers(sc) {
			out = append(out, s)
		}
	}
	return out
}

// authorizationCode is the token endpoint's authorization_code grant, for
// a request whose form token read.
func (s *server) authorizationCode(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm // read by token
	for _, name := range []string{"code", "redirect_uri", "client_id", "code_verifier"} {
		if f.Get(name) == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", name+" is required")
			return
		}
	}
	v := s.App.Latest()
	c, err := v.Client(f.Get("client_id"))
	if err != nil || !c.App() || !c.Active() {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "no active App Launch app "+f.Get("client_id")+" is registered here")
		return
	}
	if err := s.authenticateApp(c, f); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	now := s.Now()
	g, spent, err := s.Codes.Redeem(f.Get("code"), c.ID, f.Get("redirect_uri"), f.Get("code_verifier"), now)
	if errors.Is(err, launch.ErrCodeReused) && spent != "" {
		s.tokens.revoke(spent)
		s.Logger.Warn("an authorization code was presented again: the token it gave is ended", "client", c.ID)
	}
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	who, err := v.Principal(g.Principal)
	if err != nil || who.Status != carechain.StatusActive {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the person who approved the app is no longer active")
		return
	}
	granted := GrantableScopes(strings.Join(g.Scopes, " "), c, who)
	var resource []string
	for _, sc := range granted {
		if sc != launchPatient {
			resource = append(resource, sc)
		}
	}
	scopes, err := parseScopes(strings.Join(resource, " "), who.Kind)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "none of the approved scopes can be granted now: "+err.Error())
		return
	}
	tok := s.tokens.issue(session{principal: who.ID, client: c.ID, app: true, keyVersion: who.KeyVersion,
		scope: strings.Join(granted, " "), scopes: scopes, expires: now.Add(s.TokenTTL)}, now)
	s.Codes.Bind(f.Get("code"), tok)
	resp := tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.TokenTTL.Seconds()), Scope: strings.Join(granted, " ")}
	if who.Kind == carechain.KindPatient {
		s.SignIns.Hold(who.ID, fhirHolder, now.Add(s.TokenTTL))
		if slices.Contains(granted, launchPatient) {
			resp.Patient = strings.TrimPrefix(who.ID, carechain.PatientPrefix) // an id, as SMART's patient is
		}
	}
	s.Logger.Info("app launch token", "client", c.ID, "principal", who.ID, "scope", resp.Scope)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// authenticateApp checks that the form of a code's trade comes from app c:
// a public app (no keys) sends no client assertion; a confidential one (a
// JWKS) must send one it signed (private_key_jwt, as backend services do).
func (s *server) authenticateApp(c *ledger.ClientRegistration, f url.Values) error {
	assertion := f.Get("client_assertion")
	if len(c.JWKS) == 0 {
		if assertion != "" || f.Get("client_assertion_type") != "" {
			return fmt.Errorf("app %s is a public client: it has no keys to sign a client assertion with", c.ID)
		}
		return nil
	}
	if assertion == "" || f.Get("client_assertion_type") != assertionType {
		return fmt.Errorf("app %s is a confidential client: send a private_key_jwt client_assertion", c.ID)
	}
	who, err := s.verifyAssertion(assertion)
	if err != nil {
		return err
	}
	if who.client == nil || who.client.ID != c.ID {
		return fmt.Errorf("the client assertion is not app %s's", c.ID)
	}
	return nil
}
