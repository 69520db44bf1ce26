package portal

import (
	"net/http"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// The patient's order rule, in words, with the form to change it: which
// organizations an open order (a lab test, an imaging study, a referral)
// lets read what it names and write its results. Saving signs an
// order-rule.set through records.Service.SetOrderRule, as `carechain
// consent order-rule` does.

// orderRulePage is the rule and its form.
type orderRulePage struct {
	Words string
	Allow string
	Orgs  []orgChoice
	Done  bool
}

// orgChoice is an organization's checkbox.
type orgChoice struct {
	ID, Name string
	Checked  bool
}

func (p *Portal) orderRulePage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	rule, err := v.OrderRule(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := orderRulePage{Allow: string(rule.Allow), Done: r.URL.Query().Get("done") == "set", Words: orderRuleWords(v, rule)}
	orgs, err := v.Organizations()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	named := map[string]bool{}
	for _, o := range rule.Orgs {
		named[o] = true
	}
	for _, o := range orgs {
		page.Orgs = append(page.Orgs, orgChoice{ID: o.ID, Name: cmpOr(o.Name, o.ID), Checked: named[o.ID]})
	}
	p.render(w, s, http.StatusOK, "orderrule", "Orders", page)
}

// orderRuleWords says rule for its patient, naming organizations.
func orderRuleWords(v *ledger.View, rule consent.OrderRule) string {
	names := ""
	for i, o := range rule.Orgs {
		if i > 0 {
			names += ", "
		}
		names += orgName(v, o)
	}
	const gives = " may read what the order names and write its results while the order is open."
	switch rule.Allow {
	case consent.OrdersToAll:
		return "When your clinician orders a test or a referral, the organization it is sent to" + gives
	case consent.OrdersToOnly:
		return "Only orders to " + names + " give access: they" + gives + " Orders to other organizations are refused."
	case consent.OrdersToExcept:
		return "Orders to any organization but " + names + " give access: it" + gives + " Orders to " + names + " are refused."
	}
	return "No order gives access: orders to another organization are refused."
}

// orgName is an organization's name, or its ID.
func orgName(v *ledger.View, id string) string {
	if o, err := v.Organization(id); err == nil && o.Name != "" {
		return o.Name
	}
	return id
}

// setOrderRule saves the form's rule, signed with the patient's key.
func (p *Portal) setOrderRule(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	rule := consent.OrderRule{Allow: consent.OrderAllow(r.PostForm.Get("allow"))}
	if rule.Allow == consent.OrdersToOnly || rule.Allow == consent.OrdersToExcept {
		rule.Orgs = r.PostForm["org"]
	}
	if err := rule.Validate(); err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "The rule was not saved: "+err.Error()+" (tick the organizations for \"only\" or \"all but\").")
		return
	}
	if err := p.records.SetOrderRule(r.Context(), signer, s.who.ID, rule); err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/order-rule?done=set", http.StatusSeeOther)
}
