package fhirrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// The GET entries of a transaction or batch Bundle are served by the
// handlers of the plain GETs (read, vread, history, search, $everything),
// through a mux of their own, as the caller of the Bundle: each read is
// decided by consent and logged exactly as the plain request would be.

// bundleReads is the mux of the reads a Bundle's GET entry may make; the
// caller is in the request's context (ctxKey).
func (s *server) bundleReads() *http.ServeMux {
	mux := http.NewServeMux()
	as := func(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, _ := r.Context().Value(ctxKey{}).(caller)
			if in, _ := interactionOf(r); c.permits(in) != nil {
				s.fail(w, http.StatusForbidden, "forbidden", c.permits(in))
				return
			}
			h(w, r, c)
		}
	}
	mux.HandleFunc("GET /fhir/Patient/{id}/$everything", as(s.everything))
	mux.HandleFunc("GET /fhir/_history", as(s.systemHistory))
	mux.HandleFunc("GET /fhir/{type}", as(s.search))
	mux.HandleFunc("GET /fhir/{type}/{id}", as(s.read))
	mux.HandleFunc("GET /fhir/{type}/{id}/_history", as(s.history))
	mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}", as(s.vread))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusBadRequest, "not-supported", fmt.Errorf("a GET entry reads {type}/{id}, its history or a version, type or system history, a search or $everything; not %s", r.URL.Path))
	})
	return mux
}

// readEntry is the response entry of a GET of rawURL (relative to /fhir),
// read as c from the latest ledger state (after the Bundle's writes).
func (s *server) readEntry(r *http.Request, c caller, rawURL string) responseEntry {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "" || u.Host != "" || slices.ContainsFunc(strings.Split(u.Path, "/"), func(seg string) bool { return seg == "." || seg == ".." }) {
		return failedEntry(badEntry(&requestError{kind: carechain.KindMalformed, code: "value", path: "Bundle.entry.request.url",
			err: fmt.Errorf("request.url %q: want a URL relative to /fhir, such as Observation/123", rawURL)}))
	}
	c.view = s.App.Latest()
	target := "/fhir/" + strings.TrimPrefix(u.Path, "/")
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	req, err := http.NewRequestWithContext(context.WithValue(r.Context(), ctxKey{}, c), http.MethodGet, target, nil)
	if err != nil {
		return failedEntry(badEntry(carechain.E(carechain.KindMalformed, fmt.Errorf("request.url %q: %w", rawURL, err))))
	}
	req.RemoteAddr, req.Header = r.RemoteAddr, r.Header.Clone()
	rec := &recorder{header: http.Header{}}
	s.reads.ServeHTTP(rec, req)
	return rec.entry()
}

// recorder is the response of a GET entry's read.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}

// entry is the response entry of the read: the resource and its ETag and
// Last-Modified, or the OperationOutcome of its failure.
func (rec *recorder) entry() responseEntry {
	var re responseEntry
	rec.WriteHeader(http.StatusOK)
	re.Response.Status = fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status))
	body := json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))
	if !json.Valid(body) { // not a FHIR answer (the mux's own redirects): no body
		body = nil
	}
	if rec.status >= 300 {
		if body != nil {
			re.Response.Outcome = body
		} else {
			re.Response.Outcome = newOutcome("processing", errors.New(re.Response.Status), nil)
		}
		return re
	}
	re.Resource, re.Response.Etag = body, rec.header.Get("ETag")
	if t, err := time.Parse(http.TimeFormat, rec.header.Get("Last-Modified")); err == nil {
		re.Response.LastModified = t.UTC().Format(time.RFC3339)
	}
	return re
}
