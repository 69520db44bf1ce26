package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Insurance claims in the portal. Billing staff submit a claim of an
// invoice and request prior authorizations on the billing page
// (billing.go), which lists the claims of the patients they see; an
// insurer's claims officers have a work queue of the claims to their
// insurer (/portal/claims); patients see their own claims there. Every
// claim is read through records.Service (ReadClaim, PatientClaims,
// InsurerClaims: party and role checks, the access log), drafted by
// records.DraftClaim and submitted by records.SubmitClaim as a FHIR Claim
// is; "Check" re-runs the adjudication (records.VerifyAdjudication).

// maxQueue bounds the claims one work-queue page opens (each is a logged read).
const maxQueue = 200

func (p *Portal) claimRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /portal/billing/invoices/{id}/claim", p.secured(p.posted(p.practitioner(p.billingOnly(p.submitClaim)))))
	mux.HandleFunc("POST /portal/billing/preauth", p.secured(p.posted(p.practitioner(p.billingOnly(p.requestPreAuth)))))
	mux.HandleFunc("GET /portal/claims", p.secured(p.signedIn(p.claimsPage)))
	mux.HandleFunc("POST /portal/claims/{id}/check", p.secured(p.posted(p.signedIn(p.checkClaim))))
}

// isClaimsOfficer reports whether pr is an insurer's claims officer: the
// work queue is theirs.
func isClaimsOfficer(pr *carechain.Principal) bool {
	return pr != nil && pr.Kind == carechain.KindPractitioner && pr.HasRole(carechain.RoleClaimsOfficer)
}

// claimRow is a claim for people.
type claimRow struct {
	ID, Patient, Use, Status, Insurer, Plan, Submitter string
	Lines                                              []claimLine
	Billed, Eligible, InsurancePays, PatientOwes       string
	Reasons                                            []string // why the claim, or an item, was denied
	RulesVersion                                       uint64
	PreAuths                                           []string
	Decided                                            bool
}

// claimLine is one item of a claim and its decision.
type claimLine struct {
	What, Quantity, UnitPrice, Decision string
}

// claimItemTexts are the texts of a Claim's items (productOrService.text),
// by sequence.
func claimItemTexts(resource []byte) map[int64]string {
	var c struct {
		Item []struct {
			Sequence         int64 `json:"sequence"`
			ProductOrService struct {
				Text string `json:"text"`
			} `json:"productOrService"`
		} `json:"item"`
	}
	out := map[int64]string{}
	if json.Unmarshal(resource, &c) == nil {
		for _, it := range c.Item {
			out[it.Sequence] = it.ProductOrService.Text
		}
	}
	return out
}

// claimRowOf is doc for people; it clears doc's plaintext.
func claimRowOf(v *ledger.View, doc *records.ClaimDoc) claimRow {
	defer clear(doc.Resource)
	st := doc.State
	row := claimRow{ID: st.ID, Patient: strings.TrimPrefix(st.Patient, carechain.PatientPrefix), Use: st.Use,
		Insurer: st.Insurer, Plan: st.Plan, Submitter: principalLabel(v, st.Submitter), RulesVersion: st.RulesVersion, PreAuths: st.PreAuths}
	if st.Use == claims.UsePreauthorization {
		row.Use = "prior authorization"
	}
	if o, err := v.Organization(st.Insurer); err == nil && o.Name != "" {
		row.Insurer = o.Name
	}
	row.decisions(&doc.Facts.Claim, doc.Result, claimItemTexts(doc.Resource))
	return row
}

// decisions fills in row's status, items, amounts and reasons from claim c
// and its adjudication res (nil: pending); texts name the items by
// sequence.
func (row *claimRow) decisions(c *claims.Claim, res *claims.Result, texts map[int64]string) {
	row.Status = "pending"
	var billed int64
	for _, it := range c.Items {
		line := claimLine{What: cmpText(texts[it.Sequence], it.System+"|"+it.Code), Quantity: strconv.FormatInt(it.Quantity, 10),
			UnitPrice: amount(it.UnitPrice, c.Currency), Decision: "pending"}
		billed += it.UnitPrice * it.Quantity
		row.Lines = append(row.Lines, line)
	}
	row.Billed = amount(billed, c.Currency)
	if res == nil {
		return
	}
	row.Decided, row.Status = true, res.Outcome
	row.Billed, row.Eligible = amount(res.Submitted, res.Currency), amount(res.Eligible, res.Currency)
	row.InsurancePays, row.PatientOwes = amount(res.Benefit, res.Currency), amount(res.PatientPays, res.Currency)
	row.Reasons = append(append(row.Reasons, res.Reasons...), res.Notes...)
	for _, ir := range res.Items {
		i := slices.IndexFunc(c.Items, func(it claims.Item) bool { return it.Sequence == ir.Sequence })
		if i < 0 {
			continue
		}
		row.Lines[i].Decision = "approved"
		if !ir.Approved {
			row.Lines[i].Decision = "denied: " + ir.Reason
			row.Reasons = append(row.Reasons, row.Lines[i].What+": "+ir.Reason)
		}
	}
}

// cmpText is text, or else fallback.
func cmpText(text, fallback string) string {
	if text != "" {
		return text
	}
	return fallback
}

// amount writes minor units of currency for people: "12.50 EUR".
func amount(minor int64, currency string) string {
	return string(records.Decimal(minor)) + " " + currency
}

// billingClaims are the claims of patients (for the billing page), read
// as s's user.
func (p *Portal) billingClaims(r *http.Request, s *session, patients []patientRow) ([]claimRow, error) {
	v := p.app.Latest()
	var out []claimRow
	for _, pt := range patients {
		docs, err := p.records.PatientClaims(r.Context(), s.who.ID, pt.ID, "Claim")
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			out = append(out, claimRowOf(v, d))
		}
	}
	slices.SortStableFunc(out, func(a, b claimRow) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

// claimSubmitted is what the billing page says of a claim just submitted.
type claimSubmitted struct {
	ID, Use, Insurer, Coverage string
	PreAuths                   []string
}

// submitClaim drafts the claim of an invoice and submits it.
func (p *Portal) submitClaim(w http.ResponseWriter, r *http.Request, s *session) {
	p.submitDraft(w, r, s, records.ClaimDraft{Patient: carechain.PatientPrefix + r.PostForm.Get("patient"), Use: claims.UseClaim, Invoice: r.PathValue("id")})
}

// requestPreAuth drafts a prior authorization of a catalogue service and submits it.
func (p *Portal) requestPreAuth(w http.ResponseWriter, r *http.Request, s *session) {
	qty, err := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("quantity")), 10, 64)
	if err != nil || qty < 1 {
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was requested: Quantity must be a whole number of at least 1.")
		return
	}
	p.submitDraft(w, r, s, records.ClaimDraft{Patient: carechain.PatientPrefix + r.PostForm.Get("patient"), Use: claims.UsePreauthorization,
		Services: []records.DraftService{{Definition: r.PostForm.Get("service"), Quantity: qty}}})
}

// submitDraft drafts d and submits it, signed by s's user, then shows the
// billing page; a refusal is a page with the reason, and nothing written.
func (p *Portal) submitDraft(w http.ResponseWriter, r *http.Request, s *session, d records.ClaimDraft) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	what := "claim"
	if d.Use == claims.UsePreauthorization {
		what = "prior authorization request"
	}
	draft, err := p.records.DraftClaim(r.Context(), s.who.ID, d)
	if err == nil {
		id := records.NewRecordID()
		var body map[string]any
		if err = json.Unmarshal(draft.Resource, &body); err == nil {
			body["id"] = id
			raw, _ := json.Marshal(body)
			clear(draft.Resource)
			_, err = p.records.SubmitClaim(r.Context(), signer, id, raw)
			clear(raw)
		}
		if err == nil {
			insurer := draft.Insurer
			if o, oerr := p.app.Latest().Organization(insurer); oerr == nil && o.Name != "" {
				insurer = o.Name
			}
			p.renderBillingPage(w, r, s, billingPage{Claim: &claimSubmitted{ID: id, Use: what, Insurer: insurer, Coverage: draft.Coverage, PreAuths: draft.PreAuthRefs}})
			return
		}
	}
	p.claimRefused(w, r, s, what, err)
}

// claimRefused answers a claim that was not submitted, with the reason.
func (p *Portal) claimRefused(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	var denied *records.DeniedError
	kind := carechain.KindOf(err)
	switch {
	case errors.As(err, &denied), kind == carechain.KindNotFound:
		p.fail(w, r, s, http.StatusNotFound, "The "+what+" was not submitted: there is no such invoice or patient you may bill. Nothing was written.")
	case kind == carechain.KindInvalid || kind == carechain.KindMalformed || kind == carechain.KindConflict || kind == carechain.KindPermission:
		p.fail(w, r, s, kind.Status(), "The "+what+" was not submitted: "+err.Error()+". Nothing was written.")
	default:
		p.failErr(w, r, s, err)
	}
}

// claimsPage is a patient's claims, or a claims officer's work queue.
type claimsPage struct {
	Insurer string // the officer's insurer; "" for a patient
	Claims  []claimRow
	Pending int
}

// claimsPage shows the signed-in patient's claims, or the work queue of a
// claims officer; others get a 403 page.
func (p *Portal) claimsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	var docs []*records.ClaimDoc
	var err error
	page := claimsPage{}
	switch {
	case s.who.Kind == carechain.KindPatient:
		docs, err = p.records.PatientClaims(r.Context(), s.who.ID, s.who.ID, "ExplanationOfBenefit")
	case isClaimsOfficer(s.who):
		page.Insurer = s.who.Org
		if o, oerr := v.Organization(s.who.Org); oerr == nil && o.Name != "" {
			page.Insurer = o.Name
		}
		docs, err = p.records.InsurerClaims(r.Context(), s.who.ID, "Claim", maxQueue)
	default:
		p.fail(w, r, s, http.StatusForbidden, "This page is for patients and insurers' claims officers.")
		return
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, d := range docs {
		row := claimRowOf(v, d)
		if !row.Decided {
			page.Pending++
		}
		page.Claims = append(page.Claims, row)
	}
	title := "My claims"
	if page.Insurer != "" {
		title = "Claims work queue"
	}
	p.render(w, s, http.StatusOK, "claims", title, page)
}

// claimCheck is the outcome of re-running a claim's adjudication.
type claimCheck struct {
	ID, Signer, Back, Problem                        string // Back: the page the user came from
	Agrees                                           bool
	PostedOutcome, RecomputedOutcome                 string
	PostedPays, RecomputedPays, PostedOwes, Computed string
	RulesVersion                                     uint64
}

// checkClaim re-runs claim {id}'s adjudication on this node and says
// whether the posted decision agrees with the rules.
func (p *Portal) checkClaim(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ver, err := p.records.VerifyAdjudication(r.Context(), s.who.ID, id)
	var denied *records.DeniedError
	switch {
	case errors.Is(err, ledger.ErrNotFound), errors.As(err, &denied):
		p.fail(w, r, s, http.StatusNotFound, "There is no such claim you may read.")
		return
	case errors.Is(err, records.ErrNotAdjudicated):
		p.fail(w, r, s, http.StatusConflict, fmt.Sprintf("Claim %s is not decided yet: there is nothing to check.", id))
		return
	case err != nil:
		p.failErr(w, r, s, err)
		return
	}
	po, re := ver.Posted, ver.Recomputed
	back := "/portal/claims"
	if s.who.Kind == carechain.KindPractitioner && !isClaimsOfficer(s.who) {
		back = "/portal/billing"
	}
	p.render(w, s, http.StatusOK, "claimcheck", "Check of claim "+id, claimCheck{ID: id, Back: back, Signer: principalLabel(p.app.Latest(), ver.Signer),
		Agrees: ver.Agrees, Problem: ver.Problem, PostedOutcome: po.Outcome, RecomputedOutcome: re.Outcome, PostedPays: amount(po.Benefit, po.Currency),
		RecomputedPays: amount(re.Benefit, re.Currency), PostedOwes: amount(po.PatientPays, po.Currency), Computed: amount(re.PatientPays, re.Currency),
		RulesVersion: po.RulesVersion})
}
