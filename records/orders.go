package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// Orders to another organization (ledger/orders.go): what a ServiceRequest
// or a result tells the ledger, and the keys an order delivers to its
// performer or rotates when it closes.

// openOrderStatuses are the ServiceRequest statuses of an open order.
var openOrderStatuses = []string{"draft", "active", "on-hold"}

// orderNames are the elements of a ServiceRequest naming records its
// performer needs to read: the order itself comes first.
var orderNames = []string{"supportingInfo", "specimen", "reasonReference"}

// orderFacts sets on body what the ledger's order rules need of res: for
// a ServiceRequest, the open order to another organization it is
// (tx.Order, with the key wraps it delivers) or, when it closes one, the
// key rotations; for another resource, the order it is a result of.
func (s *Service) orderFacts(v *ledger.View, author Signer, body *tx.RecordPut, res *fhirjson.Resource, pending pendingEpochs) error {
	me, err := v.Principal(author.ID)
	if err != nil || me.Kind == carechain.KindPatient {
		return err // what a patient enters orders nothing and answers no order
	}
	if res.Type() != "ServiceRequest" {
		body.BasedOn = basedOn(v, body.Patient, res)
		return nil
	}
	performer, practitioner := performerOf(res)
	if body.Deleted || performer == "" || performer == me.Org || !slices.Contains(openOrderStatuses, res.Code("status")) {
		return s.closeOrder(v, body)
	}
	if _, err := v.Organization(performer); err != nil {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("ServiceRequest.performer: %s is not an organization of the consortium", performer))
	}
	grantee := consent.Grantee{Org: performer}
	if practitioner != "" {
		if p, err := v.Principal(practitioner); err != nil || p.Kind != carechain.KindPractitioner {
			return carechain.E(carechain.KindInvalid, fmt.Errorf("ServiceRequest.performer: %s is not a practitioner of the consortium", practitioner))
		}
		grantee = consent.Grantee{Principal: practitioner}
	}
	o := &tx.Order{Performer: performer, Practitioner: practitioner, Reads: []string{body.RecordID}}
	cats := []string{body.Category}
	for _, el := range orderNames {
		for _, ref := range res.ReferenceList(el) {
			_, id, ok := strings.Cut(ref, "/")
			head, err := v.Record(id)
			if !ok || err != nil || head.Patient != body.Patient || head.Deleted || slices.Contains(o.Reads, id) {
				continue // not a live record of the patient here: nothing to share
			}
			if len(o.Reads) == tx.MaxOrderReads {
				return carechain.E(carechain.KindInvalid, fmt.Errorf("an order names at most %d records", tx.MaxOrderReads-1))
			}
			o.Reads = append(o.Reads, id)
			cats = consent.AddReaders(cats, head.Category)
		}
	}
	reader, err := v.ReaderOf(grantee)
	if err != nil {
		return err
	}
	for _, cat := range cats {
		w, err := s.orderWrap(v, body, consent.ReaderOf(me), reader, cat, pending)
		if err != nil {
			return fmt.Errorf("delivering the keys of %s to %s: %w", cat, performer, err)
		}
		if w != nil {
			o.Wraps = append(o.Wraps, *w)
		}
	}
	body.Order = o
	return nil
}

// orderWrap is the key of cat's epoch as the ledger will find it once
// body's own epoch is applied, wrapped to reader; nil if reader holds it
// already or the category has none.
func (s *Service) orderWrap(v *ledger.View, body *tx.RecordPut, author, reader, cat string, pending pendingEpochs) (*tx.CategoryWrap, error) {
	cur, err := v.Epoch(body.Patient, cat)
	if err != nil {
		return nil, err
	}
	if k, ok := pending[epochRef{body.Patient, cat, cur.Epoch + 1}]; ok { // started in this transaction
		readers, err := v.NextEpochReaders(body.Patient, cat, author, s.now().Unix())
		if err != nil || slices.Contains(readers, reader) {
			return nil, err
		}
		w, err := wrapTo(v, reader, k, body.Patient, cat, cur.Epoch+1)
		return &tx.CategoryWrap{Category: cat, Epoch: cur.Epoch + 1, Wrapped: w}, err
	}
	ws, err := s.deliver(v, body.Patient, author, reader, []string{cat}) // as a grant delivers keys
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	return &ws[0], nil
}

// closeOrder sets the rotations a ServiceRequest version that closes its
// open order needs: new epochs of the categories whose readers shrink once
// the order's grant is revoked.
func (s *Service) closeOrder(v *ledger.View, body *tx.RecordPut) error {
	st, err := v.Order(body.RecordID)
	if errors.Is(err, ledger.ErrNotFound) || (err == nil && !st.Open) {
		return nil
	} else if err != nil {
		return err
	}
	grants, err := v.Grants(st.Patient)
	if err != nil {
		return err
	}
	g := grants.Find(st.Grant)
	if g == nil {
		return fmt.Errorf("order %s: its grant %s is missing", body.RecordID, st.Grant)
	}
	body.Rotations, err = s.rotations(v, st.Patient, g.Categories, ledger.Without{Grant: st.Grant}, "", nil)
	return err
}

// performerOf is who a ServiceRequest is to: its first performer that is
// an organization ("Organization/<id>") or a practitioner
// ("Practitioner/<org>.<name>": a referral to one person), as the
// organization and, for a practitioner, their principal ID; "" if none.
func performerOf(res *fhirjson.Resource) (org, practitioner string) {
	for _, ref := range res.ReferenceList("performer") {
		if id, ok := strings.CutPrefix(ref, "Organization/"); ok && carechain.ValidateOrgID(id) == nil {
			return id, ""
		}
		if id, ok := strings.CutPrefix(ref, "Practitioner/"); ok {
			org, name, _ := strings.Cut(id, ".")
			if p := org + "/" + name; carechain.ValidateOrgID(org) == nil && carechain.ValidatePrincipalID(p) == nil {
				return org, p
			}
		}
	}
	return "", ""
}

// basedOn is the order a result answers: the first ServiceRequest of the
// patient its basedOn (a Specimen: its request) names; "" if none here.
func basedOn(v *ledger.View, patient string, res *fhirjson.Resource) string {
	refs := res.ReferenceList("basedOn")
	if res.Type() == "Specimen" {
		refs = res.ReferenceList("request")
	}
	for _, ref := range refs {
		id, ok := strings.CutPrefix(ref, "ServiceRequest/")
		if !ok {
			continue
		}
		if head, err := v.Record(id); err == nil && head.Patient == patient && head.ResourceType == "ServiceRequest" {
			return id
		}
	}
	return ""
}

// SetOrderRule sets a patient's order rule, signed by the patient or a
// delegate they named (patient, if set, names whose rule it is). Open
// orders keep their grants; the rule decides orders opened from its commit.
func (s *Service) SetOrderRule(ctx context.Context, signer Signer, patient string, rule consent.OrderRule) error {
	if err := rule.Validate(); err != nil {
		return carechain.E(carechain.KindMalformed, err)
	}
	if patient == signer.ID {
		patient = ""
	}
	_, err := s.submit(ctx, signer, tx.TypeOrderRuleSet, &tx.OrderRuleSet{Rule: rule, Patient: patient})
	return err
}
