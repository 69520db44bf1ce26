package records

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// Drafting a claim, for people who do not write FHIR by hand (the
// portal's billing page): a claim is made from an Invoice — one item per
// line, with its ChargeItem's code, quantity, encounter and date and the
// catalogue's unit price — and a prior authorization from services of the
// biller's own catalogue. The Coverage is the patient's first active one
// the biller may read whose plan has rules; the prior authorizations a
// claim names are the patient's approved ones, under the same plan, for
// the codes the plan's rules in force say need one. Every read is a
// billing read, consent-checked and logged; SubmitClaim then checks the
// draft as it checks any FHIR Claim.

// ClaimDraft asks DraftClaim for a Claim.
type ClaimDraft struct {
	Patient string
	Use     string // claims.UseClaim (from Invoice) or claims.UsePreauthorization (of Services)
	Invoice string // the Invoice's record ID
	// Services are what a prior authorization asks for: definitions (url)
	// of the requester's organization's catalogue, with quantities.
	Services []DraftService
}

// DraftService is one service of a prior authorization.
type DraftService struct {
	Definition string // a ChargeItemDefinition's url
	Quantity   int64
}

// Draft is a FHIR Claim ready for SubmitClaim, and what it was made from.
type Draft struct {
	Resource    []byte // health data: never log it
	Coverage    string // the Coverage's record ID
	Insurer     string
	PreAuthRefs []string
}

// DraftClaim makes the Claim d asks for, as requester. A patient without
// coverage is ErrClaimRefused; an Invoice that is not the patient's, or
// that requester may not read, is ErrNotVisible.
func (s *Service) DraftClaim(ctx context.Context, requester string, d ClaimDraft) (*Draft, error) {
	me, err := s.latest().Principal(requester)
	if err != nil {
		return nil, err
	}
	covID, cov, err := s.FindCoverage(ctx, requester, d.Patient)
	if err != nil {
		return nil, err
	}
	var items []any
	switch d.Use {
	case claims.UseClaim:
		items, err = s.invoiceItems(ctx, requester, d.Patient, d.Invoice)
	case claims.UsePreauthorization:
		items, err = s.serviceItems(me.Org, d.Services)
	default:
		err = fmt.Errorf("%w: use %q: want claim or preauthorization", ErrInvalid, d.Use)
	}
	if err != nil {
		return nil, err
	}
	out := &Draft{Coverage: covID, Insurer: cov.Insurer}
	if d.Use == claims.UseClaim {
		if out.PreAuthRefs, err = s.approvedPreAuths(ctx, requester, cov, items); err != nil {
			return nil, err
		}
	}
	insurance := map[string]any{"sequence": 1, "focal": true, "coverage": map[string]any{"reference": "Coverage/" + covID}}
	if len(out.PreAuthRefs) > 0 {
		insurance["preAuthRef"] = out.PreAuthRefs
	}
	out.Resource, err = json.Marshal(map[string]any{"resourceType": "Claim", "status": "active", "use": d.Use,
		"type":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
		"patient":  map[string]any{"reference": patientReference(d.Patient)},
		"created":  s.now().UTC().Format(time.DateOnly),
		"provider": map[string]any{"reference": "Organization/" + me.Org},
		"priority": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}}},
		"insurer":  map[string]any{"reference": "Organization/" + cov.Insurer}, "insurance": []any{insurance}, "item": items})
	return out, err
}

// FindCoverage is the first active Coverage of patient that requester may
// read for billing and whose plan has rules on the ledger; else
// ErrClaimRefused says there is no coverage.
func (s *Service) FindCoverage(ctx context.Context, requester, patient string) (string, *Coverage, error) {
	recs, err := s.ReadPatient(ctx, Query{Requester: requester, Patient: patient, Purpose: consent.PurposeBilling,
		Keep: func(h *carechain.RecordHead) bool { return h.ResourceType == "Coverage" && !h.Deleted }})
	if err != nil {
		return "", nil, err
	}
	v := s.latest()
	var found *Coverage
	id := ""
	for _, rec := range recs {
		cov, err := ParseCoverage(rec.Resource)
		clear(rec.Resource)
		if err != nil || found != nil || cov.Status != "active" || cov.Patient != patient {
			continue
		}
		if _, err := v.PlanRules(cov.Insurer, cov.Plan, 0); err == nil {
			found, id = cov, rec.RecordID
		}
	}
	if found == nil {
		return "", nil, fmt.Errorf("%w: no coverage: %s has no active Coverage that %s may read under a plan with rules", ErrClaimRefused, patient, requester)
	}
	return id, found, nil
}

// invoiceItems are the Claim items of Invoice invoice's lines.
func (s *Service) invoiceItems(ctx context.Context, requester, patient, invoice string) ([]any, error) {
	rec, err := s.Read(ctx, requester, invoice, 0, consent.PurposeBilling)
	if err != nil {
		return nil, err
	}
	inv, err := DecodeExact(rec.Resource)
	clear(rec.Resource)
	if err != nil || rec.ResourceType != "Invoice" || rec.Patient != patient || rec.Deleted {
		return nil, ErrNotVisible
	}
	if st, _ := inv["status"].(string); st == "cancelled" || st == "entered-in-error" || st == "draft" {
		return nil, fmt.Errorf("%w: Invoice/%s is %s: only an issued invoice is claimed", ErrClaimRefused, invoice, st)
	}
	v := s.latest()
	var items []any
	for i, l := range asList(inv["lineItem"]) {
		line, _ := l.(map[string]any)
		id, _ := strings.CutPrefix(refOf(line["chargeItemReference"]), "ChargeItem/")
		ci, err := s.Read(ctx, requester, id, 0, consent.PurposeBilling)
		if err != nil {
			return nil, fmt.Errorf("Invoice/%s line %d: %w", invoice, i+1, err)
		}
		item, err := DecodeExact(ci.Resource)
		clear(ci.Resource)
		if err != nil || ci.ResourceType != "ChargeItem" || ci.Patient != patient {
			return nil, fmt.Errorf("%w: Invoice/%s line %d is not a ChargeItem of the patient", ErrClaimRefused, invoice, i+1)
		}
		it, err := chargeClaimItem(v, len(items)+1, id, item)
		if err != nil {
			return nil, fmt.Errorf("%w: Invoice/%s line %d: %w", ErrClaimRefused, invoice, i+1, err)
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: Invoice/%s has no lines", ErrClaimRefused, invoice)
	}
	return items, nil
}

// chargeClaimItem is the Claim item of ChargeItem id.
func chargeClaimItem(v *ledger.View, seq int, id string, item map[string]any) (map[string]any, error) {
	codes := codingsOf(item["code"])
	if len(codes) == 0 || codes[0].System == "" {
		return nil, fmt.Errorf("ChargeItem/%s has no coded code (a system and a code): an insurer cannot adjudicate it", id)
	}
	unit, cur, err := unitPrice(v, id, item)
	if err != nil {
		return nil, err
	}
	qty := json.Number("1")
	quantity, _ := item["quantity"].(map[string]any)
	if q, ok := quantity["value"]; ok {
		qty = json.Number(fmt.Sprint(q))
	}
	service := map[string]any{"coding": []any{map[string]any{"system": codes[0].System, "code": codes[0].Code}}}
	if cc, _ := item["code"].(map[string]any); CodeText(cc) != "" {
		service["text"] = CodeText(cc)
	}
	out := map[string]any{"sequence": seq, "productOrService": service,
		"quantity": map[string]any{"value": qty}, "unitPrice": money(unit, cur)}
	if d, _ := item["enteredDate"].(string); len(d) >= len(time.DateOnly) {
		out["servicedDate"] = d[:len(time.DateOnly)]
	}
	if enc := refOf(item["context"]); strings.HasPrefix(enc, "Encounter/") {
		out["encounter"] = []any{map[string]any{"reference": enc}}
	}
	return out, nil
}

// serviceItems are the Claim items of services of org's catalogue.
func (s *Service) serviceItems(org string, services []DraftService) ([]any, error) {
	defs, err := activeDefinitions(s.latest(), org)
	if err != nil {
		return nil, err
	}
	var items []any
	for _, sv := range services {
		i := slices.IndexFunc(defs, func(d definition) bool { return d.URL == sv.Definition })
		if i < 0 || defs[i].price == nil || len(defs[i].Codes) == 0 {
			return nil, fmt.Errorf("%w: %s is not a coded, priced service of %s's catalogue", ErrClaimRefused, sv.Definition, org)
		}
		if sv.Quantity < 1 || sv.Quantity > 1000 {
			return nil, fmt.Errorf("%w: quantity %d: want 1 to 1000", ErrInvalid, sv.Quantity)
		}
		unit, cur, err := amountOf(defs[i].price)
		if err != nil {
			return nil, err
		}
		c := defs[i].Codes[0]
		items = append(items, map[string]any{"sequence": len(items) + 1,
			"productOrService": map[string]any{"coding": []any{map[string]any{"system": c.System, "code": c.Code}}, "text": defs[i].Title},
			"quantity":         map[string]any{"value": sv.Quantity}, "unitPrice": money(unit, cur)})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: a prior authorization asks for at least one service", ErrInvalid)
	}
	return items, nil
}

// approvedPreAuths are the patient's approved prior authorizations under
// cov's plan that approve a code of items the plan's rules in force say
// needs one.
func (s *Service) approvedPreAuths(ctx context.Context, requester string, cov *Coverage, items []any) ([]string, error) {
	pv, err := s.latest().PlanRules(cov.Insurer, cov.Plan, 0)
	if err != nil {
		return nil, err
	}
	rules, err := claims.ParseRules(pv.Rules)
	if err != nil {
		return nil, err
	}
	var need []string
	for _, it := range items {
		c := codingsOf(it.(map[string]any)["productOrService"])
		if b := rules.Benefit(c[0].System, c[0].Code); b != nil && b.PriorAuth {
			need = append(need, c[0].System+"|"+c[0].Code)
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	docs, err := s.PatientClaims(ctx, requester, cov.Patient, "ClaimResponse")
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, doc := range docs {
		clear(doc.Resource)
		st := doc.State
		if st.Use != claims.UsePreauthorization || st.Insurer != cov.Insurer || st.Plan != cov.Plan || doc.Result == nil || doc.Result.Outcome == claims.OutcomeDenied {
			continue
		}
		if a := claims.AuthorizationOf(&doc.Facts.Claim, doc.Result); slices.ContainsFunc(need, func(code string) bool { return slices.Contains(a.Codes, code) }) {
			refs = append(refs, st.ID)
		}
	}
	return refs, nil
}

// CatalogueService is a coded, priced service of an organization's
// catalogue: what a prior authorization may ask for.
type CatalogueService struct {
	URL, Title, Price string
}

// CatalogueServices are org's active, coded and priced ChargeItemDefinitions.
func (s *Service) CatalogueServices(org string) ([]CatalogueService, error) {
	defs, err := activeDefinitions(s.latest(), org)
	if err != nil {
		return nil, err
	}
	var out []CatalogueService
	for _, d := range defs {
		if d.price == nil || len(d.Codes) == 0 || d.URL == "" {
			continue
		}
		amount, cur, err := amountOf(d.price)
		if err != nil {
			continue
		}
		out = append(out, CatalogueService{URL: d.URL, Title: cmp.Or(d.Title, d.URL), Price: amount.FloatString(2) + " " + cur})
	}
	return out, nil
}
