package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// Practitioners' credentials are public, like staff registrations: they
// name no patient. GET /v1/credentials/{id}/status is the online check a
// verifier of an exported Verifiable Credential makes (its
// credentialStatus names it).

// CredentialStatus is the body of GET /v1/credentials/{id}/status: the
// credential's state on the ledger now (active, revoked, expired,
// not-yet-valid) and, unless active, why.
type CredentialStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Height is the ledger height the answer is read at; CheckedAt the
	// node's time it judged expiry at (RFC 3339).
	Height    int64  `json:"height"`
	CheckedAt string `json:"checked_at"`
}

// credentials serves GET /v1/credentials: every credential, or
// ?practitioner's, at ?height.
func (s *server) credentials(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	var list []*carechain.Credential
	var err error
	if p := r.URL.Query().Get("practitioner"); p != "" {
		list, err = v.Credentials(p)
	} else {
		list, err = v.AllCredentials()
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	if list == nil {
		list = []*carechain.Credential{}
	}
	writeJSON(w, http.StatusOK, list)
}

// credential serves GET /v1/credentials/{id} at ?height.
func (s *server) credential(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	c, err := v.Credential(r.PathValue("id"))
	if err != nil {
		s.queryFail(w, fmt.Errorf("credential %s: %w", r.PathValue("id"), err))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// credentialStatus serves GET /v1/credentials/{id}/status, at the latest
// height and the node's clock.
func (s *server) credentialStatus(w http.ResponseWriter, r *http.Request) {
	v := s.chain.App().Latest()
	id := r.PathValue("id")
	c, err := v.Credential(id)
	if errors.Is(err, ledger.ErrNotFound) {
		s.queryFail(w, fmt.Errorf("credential %s: %w", id, err))
		return
	} else if err != nil {
		s.queryFail(w, err)
		return
	}
	now := time.Now().UTC()
	st, why := c.Status(now.Unix())
	writeJSON(w, http.StatusOK, CredentialStatus{ID: id, Status: st, Reason: why, Height: v.Height(), CheckedAt: now.Format(time.RFC3339)})
}

// Credentials lists credentials at height (0: latest): a practitioner's,
// or all if practitioner is empty.
func (c *Client) Credentials(ctx context.Context, practitioner string, height int64) ([]carechain.Credential, error) {
	q := url.Values{}
	if practitioner != "" {
		q.Set("practitioner", practitioner)
	}
	if height > 0 {
		q.Set("height", fmt.Sprint(height))
	}
	var out []carechain.Credential
	_, err := c.do(ctx, http.MethodGet, "/v1/credentials?"+q.Encode(), nil, &out)
	return out, err
}

// Credential reads one credential at height (0: latest).
func (c *Client) Credential(ctx context.Context, id string, height int64) (carechain.Credential, error) {
	var out carechain.Credential
	_, err := c.do(ctx, http.MethodGet, "/v1/credentials/"+url.PathEscape(id)+heightQuery(height, ""), nil, &out)
	return out, err
}

// CredentialStatus asks whether a credential is active now.
func (c *Client) CredentialStatus(ctx context.Context, id string) (CredentialStatus, error) {
	var out CredentialStatus
	_, err := c.do(ctx, http.MethodGet, "/v1/credentials/"+url.PathEscape(id)+"/status", nil, &out)
	return out, err
}
