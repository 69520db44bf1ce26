package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
)

// fhirClient is the FHIR REST API of a bench node, served on a loopback
// port, and a client holding one principal's access token.
type fhirClient struct {
	base  string
	srv   *http.Server
	http  *http.Client
	token string
	// purpose, if set, is the purpose of use of every request
	// (X-Purpose-Of-Use); the API assumes treatment without it.
	purpose consent.Purpose
	cust    *records.Custodian // the signing keys the API writes with
}

// noopPath is a route of the bench server that answers 200 with a small
// body and does nothing else: the loopback HTTP baseline of the same run.
const noopPath = "/bench/noop"

// serveFHIR serves the FHIR API of bn on a free loopback port, with the keys
// of s in its custodian, and logs s in with a client assertion.
func serveFHIR(ctx context.Context, bn *recordsNode, s records.Signer) (*fhirClient, error) {
	cust := &records.Custodian{}
	cust.Add(s.ID, s.Key)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	c := &fhirClient{
		base: "http://" + l.Addr().String(),
		srv:  &http.Server{Handler: mux},
		// Connections stay open between requests, so that timed requests
		// do not pay for new ones.
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxClients}},
		cust: cust,
	}
	mux.HandleFunc("GET "+noopPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Basic"}`)
	})
	fhirrest.Register(mux, fhirrest.Options{App: bn.node.App(), Records: bn.svc, Custodian: cust, BaseURL: c.base})
	go c.srv.Serve(l)
	if c.token, err = c.login(ctx, s); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// maxClients bounds the concurrent clients of one bench server that keep
// their connections open between requests.
const maxClients = 1024

// as is a client of the same server and connections holding s's access
// token; the server writes with s's key.
func (c *fhirClient) as(ctx context.Context, s records.Signer) (*fhirClient, error) {
	c.cust.Add(s.ID, s.Key)
	other := *c
	var err error
	if other.token, err = c.login(ctx, s); err != nil {
		return nil, fmt.Errorf("log %s in: %w", s.ID, err)
	}
	return &other, nil
}

// Close stops the server.
func (c *fhirClient) Close() { c.srv.Close() }

// login gets an access token for s with a client assertion.
func (c *fhirClient) login(ctx context.Context, s records.Signer) (string, error) {
	tokenURL := c.base + "/auth/token"
	assertion, err := fhirrest.ClientAssertion(s.ID, s.Key, tokenURL)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token: HTTP %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken, nil
}

// do sends one authorized request and reads the whole response, which must
// have status want.
func (c *fhirClient) do(ctx context.Context, method, path string, body []byte, want int) error {
	_, err := c.send(ctx, method, path, body, want)
	return err
}

// get is do of a GET that must succeed, returning the response's body.
func (c *fhirClient) get(ctx context.Context, path string) ([]byte, error) {
	return c.send(ctx, http.MethodGet, path, nil, http.StatusOK)
}

// send is do, returning the response's body.
func (c *fhirClient) send(ctx context.Context, method, path string, body []byte, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/fhir+json")
	if c.purpose != "" {
		req.Header.Set("X-Purpose-Of-Use", string(c.purpose))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: HTTP %d, want %d: %.300s", method, path, resp.StatusCode, want, got)
	}
	return got, nil
}
