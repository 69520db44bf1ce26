package fhirrest

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Formats and Prefer. This server speaks FHIR JSON only: a request that
// asks for another format, by _format or by an Accept header that takes
// no JSON, is answered 406 with an OperationOutcome (in JSON, the one
// format it has). Prefer: return=minimal answers a create or update with
// its headers and no body, return=OperationOutcome with an
// OperationOutcome saying what was done; representation (the default)
// with the resource.

// mediaType is the media type of a Content-Type or Accept element,
// lower-cased and without parameters ("" if it cannot be read).
func mediaType(v string) string {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mt
}

// jsonFormats are the _format values and media types of FHIR JSON.
var jsonFormats = map[string]bool{
	"json": true, "application/json": true, "application/fhir+json": true, "application/json+fhir": true,
}

// acceptsJSON reports whether an Accept header takes a JSON answer.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		if mt == "*/*" || mt == "application/*" || jsonFormats[mt] {
			return true
		}
	}
	return false
}

// negotiate answers 406 a request for a format other than FHIR JSON.
func (s *server) negotiate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("_format")
		if format != "" && !jsonFormats[strings.ToLower(strings.ReplaceAll(format, " ", "+"))] {
			s.fail(w, http.StatusNotAcceptable, "not-supported", notAcceptable(fmt.Sprintf("_format %q", format)))
			return
		}
		if accept := r.Header.Get("Accept"); !acceptsJSON(accept) {
			s.fail(w, http.StatusNotAcceptable, "not-supported", notAcceptable(fmt.Sprintf("Accept %q", accept)))
			return
		}
		h(w, r)
	}
}

func notAcceptable(what string) error {
	return fmt.Errorf("%s: this server answers in FHIR JSON only (application/fhir+json)", what)
}

// preferReturn is the return= of a request's Prefer header: minimal,
// OperationOutcome or representation (the default, and for any other
// value).
func preferReturn(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "return="); ok {
			switch v = strings.Trim(v, `"`); v {
			case "minimal", "OperationOutcome":
				return v
			}
		}
	}
	return "representation"
}
