package fhirrest

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// CORS: a browser application served from another origin may call the
// FHIR API and the token endpoint only if its origin is one of
// Options.AllowedOrigins (carechain start --cors-origin); none are by
// default. An allowed origin's requests get Access-Control-Allow-Origin
// naming it (never *), and its preflights (OPTIONS with
// Access-Control-Request-Method) are answered 204 with the methods and
// headers the API reads. Credentials are bearer tokens, not cookies, so no
// Access-Control-Allow-Credentials. A preflight from another origin is
// refused (403 OperationOutcome); its other requests get no CORS headers,
// so the browser withholds the answers from its page.

const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, " +
		"X-Purpose-Of-Use, X-Break-Glass-Reason, X-Amendment-Reason"
	corsExposed = "Location, Content-Location, ETag, Last-Modified, Retry-After, X-Progress"
	corsMaxAge  = 10 * 60 // seconds a browser may keep a preflight's answer
)

// corsAllowed reports whether origin may call the API from a browser.
func (s *server) corsAllowed(origin string) bool {
	return origin != "" && slices.Contains(s.AllowedOrigins, origin)
}

// cors adds the CORS headers of an allowed origin to h's answers.
func (s *server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); s.corsAllowed(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", corsExposed)
		}
		h(w, r)
	}
}

// preflight answers a CORS preflight (OPTIONS) under /fhir or /auth.
func (s *server) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if r.Header.Get("Access-Control-Request-Method") == "" || origin == "" {
		w.Header().Set("Allow", corsMethods)
		s.fail(w, http.StatusMethodNotAllowed, "not-supported", errors.New("OPTIONS is answered only as a CORS preflight (Origin and Access-Control-Request-Method)"))
		return
	}
	if !s.corsAllowed(origin) {
		s.fail(w, http.StatusForbidden, "forbidden", errors.New("origin "+strconv.Quote(origin)+" may not call this API from a browser (carechain start --cors-origin)"))
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	w.WriteHeader(http.StatusNoContent)
}

// CheckOrigin checks an origin given for AllowedOrigins: scheme://host[:port],
// no path, no wildcard.
func CheckOrigin(origin string) error {
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || (scheme != "https" && scheme != "http") || host == "" || strings.ContainsAny(host, "/*?#@ ") {
		return errors.New("origin " + strconv.Quote(origin) + ": want scheme://host[:port], such as https://portal.example.org")
	}
	return nil
}
