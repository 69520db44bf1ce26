package fhirrest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/carechain/carechain/fhirrest"
)

// TestCORS: an allowed origin's preflights are answered with the methods
// and headers the API reads and its requests carry its origin; another
// origin's preflight is refused and its requests get no CORS headers; an
// OPTIONS that is no preflight is a 405.
func TestCORS(t *testing.T) {
	const portal = "https://portal.example.org"
	e := setupWith(t, func(o *fhirrest.Options) { o.AllowedOrigins = []string{portal} })
	preflight := func(origin, path string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "PUT")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, if-match")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/fhir/Observation/x", "/fhir", "/auth/token"} {
		resp := preflight(portal, path)
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != portal || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "If-Match") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight of %s from the portal: %d %v", path, resp.StatusCode, h)
		}
		if resp := preflight("https://evil.example", path); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight of %s from another origin: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	if resp := preflight("", "/fhir/Observation"); resp.StatusCode != 405 {
		t.Errorf("OPTIONS without a preflight: %d", resp.StatusCode)
	}
	tok := e.token("hosp-a/dr-a")
	for origin, want := range map[string]string{portal: portal, "https://evil.example": ""} {
		r := e.do("GET", "/fhir/Observation?patient=Patient/p", tok, nil, "Origin", origin)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != want ||
			(want != "" && !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "ETag")) || !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Errorf("search from %s: %d %v", origin, r.status, r.header)
		}
	}
	for _, bad := range []string{"*", "portal.example.org", "https://portal.example.org/app", "ftp://x", "https://"} {
		if fhirrest.CheckOrigin(bad) == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
	if err := fhirrest.CheckOrigin(portal); err != nil {
		t.Error(err)
	}
}
