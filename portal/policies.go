package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain/ledger"
)

// policiesPage shows the admin's organization's role policy (what each role
// of its staff may read and write, for which purposes) and its approval
// policies (who must approve a correction of its records). Read-only: they
// change with `carechain role-policy set` and `carechain amend policy`.
type policiesPage struct {
	Org                  string
	RoleVersion          uint32
	RoleHeight           int64
	Rules                []roleRuleRow
	BreakGlass           string
	Approvals            []approvalRow
	NoRolePolicy         bool
	RoleVersionIsStandIn bool
}

type roleRuleRow struct {
	Role, Read, Write, Purposes string
	GrantOnly                   bool
}

type approvalRow struct {
	Category, ResourceType, Rule string
	Version                      uint32
	Height                       int64
}

func (p *Portal) policies(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	page := policiesPage{Org: s.who.Org}
	st, err := v.RolePolicy(s.who.Org)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		page.NoRolePolicy = true
	case err != nil:
		p.failErr(w, r, s, err)
		return
	default:
		page.RoleVersion, page.RoleHeight, page.RoleVersionIsStandIn = st.Version, st.Height, st.Version == 0
		for _, rule := range st.Policy.Rules {
			row := roleRuleRow{Role: string(rule.Role), Read: strings.Join(rule.Read, ", "), Write: strings.Join(rule.Write, ", "), GrantOnly: rule.GrantOnly}
			for _, pu := range rule.Purposes {
				row.Purposes = strings.TrimPrefix(row.Purposes+", "+string(pu), ", ")
			}
			page.Rules = append(page.Rules, row)
		}
		for _, role := range st.Policy.BreakGlass {
			page.BreakGlass = strings.TrimPrefix(page.BreakGlass+", "+string(role), ", ")
		}
	}
	aps, err := v.ApprovalPolicies(s.who.Org)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, ap := range aps {
		row := approvalRow{Category: ap.Category, ResourceType: ap.ResourceType, Version: ap.Version, Height: ap.Height}
		if row.ResourceType == "" {
			row.ResourceType = "every type"
		}
		terms := make([]string, len(ap.Rule.Terms))
		for i, t := range ap.Rule.Terms {
			terms[i] = t.String()
		}
		row.Rule = fmt.Sprintf("%s (%d needed): %s", ap.Rule.Kind, ap.Rule.Needed(), strings.Join(terms, ", "))
		page.Approvals = append(page.Approvals, row)
	}
	p.render(w, s, http.StatusOK, "policies", "Policies of "+s.who.Org, page)
}
