package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// A patient's delegates: people registered with their own key (a carer, a
// relative) whom the patient names to grant and revoke consent for them.
// Naming and removing go through records.Service.Delegate and
// RemoveDelegate, signed with the patient's key (unlocked at sign-in), as
// the CLI's `carechain delegate add|remove` does; the ledger decides, and
// a refusal shows its reason.

// delegatesPage is a patient's delegates and the form to name one.
type delegatesPage struct {
	Delegates []option
	Done      string
}

// delegateDone are the messages a delegate change redirects with (?done=...).
var delegateDone = map[string]string{
	"add":    "Delegate named: they can now manage who may read your records.",
	"remove": "Delegate removed: they can no longer manage your sharing, and new keys protect your records from them.",
}

func (p *Portal) delegatesPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	ids, err := v.Delegates(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := delegatesPage{Done: delegateDone[r.URL.Query().Get("done")]}
	for _, id := range ids {
		page.Delegates = append(page.Delegates, option{id, principalLabel(v, id)})
	}
	p.render(w, s, http.StatusOK, "delegates", "Delegates", page)
}

// changeDelegate names (add) or removes (remove) the delegate the form
// names. A refusal shows the ledger's reason.
func (p *Portal) changeDelegate(w http.ResponseWriter, r *http.Request, s *session) {
	change := r.PathValue("change")
	if change != "add" && change != "remove" {
		p.notFound(w, r)
		return
	}
	delegate := strings.TrimSpace(r.PostForm.Get("delegate"))
	if delegate == "" || len(delegate) > maxFormNameText {
		p.fail(w, r, s, http.StatusBadRequest, "Enter the delegate's ID, such as patient/carer-1.")
		return
	}
	// Keys are delivered before the ledger sees the change, and that needs
	// the person's key: say plainly when there is no such person.
	if pr, err := p.app.Latest().Principal(delegate); err != nil || pr.Kind != carechain.KindPatient {
		p.fail(w, r, s, http.StatusBadRequest, "Not changed: "+delegate+" is not a person registered with their own key (patient/…).")
		return
	}
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node no longer holds your key: sign in again.")
		return
	}
	var err error
	if change == "add" {
		err = p.records.Delegate(r.Context(), signer, delegate)
	} else {
		err = p.records.RemoveDelegate(r.Context(), signer, delegate)
	}
	var rej *ledger.Rejection
	switch {
	case errors.As(err, &rej):
		p.fail(w, r, s, rej.Code.Kind().Status(), "Not changed: the ledger refused it: "+rej.Msg+".")
		return
	case err != nil:
		p.failErr(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/sharing/delegates?done="+change, http.StatusSeeOther)
}
