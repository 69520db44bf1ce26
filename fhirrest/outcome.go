package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// Errors become HTTP here, and only here: an error's kind
// (carechain.KindOf) gives the status and the FHIR issue code, and the
// OperationOutcome names the elements it is about.

// outcome is a FHIR OperationOutcome.
type outcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics"`
	Expression  []string `json:"expression,omitempty"`
}

func newOutcome(code string, err error, paths []string) *outcome {
	return &outcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "error", Code: code, Diagnostics: err.Error(), Expression: paths}}}
}

// informational is an OperationOutcome that says what was done.
func informational(msg string) *outcome {
	return &outcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "information", Code: "informational", Diagnostics: msg}}}
}

// fail writes an OperationOutcome. code is the FHIR issue type.
func (s *server) fail(w http.ResponseWriter, status int, code string, err error, paths ...string) {
	if status >= 500 {
		s.Logger.Error("fhir request failed", "status", status, "err", err)
	}
	writeFHIR(w, status, newOutcome(code, err, paths))
}

// failErr answers with the status and OperationOutcome of err (kindOf).
func (s *server) failErr(w http.ResponseWriter, err error) {
	k, code, paths := kindOf(err)
	s.fail(w, k.Status(), code, err, paths...)
}

// noRoute answers a request that no route serves: 405 with an Allow header
// if its path has routes for other methods, else 404.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.routes.Handler(probe); pattern != "" && !strings.HasPrefix(pattern, "/") {
			allow = append(allow, m) // a route of its own ("GET /fhir/…"), not a catch-all ("/fhir/")
		}
	}
	if len(allow) == 0 {
		s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("no such endpoint: %s (see /fhir/metadata)", r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.fail(w, http.StatusMethodNotAllowed, "not-supported", fmt.Errorf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}

// outcomeOf is the status and OperationOutcome of err, as failErr answers
// them, for a batch entry.
func outcomeOf(err error) (int, *outcome) {
	k, code, paths := kindOf(err)
	return k.Status(), newOutcome(code, err, paths)
}

// kindOf is err's kind, its FHIR issue code and the paths of the elements it
// is about: those of a resource that failed validation, or the one a
// *requestError names. The code is the kind's, unless a requestError names a
// finer one.
func kindOf(err error) (carechain.ErrorKind, string, []string) {
	k := carechain.KindOf(err)
	var verr *fhirjson.ValidationError
	var rerr *requestError
	switch {
	case errors.As(err, &rerr):
		code := rerr.code
		if code == "" {
			code = k.IssueCode()
		}
		var paths []string
		if rerr.path != "" {
			paths = []string{rerr.path}
		}
		return k, code, paths
	case errors.As(err, &verr):
		paths := make([]string, 0, len(verr.Issues))
		for _, is := range verr.Issues {
			if is.Path != "" { // malformed JSON has no element to name, and R4 has no empty strings
				paths = append(paths, is.Path)
			}
		}
		return k, k.IssueCode(), paths
	}
	return k, k.IssueCode(), nil
}

// requestError is a request this API refuses on its own account (the
// layers below have their own kinded errors).
type requestError struct {
	kind carechain.ErrorKind
	// code, if set, is a finer FHIR issue type than the kind's, such as
	// "required" or "value".
	code string
	// path, if set, is the element the error is about, e.g. "Observation.subject".
	path string
	err  error
}

func (e *requestError) Error() string                  { return e.err.Error() }
func (e *requestError) Unwrap() error                  { return e.err }
func (e *requestError) ErrorKind() carechain.ErrorKind { return e.kind }
