package nodeapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/carechain/carechain"
)

// ClientAt is the body of GET /v1/clients/{id}: a SMART backend-services
// client registered on the ledger (identity.client), with its JWKS as
// JSON, as of Height. Clients, like staff, are public.
type ClientAt struct {
	ID           string           `json:"id"`
	Org          string           `json:"org"`
	ActsFor      string           `json:"acts_for"`
	JWKS         json.RawMessage  `json:"jwks,omitempty"`
	Scopes       string           `json:"scopes"`
	Status       carechain.Status `json:"status"`
	RegisteredAt int64            `json:"registered_at"`
	RegisteredBy string           `json:"registered_by"`
	RevokedAt    int64            `json:"revoked_at,omitempty"`
	// RedirectURIs are an App Launch app's; a backend client has none.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Height       int64    `json:"height"`
}

func (s *server) client(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	c, err := v.Client(r.PathValue("id"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	at := ClientAt{ID: c.ID, Org: c.Org, ActsFor: c.ActsFor, Scopes: c.Scopes, Status: c.Status, RedirectURIs: c.RedirectURIs,
		RegisteredAt: c.RegisteredAt, RegisteredBy: c.RegisteredBy, RevokedAt: c.RevokedAt, Height: v.Height()}
	if json.Valid(c.JWKS) {
		at.JWKS = c.JWKS
	}
	writeJSON(w, http.StatusOK, at)
}

// Client reads a registered client at height (0: latest).
func (c *Client) Client(ctx context.Context, id string, height int64) (ClientAt, error) {
	var at ClientAt
	_, err := c.do(ctx, http.MethodGet, "/v1/clients/"+id+heightQuery(height, ""), nil, &at)
	return at, err
}
