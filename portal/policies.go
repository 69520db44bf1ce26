package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// policiesPage shows the admin's organization's role policy (what each role
// of its staff may read and write, for which purposes) and its approval
// policies (who must approve a correction of its records), with forms that
// change them: the transactions `carechain role-policy set` and `carechain
// amend policy` build, signed with the admin's key and judged by the ledger.
type policiesPage struct {
	Done                 string
	RoleJSON             string // the policy in force, as role-policy set takes it
	Categories           []string
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
	page := policiesPage{Org: s.who.Org, Done: policiesDone[r.URL.Query().Get("done")]}
	if cats, err := v.Categories(); err == nil {
		page.Categories = cats
	}
	st, err := v.RolePolicy(s.who.Org)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		page.NoRolePolicy = true
	case err != nil:
		p.failErr(w, r, s, err)
		return
	default:
		page.RoleVersion, page.RoleHeight, page.RoleVersionIsStandIn = st.Version, st.Height, st.Version == 0
		if b, err := json.MarshalIndent(st.Policy, "", "  "); err == nil {
			page.RoleJSON = string(b)
		}
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

// policiesDone are the messages the policy forms redirect with (?done=...).
var policiesDone = map[string]string{
	"role":     "The new role policy is on the ledger: it decides from its block on.",
	"approval": "The approval policy is on the ledger: corrections under it need its signers from its block on.",
}

// setRolePolicy replaces the organization's role policy with the JSON
// posted (fields as role-policy default prints them; unknown ones refused,
// so that a misspelt "raed" does not silently allow nothing).
func (p *Portal) setRolePolicy(w http.ResponseWriter, r *http.Request, s *session) {
	signer, _, ok := p.signedForm(w, r, s, false, "")
	if !ok {
		return
	}
	var pol consent.RolePolicy
	dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("policy")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pol); err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was changed: the text is not a role policy in JSON: "+err.Error())
		return
	}
	if err := p.records.SetRolePolicy(r.Context(), signer, tx.RolePolicySet{Org: s.who.Org, Policy: pol}); err != nil {
		p.adminFail(w, r, s, "changed", err)
		return
	}
	http.Redirect(w, r, "/portal/admin/policies?done=role", http.StatusSeeOther)
}

// setApprovalPolicy sets who must approve corrections of the
// organization's records of a category (and resource type).
func (p *Portal) setApprovalPolicy(w http.ResponseWriter, r *http.Request, s *session) {
	signer, _, ok := p.signedForm(w, r, s, false, "")
	if !ok {
		return
	}
	f := r.PostForm
	pol := tx.AmendPolicy{Org: s.who.Org, Category: f.Get("category"), ResourceType: strings.TrimSpace(f.Get("resource_type")), Rule: tx.Rule{Kind: f.Get("rule")}}
	if f.Get("rule") == tx.KOfN {
		k, err := strconv.Atoi(f.Get("k"))
		if err != nil {
			p.fail(w, r, s, http.StatusBadRequest, "Nothing was changed: k of k-of-n is a number.")
			return
		}
		pol.Rule.K = k
	}
	for _, line := range strings.FieldsFunc(f.Get("signers"), func(c rune) bool { return c == '\n' || c == ',' }) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		term, err := tx.ParseTerm(line)
		if err != nil {
			p.fail(w, r, s, http.StatusBadRequest, "Nothing was changed: "+err.Error()+".")
			return
		}
		pol.Rule.Terms = append(pol.Rule.Terms, term)
	}
	if err := p.records.SetApprovalPolicy(r.Context(), signer, pol); err != nil {
		p.adminFail(w, r, s, "changed", err)
		return
	}
	http.Redirect(w, r, "/portal/admin/policies?done=approval", http.StatusSeeOther)
}
