package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
)

// Client talks to a node's JSON API. The CLI uses it.
type Client struct {
	Base string // e.g. http://127.0.0.1:8080
	HTTP *http.Client
}

// NewClient returns a client for the node at addr ("host:port" or a URL).
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{Base: strings.TrimRight(addr, "/"), HTTP: http.DefaultClient}
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/cbor")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusUnprocessableEntity {
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return resp.StatusCode, fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Error, resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	_, err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Submit sends a signed transaction and waits for its outcome.
func (c *Client) Submit(ctx context.Context, raw []byte) (TxResponse, error) {
	var r TxResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/txs", raw, &r)
	return r, err
}

// Commit returns the app hash committed at height.
func (c *Client) Commit(ctx context.Context, height int64) (CommitInfo, error) {
	var ci CommitInfo
	_, err := c.do(ctx, http.MethodGet, "/v1/commits/"+strconv.FormatInt(height, 10), nil, &ci)
	return ci, err
}

// PrincipalAt is a principal with the height it was read at and the signer's next nonce.
type PrincipalAt struct {
	Principal carechain.Principal `json:"principal"`
	Height    int64               `json:"height"`
	NextNonce uint64              `json:"next_nonce"`
}

// Principal reads a principal at height (0: latest).
func (c *Client) Principal(ctx context.Context, id string, height int64) (PrincipalAt, error) {
	var p PrincipalAt
	_, err := c.do(ctx, http.MethodGet, "/v1/principals/"+id+heightQuery(height, ""), nil, &p)
	return p, err
}

// Principals lists principals at height (0: latest), optionally of one organization.
func (c *Client) Principals(ctx context.Context, org string, height int64) ([]carechain.Principal, error) {
	var ps []carechain.Principal
	_, err := c.do(ctx, http.MethodGet, "/v1/principals"+heightQuery(height, org), nil, &ps)
	return ps, err
}

// Organizations lists organizations at height (0: latest).
func (c *Client) Organizations(ctx context.Context, height int64) ([]carechain.Organization, error) {
	var os []carechain.Organization
	_, err := c.do(ctx, http.MethodGet, "/v1/organizations"+heightQuery(height, ""), nil, &os)
	return os, err
}

func heightQuery(height int64, org string) string {
	q := url.Values{}
	if height > 0 {
		q.Set("height", strconv.FormatInt(height, 10))
	}
	if org != "" {
		q.Set("org", org)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
