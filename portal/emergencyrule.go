package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// The patient's emergency (break-glass) rule, in words, with the form to
// change it: which roles at which kinds of organization may read at once
// in an emergency, which categories, for how long, whether a reason is
// required. Saving signs an emergency.set (records.Service.SetEmergencyRule,
// which delivers the keys the rule's organizations hold in escrow);
// "no emergency access" signs an emergency.clear, as `carechain emergency
// set` and `clear` do.

// emergencyRulePage is the rule and its form.
type emergencyRulePage struct {
	Set        bool
	Words      []string
	Roles      []choice
	OrgTypes   []choice
	Categories []choice
	Hours      int64
	Reason     bool
	Done       string
}

// choice is a checkbox of a form.
type choice struct {
	Value   string
	Checked bool
}

func choices[T ~string](all, on []T) []choice {
	out := make([]choice, 0, len(all))
	for _, a := range all {
		out = append(out, choice{Value: string(a), Checked: slices.Contains(on, a)})
	}
	return out
}

// clinicalRoles are the roles a patient may let break the glass; the rule
// may name any role, but staff who do not treat patients are not offered.
var clinicalRoles = []carechain.Role{carechain.RolePhysician, carechain.RoleNurse, carechain.RoleSpecialist,
	carechain.RoleRadiologist, carechain.RoleHeadOfDepartment}

func (p *Portal) emergencyRulePage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	cats, err := v.Categories()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := emergencyRulePage{Hours: 24, Reason: true}
	rule, err := v.EmergencyRule(s.who.ID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		rule = &consent.EmergencyRule{}
		page.Words = []string{"You have set no emergency rule: nobody may read your records in an emergency without your consent."}
	case err != nil:
		p.failErr(w, r, s, err)
		return
	default:
		page.Set, page.Words = true, ruleInWords(rule)
		page.Hours, page.Reason = max(1, rule.DurationSeconds/3600), rule.RequireReason
	}
	roles := slices.Clone(clinicalRoles)
	for _, r := range rule.Roles { // a role the rule names (set with the CLI) stays on offer
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	page.Roles = choices(roles, rule.Roles)
	page.OrgTypes = choices(carechain.OrgTypes(), rule.OrgTypes)
	page.Categories = choices(cats, rule.Categories)
	switch r.URL.Query().Get("done") {
	case "set":
		page.Done = "Your emergency rule is on the ledger."
	case "cleared":
		page.Done = "Emergency access is off: nobody may break the glass to read your records."
	}
	p.render(w, s, http.StatusOK, "emergencyrule", "Emergency access", page)
}

// ruleInWords describes rule for its patient.
func ruleInWords(rule *consent.EmergencyRule) []string {
	join := func(xs []string, none string) string {
		if len(xs) == 0 {
			return none
		}
		return strings.Join(xs, ", ")
	}
	var roles, types []string
	for _, r := range rule.Roles {
		roles = append(roles, string(r))
	}
	for _, t := range rule.OrgTypes {
		types = append(types, string(t))
	}
	words := []string{
		fmt.Sprintf("In an emergency, staff with the role %s at %s may read %s at once, without asking you.",
			join(roles, "(none)"), join(types, "any kind of organization"), join(rule.Categories, "all your records")),
		fmt.Sprintf("Their access ends %s after they break the glass.", durationWords(rule.DurationSeconds)),
	}
	if rule.RequireReason {
		words = append(words, "They must give a reason.")
	}
	return append(words, "Every emergency access, with its reason, is in your access log.")
}

func durationWords(sec int64) string {
	switch {
	case sec%86400 == 0:
		return strconv.FormatInt(sec/86400, 10) + " day(s)"
	case sec%3600 == 0:
		return strconv.FormatInt(sec/3600, 10) + " hour(s)"
	}
	return strconv.FormatInt(sec/60, 10) + " minute(s)"
}

// setEmergencyRule saves the form's rule, or with off=1 removes the rule.
func (p *Portal) setEmergencyRule(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	f := r.PostForm
	if f.Get("off") == "1" {
		if _, err := p.app.Latest().EmergencyRule(s.who.ID); errors.Is(err, ledger.ErrNotFound) {
			http.Redirect(w, r, "/portal/emergency-rule?done=cleared", http.StatusSeeOther)
			return
		}
		if err := p.records.ClearEmergencyRule(r.Context(), signer); err != nil {
			p.failErr(w, r, s, err)
			return
		}
		http.Redirect(w, r, "/portal/emergency-rule?done=cleared", http.StatusSeeOther)
		return
	}
	rule := consent.EmergencyRule{Categories: f["category"], RequireReason: f.Get("reason") == "1"}
	for _, role := range f["role"] {
		rule.Roles = append(rule.Roles, carechain.Role(role))
	}
	for _, t := range f["orgtype"] {
		rule.OrgTypes = append(rule.OrgTypes, carechain.OrgType(t))
	}
	hours, err := strconv.ParseInt(f.Get("hours"), 10, 64)
	if err != nil || hours < 1 || hours > consent.MaxEmergencyDuration/3600 {
		p.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("The rule was not saved: access lasts 1 to %d hours.", consent.MaxEmergencyDuration/3600))
		return
	}
	rule.DurationSeconds = hours * 3600
	if err := rule.Validate(); err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The rule was not saved: "+err.Error()+" (choose at least one role).")
		return
	}
	if err := p.records.SetEmergencyRule(r.Context(), signer, rule); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/emergency-rule?done=set", http.StatusSeeOther)
}
