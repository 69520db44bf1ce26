package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/carechain/carechain/nodeapi"
)

// fhirSession is the --as principal's session with its node's FHIR API: a
// bearer token from /auth/token (fhirToken) and the HTTP client that
// reaches the node.
type fhirSession struct {
	base, token string
	hc          *http.Client
}

// maxFHIRAnswer bounds what the CLI reads of one FHIR answer.
const maxFHIRAnswer = 16 << 20

// fhirSession gets a token for s and returns its session.
func (c *cli) fhirSession(s *signerFlags) (*fhirSession, error) {
	base, tok, err := c.fhirToken(s, "")
	if err != nil {
		return nil, err
	}
	hc, err := c.httpClient(s.home)
	if err != nil {
		return nil, err
	}
	return &fhirSession{base: base, token: tok, hc: hc}, nil
}

// do sends body (JSON; nil for none) to path and decodes a 2xx answer into
// out (if not nil). Any other answer is a *nodeapi.StatusError whose
// message is the OperationOutcome's diagnostics: the node's reason.
func (f *fhirSession) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxFHIRAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &nodeapi.StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: diagnostics(answer)}
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber() // amounts stay the decimals the node wrote
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// diagnostics is the reason an OperationOutcome gives: its issues'
// diagnostics, joined.
func diagnostics(answer []byte) string {
	var oo struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(answer, &oo) != nil {
		return ""
	}
	var why []string
	for _, i := range oo.Issue {
		if i.Diagnostics != "" {
			why = append(why, i.Diagnostics)
		}
	}
	return strings.Join(why, "; ")
}
