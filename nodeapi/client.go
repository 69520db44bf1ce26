package nodeapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Client talks to a node's JSON API. The CLI uses it.
type Client struct {
	Base string // e.g. http://127.0.0.1:8080
	HTTP *http.Client
	// Signer and Key, if set, sign every request (see SignRequest), for
	// the node ID that the node's /v1/status gives (asked once).
	Signer string
	Key    ed25519.PrivateKey

	node *nodeID // shared by the copies As makes
}

// nodeID is the node ID of a Client's node, once known.
type nodeID struct {
	mu sync.Mutex
	id string
}

// As returns a copy of c that signs its requests as principal.
func (c *Client) As(principal string, key ed25519.PrivateKey) *Client {
	cc := *c
	cc.Signer, cc.Key = principal, key
	return &cc
}

// NewClient returns a client for the node at addr ("host:port" or a URL).
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{Base: strings.TrimRight(addr, "/"), HTTP: http.DefaultClient, node: &nodeID{}}
}

// nodeID is the CometBFT node ID of the client's node, from /v1/status.
func (c *Client) nodeID(ctx context.Context) (string, error) {
	if c.node == nil { // a Client not made by NewClient: ask every time
		return c.askNodeID(ctx)
	}
	c.node.mu.Lock()
	defer c.node.mu.Unlock()
	if c.node.id == "" {
		id, err := c.askNodeID(ctx)
		if err != nil {
			return "", err
		}
		c.node.id = id
	}
	return c.node.id, nil
}

func (c *Client) askNodeID(ctx context.Context) (string, error) {
	unsigned := *c
	unsigned.Key = nil
	st, err := unsigned.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("asking the node for its ID to sign for: %w", err)
	}
	if st.NodeID == "" {
		return "", fmt.Errorf("%s does not give its node ID in /v1/status, so requests cannot be signed for it", c.Base)
	}
	return st.NodeID, nil
}

// sign signs req for the client's node if the client signs (As).
func (c *Client) sign(ctx context.Context, req *http.Request) error {
	if c.Key == nil {
		return nil
	}
	node, err := c.nodeID(ctx)
	if err != nil {
		return err
	}
	SignRequest(req, c.Signer, c.Key, node, time.Now())
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/cbor")
	}
	if err := c.sign(ctx, req); err != nil {
		return 0, err
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
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// StatusError is a request the node answered with an error status.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string // the node's reason, if it gave one
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("%s %s: %s (HTTP %d)", e.Method, e.Path, e.Message, e.Status)
}

// Check GETs path (/healthz or /readyz) and returns the node's Health and
// whether it answered 200; a 503's Health carries the reason.
func (c *Client) Check(ctx context.Context, path string) (Health, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return Health{}, false, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Health{}, false, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return h, false, fmt.Errorf("GET %s: HTTP %d: decode: %w", path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK && h.Reason == "" {
		h.Reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return h, resp.StatusCode == http.StatusOK, nil
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

// Record reads version (0: latest) of a record for purpose; the client must sign (As).
func (c *Client) Record(ctx context.Context, id string, version uint64, purpose string) (RecordResponse, error) {
	q := url.Values{"purpose": {purpose}}
	if version > 0 {
		q.Set("version", strconv.FormatUint(version, 10))
	}
	var r RecordResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/records/"+url.PathEscape(id)+"?"+q.Encode(), nil, &r)
	return r, err
}

// RecordHistory reads every version of a record.
func (c *Client) RecordHistory(ctx context.Context, id, purpose string) ([]RecordResponse, error) {
	var r []RecordResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/records/"+url.PathEscape(id)+"/history?"+url.Values{"purpose": {purpose}}.Encode(), nil, &r)
	return r, err
}

// Records lists a patient's records readable by the signer.
func (c *Client) Records(ctx context.Context, patient, purpose string) ([]carechain.RecordHead, error) {
	var r []carechain.RecordHead
	_, err := c.do(ctx, http.MethodGet, "/v1/records?"+url.Values{"patient": {patient}, "purpose": {purpose}}.Encode(), nil, &r)
	return r, err
}

// AuditLog reads the signing patient's access log.
func (c *Client) AuditLog(ctx context.Context, patient string) ([]records.Event, error) {
	var r []records.Event
	_, err := c.do(ctx, http.MethodGet, "/v1/audit?"+url.Values{"patient": {patient}}.Encode(), nil, &r)
	return r, err
}

// Raw GETs path and returns the body (proof files, validator sets, notes),
// signed if the client signs (As): proofs of entries go only to those who
// may see them.
func (c *Client) Raw(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// send makes a bodyless request, signed if the client signs (As), and
// returns the response of a 200 for the caller to read and close; another
// status is a *StatusError with the node's reason.
func (c *Client) send(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	if err := c.sign(ctx, req); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e Error
		_ = json.Unmarshal(b, &e)
		return nil, &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

// Proposals lists the proposals the signer may review (the client must sign,
// As); waiting: only those the signer can approve now.
func (c *Client) Proposals(ctx context.Context, waiting bool) ([]ledger.Proposal, error) {
	var ps []ledger.Proposal
	path := "/v1/proposals"
	if waiting {
		path += "?waiting=true"
	}
	_, err := c.do(ctx, http.MethodGet, path, nil, &ps)
	return ps, err
}

// Proposal reads a proposal's metadata, if the signer may review it.
func (c *Client) Proposal(ctx context.Context, id string) (ledger.Proposal, error) {
	var p ledger.Proposal
	_, err := c.do(ctx, http.MethodGet, "/v1/proposals/"+url.PathEscape(id), nil, &p)
	return p, err
}

// ProposalContent decrypts a proposal for the signing reviewer.
func (c *Client) ProposalContent(ctx context.Context, id string) (ProposalContent, error) {
	var pc ProposalContent
	_, err := c.do(ctx, http.MethodGet, "/v1/proposals/"+url.PathEscape(id)+"/content", nil, &pc)
	return pc, err
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
