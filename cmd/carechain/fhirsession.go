package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
)

// fhirSession is the --as principal's session with its node's FHIR API: a
// bearer token from /auth/token (fhirToken) and the HTTP client that
// reaches the node.
type fhirSession struct {
	base, token string
	hc          *http.Client
	// purpose, if set, is the purpose of use the requests declare
	// (X-Purpose-Of-Use).
	purpose string
}

// maxFHIRAnswer bounds what the CLI reads of one FHIR answer.
const maxFHIRAnswer = 16 << 20

// fhirSession gets a token for s and returns its session. Staff sign a
// client assertion with their key (fhirToken). A patient whose keystore
// the node holds (--home, no --keys-dir) signs in with their passphrase
// instead (POST /auth/login), which lets the node open their encryption
// key for the session: claims are sealed to the patient, not to a
// consent epoch the node could read otherwise.
func (c *cli) fhirSession(s *signerFlags) (*fhirSession, error) {
	hc, err := c.httpClient(s.home)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(s.as, carechain.PatientPrefix) && s.dir == "" {
		return c.signIn(s, hc)
	}
	base, tok, err := c.fhirToken(s, "")
	if err != nil {
		return nil, err
	}
	return &fhirSession{base: base, token: tok, hc: hc}, nil
}

// signIn signs the --as patient in at their node with their passphrase.
func (c *cli) signIn(s *signerFlags, hc *http.Client) (*fhirSession, error) {
	pass, err := c.passphrase("Passphrase for "+s.as, false)
	if err != nil {
		return nil, err
	}
	base := c.nodeURL(s.nodeAddr, s.home)
	resp, err := hc.PostForm(base+"/auth/login", url.Values{"principal": {s.as}, "passphrase": {string(pass)}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxFHIRAnswer)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("sign-in answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &nodeapi.StatusError{Method: "POST", Path: "/auth/login", Status: resp.StatusCode, Message: tr.Description}
	}
	return &fhirSession{base: base, token: tr.AccessToken, hc: hc}, nil
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
	if f.purpose != "" {
		req.Header.Set("X-Purpose-Of-Use", f.purpose)
	}
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
