package portal

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Approvals: the corrections (ledger proposals, records/amend.go) waiting
// for the signed-in person's signature, each shown as the current version
// beside the proposed one, with forms to approve or reject. Reads go
// through records.Service (the current version through Read, consent-
// checked; the proposal through ReadProposal, for its reviewers only), and
// signatures through records.Service.Approve and Reject with the signer's
// key on this node: the same calls FHIR's Task/$approve and $reject make.

// approvalsPage lists the proposals waiting for the signed-in person.
type approvalsPage struct {
	Done      string // "approved" or "rejected" after a signature
	Proposals []approvalItem
}

// approvalItem is one proposal for review.
type approvalItem struct {
	ID, RecordID, Patient string
	Author, Reason        string
	Signed, Needed        int
	Signers               []string
	Current, Proposed     *card
	CurrentProblem        string // why the current version is not shown
}

// approvals shows what waits for the signed-in person (ledger View.Waiting).
func (p *Portal) approvals(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	waiting, err := v.Waiting(s.who, time.Now().Unix())
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := approvalsPage{Done: r.URL.Query().Get("done")}
	if page.Done != "approved" && page.Done != "rejected" {
		page.Done = ""
	}
	for i := range waiting {
		it, err := p.reviewItem(r.Context(), v, s.who.ID, &waiting[i])
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		page.Proposals = append(page.Proposals, it)
	}
	p.render(w, s, http.StatusOK, "approvals", "Approvals", page)
}

// reviewItem decrypts proposal pr for requester: the proposed version
// (ReadProposal) and the current one (Read, for treatment, if consent
// allows it). Both reads are in the patient's access log.
func (p *Portal) reviewItem(ctx context.Context, v *ledger.View, requester string, pr *ledger.Proposal) (approvalItem, error) {
	label := func(id string) string { return principalLabel(v, id) }
	it := approvalItem{ID: pr.ID, RecordID: pr.RecordID, Patient: pr.Patient, Author: label(pr.Author),
		Signed: len(pr.Approvals), Needed: pr.Rule.Needed()}
	for _, a := range pr.Approvals {
		it.Signers = append(it.Signers, label(a.Signer))
	}
	rv, err := p.records.ReadProposal(ctx, requester, pr.ID)
	if err != nil {
		return it, err
	}
	defer clear(rv.Resource)
	it.Reason = rv.Reason
	proposed := records.Record{Resource: rv.Resource, RecordVersion: carechain.RecordVersion{RecordID: pr.RecordID, Version: pr.Put.Version,
		Patient: pr.Patient, Category: pr.Category, ResourceType: pr.ResourceType, Author: pr.Author}}
	c, err := cardOf(proposed, label)
	if err != nil {
		return it, err
	}
	c.Pending = true
	it.Proposed = &c
	cur, err := p.records.Read(ctx, requester, pr.RecordID, pr.BaseVersion, consent.PurposeTreatment)
	var denied *records.DeniedError
	switch {
	case errors.As(err, &denied):
		it.CurrentProblem = "Your consent does not let you read the current version: " + denied.Reason + "."
		return it, nil
	case err != nil:
		return it, err
	}
	defer clear(cur.Resource)
	current, err := cardOf(*cur, label)
	if err != nil {
		return it, err
	}
	it.Current = &current
	return it, nil
}

// approve signs proposal {id} with the signed-in person's key
// (records.Service.Approve).
func (p *Portal) approve(w http.ResponseWriter, r *http.Request, s *session) {
	p.review(w, r, s, false)
}

// reject closes proposal {id} with the signed-in person's key and the
// form's reason (records.Service.Reject; the reason is sealed).
func (p *Portal) reject(w http.ResponseWriter, r *http.Request, s *session) {
	p.review(w, r, s, true)
}

func (p *Portal) review(w http.ResponseWriter, r *http.Request, s *session, reject bool) {
	id := r.PathValue("id")
	pr, err := p.app.Latest().Proposal(id)
	if err != nil || !pr.Reviewable(s.who) {
		p.fail(w, r, s, http.StatusNotFound, "There is no such proposal waiting for you.")
		return
	}
	signer, reason, ok := p.signedForm(w, r, s, reject, "Say why you reject the correction.")
	if !ok {
		return
	}
	done := "approved"
	if reject {
		done, err = "rejected", p.records.Reject(r.Context(), signer, id, reason)
	} else {
		err = p.records.Approve(r.Context(), signer, id)
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	p.logger.Info("portal review", "principal", s.who.ID, "proposal", id, "decision", done)
	http.Redirect(w, r, "/portal/approvals?done="+done, http.StatusSeeOther)
}

// signedForm reads what a form signed with the signed-in person's key
// needs: its reason (trimmed; required, or else missing is the answer;
// at most consent.MaxReasonLen bytes) and their signer on this node. It
// answers and reports false if either is missing.
func (p *Portal) signedForm(w http.ResponseWriter, r *http.Request, s *session, required bool, missing string) (records.Signer, string, bool) {
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	switch {
	case required && reason == "":
		p.fail(w, r, s, http.StatusBadRequest, missing)
		return records.Signer{}, "", false
	case len(reason) > consent.MaxReasonLen:
		p.fail(w, r, s, http.StatusBadRequest, "The reason is too long.")
		return records.Signer{}, "", false
	}
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node does not hold your signing key: sign in again, or use your own organization's node.")
	}
	return signer, reason, ok
}
