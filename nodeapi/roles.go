package nodeapi

import (
	"context"
	"net/http"

	"github.com/carechain/carechain/ledger"
)

// rolePolicy serves GET /v1/organizations/{org}/role-policy: the role
// policy in force (at ?height). Role policies are organizational rules, not
// health data: members read each other's.
func (s *server) rolePolicy(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	st, err := v.RolePolicy(r.PathValue("org"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// RolePolicy reads an organization's role policy at height (0: latest).
func (c *Client) RolePolicy(ctx context.Context, org string, height int64) (ledger.RolePolicyState, error) {
	var st ledger.RolePolicyState
	_, err := c.do(ctx, http.MethodGet, "/v1/organizations/"+org+"/role-policy"+heightQuery(height, ""), nil, &st)
	return st, err
}
