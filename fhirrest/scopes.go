package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// SMART scopes (App Launch 2.0, "Scopes and Launch Context"): a token's
// scopes say which resource types it may touch and how; consent still
// decides which records. A scope is context/type.permissions:
//
//   - context: system (a backend service acting for itself: staff and node
//     principals), user (whoever the principal is) or patient (a patient
//     principal, within their own records);
//   - type: a FHIR resource type this server knows, or * for all;
//   - permissions: SMART v2's c(reate) r(ead) u(pdate) d(elete) s(earch),
//     a non-empty subset in that order ("rs", "cruds"), or v1's read (= rs),
//     write (= cud) or * (= cruds).
//
// The token endpoint refuses, with invalid_scope, a request holding any
// scope it cannot grant: not of this form, an unknown type, a context the
// principal does not have, or v2's ?param=value restrictions (not
// supported). What it grants is what was asked; nothing is widened.
//
// Every request is then checked against the token's scopes by the
// interaction it is (permitted): a read, vread or history of a type needs
// r, a search s, a create c, an update u, a delete d, each of that type;
// each entry of a transaction or batch is checked the same way. Requests
// over several types (system history, $everything, $export) return only
// the resources of the types the token may read (scopeKeep).

// Scope permissions, in SMART v2 order.
const permOrder = "cruds"

// scope is one resource scope.
type scope struct {
	context string // system, user or patient
	typ     string // a resource type, or *
	perms   string // a subset of permOrder, in its order
}

// scopeSet is a token's scopes.
type scopeSet []scope

// DefaultScope is what a token is granted when the client asks for none:
// everything in the principal's own context, as before scopes were
// checked (consent still decides which records).
func defaultScope(kind carechain.Kind) string {
	if kind == carechain.KindPatient {
		return "patient/*.cruds"
	}
	return "system/*.cruds"
}

// errInvalidScope is a scope the token endpoint cannot grant.
var errInvalidScope = errors.New("invalid scope")

// parseScopes reads a space-separated scope request for a principal of
// kind; any scope it cannot grant is an error wrapping errInvalidScope.
func parseScopes(raw string, kind carechain.Kind) (scopeSet, error) {
	var out scopeSet
	for _, s := range strings.Fields(raw) {
		sc, err := parseScope(s, kind)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", errInvalidScope, s, err)
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no scope requested", errInvalidScope)
	}
	return out, nil
}

func parseScope(s string, kind carechain.Kind) (scope, error) {
	if strings.Contains(s, "?") {
		return scope{}, errors.New("scope restrictions (?param=value) are not supported")
	}
	ctx, rest, ok := strings.Cut(s, "/")
	typ, perms, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return scope{}, errors.New("want context/type.permissions, such as system/Observation.rs")
	}
	switch ctx {
	case "system":
		if kind == carechain.KindPatient {
			return scope{}, errors.New("a patient has no system context: ask for patient/ scopes")
		}
	case "patient":
		if kind != carechain.KindPatient {
			return scope{}, errors.New("patient/ scopes need a patient principal (there is no launch context here): ask for system/ or user/ scopes")
		}
	case "user":
	default:
		return scope{}, fmt.Errorf("unknown context %q: want system, user or patient", ctx)
	}
	if typ != "*" && !fhirjson.IsResourceType(typ) {
		return scope{}, fmt.Errorf("unknown resource type %q", typ)
	}
	switch perms {
	case "read":
		perms = "rs"
	case "write":
		perms = "cud"
	case "*":
		perms = permOrder
	default:
		if !inOrder(perms) {
			return scope{}, fmt.Errorf("permissions %q: want a subset of cruds in that order, or read, write or *", perms)
		}
	}
	return scope{context: ctx, typ: typ, perms: perms}, nil
}

// inOrder reports whether perms is a non-empty subsequence of permOrder.
func inOrder(perms string) bool {
	i := 0
	for _, p := range []byte(perms) {
		j := strings.IndexByte(permOrder[i:], p)
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return perms != ""
}

// allows reports whether some scope gives perm on typ ("" for any type).
func (ss scopeSet) allows(typ string, perm byte) bool {
	for _, s := range ss {
		if (typ == "" || s.typ == "*" || s.typ == typ) && strings.IndexByte(s.perms, perm) >= 0 {
			return true
		}
	}
	return false
}

// covers reports whether ss grants all of sc: every permission of sc on
// its type (all types for *), in sc's context.
func (ss scopeSet) covers(sc scope) bool {
	for _, perm := range []byte(sc.perms) {
		if !slices.ContainsFunc(ss, func(s scope) bool {
			return s.context == sc.context && (s.typ == "*" || s.typ == sc.typ) && strings.IndexByte(s.perms, perm) >= 0
		}) {
			return false
		}
	}
	return true
}

// interaction is what a request does, for the scope check: the type it is
// on ("" when it spans types) and the permission it needs.
type interaction struct {
	typ  string
	perm byte
}

// interactionOf is the interaction of r, a request matched by the FHIR
// routes (its Pattern); ok is false for a transaction or batch, whose
// entries are checked one by one.
func interactionOf(r *http.Request) (in interaction, ok bool) {
	method, path, _ := strings.Cut(r.Pattern, " ")
	typ := r.PathValue("type")
	if typ == "" { // a fixed type in the route: /fhir/Consent, /fhir/Patient/{id}/$everything
		if seg := strings.Split(strings.TrimPrefix(path, "/fhir/"), "/"); fhirjson.IsResourceType(seg[0]) {
			typ = seg[0]
		}
	}
	switch {
	case path == "/fhir" || path == "/fhir/{$}":
		return in, false
	case strings.Contains(path, "$"): // operations: $everything and $export read; the others change
		if method == http.MethodGet || strings.Contains(path, "$export") {
			return interaction{typ: typeUnlessSpanning(path, typ), perm: 'r'}, true
		}
		return interaction{typ: typ, perm: 'u'}, true
	case method == http.MethodGet && r.PathValue("id") == "" && typ != "", strings.HasSuffix(path, "/_search"):
		return interaction{typ: typ, perm: 's'}, true
	case method == http.MethodGet:
		return interaction{typ: typ, perm: 'r'}, true
	case method == http.MethodPost:
		return interaction{typ: typ, perm: 'c'}, true
	case method == http.MethodPut || method == http.MethodPatch:
		return interaction{typ: typ, perm: 'u'}, true
	case method == http.MethodDelete:
		return interaction{typ: typ, perm: 'd'}, true
	}
	return interaction{typ: typ, perm: 'r'}, true
}

// typeUnlessSpanning is "" for an operation that returns resources of
// several types ($everything, $export), typ otherwise.
func typeUnlessSpanning(path, typ string) string {
	if strings.Contains(path, "$everything") || strings.Contains(path, "$export") {
		return ""
	}
	return typ
}

// permits checks in against the caller's scopes.
func (c caller) permits(in interaction) error {
	if c.scopes.allows(in.typ, in.perm) {
		return nil
	}
	what := in.typ
	if what == "" {
		what = "any type"
	}
	return carechain.E(carechain.KindPermission, fmt.Errorf("the token's scope %q does not allow %s of %s", c.scope, permName(in.perm), what))
}

func permName(p byte) string {
	return map[byte]string{'c': "create", 'r': "read", 'u': "update", 'd': "delete", 's': "search"}[p]
}

// scopeKeep wraps keep (nil: keep all) to keep only records of types the
// caller's scopes let it read.
func (c caller) scopeKeep(keep func(*carechain.RecordHead) bool) func(*carechain.RecordHead) bool {
	return func(h *carechain.RecordHead) bool {
		return (c.scopes.allows(h.ResourceType, 'r') || c.scopes.allows(h.ResourceType, 's')) && (keep == nil || keep(h))
	}
}

// smartConfiguration serves {FHIR base}/.well-known/smart-configuration
// (SMART App Launch 2.0 discovery) for what this server does: backend
// services (client_credentials with a private_key_jwt assertion), v1 and
// v2 scopes and, when the portal issues codes (Options.Codes), standalone
// App Launch by public clients with PKCE S256 (launch.go).
func (s *server) smartConfiguration(w http.ResponseWriter, _ *http.Request) {
	conf := map[string]any{
		"token_endpoint":                                   s.tokenURL(),
		"grant_types_supported":                            []string{"client_credentials"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"scopes_supported": []string{"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write",
			"user/*.cruds", "user/*.rs", "patient/*.cruds", "patient/*.rs"},
		"capabilities": []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
	}
	if s.Codes != nil {
		conf["authorization_endpoint"] = s.authorizeURL()
		conf["grant_types_supported"] = []string{"authorization_code", "client_credentials"}
		conf["response_types_supported"] = []string{"code"}
		conf["code_challenge_methods_supported"] = []string{"S256"}
		conf["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt", "none"}
		conf["scopes_supported"] = append(conf["scopes_supported"].([]string), launchPatient)
		conf["capabilities"] = []string{"launch-standalone", "client-public", "client-confidential-asymmetric",
			"context-standalone-patient", "permission-v1", "permission-v2", "permission-patient", "permission-user"}
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	writeJSON(w, http.StatusOK, conf)
}

// authorizeURL is the App Launch authorization endpoint, which the portal
// serves.
func (s *server) authorizeURL() string { return s.abs("/auth/authorize") }
