package ledger

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Orders to another organization. A ServiceRequest version that carries
// tx.RecordPut.Order is an open order to its performer: when it opens, the
// patient's order rule (tx.OrderRuleSet; every organization if none was
// set) must admit the performer, and the ledger makes the order's grant —
// read, for treatment, of the records the order names, with their
// categories' keys delivered to the performer — and lets the performer's
// staff write results: record versions whose BasedOn is the order, in the
// order's category, as far as their role policy lets them write it, which
// the organization that placed the order reads (a second grant, of the
// order's results, that outlives the order). A
// version without Order (completed, revoked, in error) closes the order:
// the grant is revoked, the keys of categories whose readers shrink rotate
// (tx.RecordPut.Rotations), and a result based on it is refused. A closed
// order does not reopen.
//
// What this puts on the ledger in plain: which organization an order is to,
// which records it names, and which result answers which order.
//
// A ServiceRequest version without Order, of a record these rules never
// tracked, writes nothing here, nor does a result without BasedOn: a
// chain's earlier blocks replay to the app hashes they had.

// OrderState is an order's state, stored at "order/<record>".
type OrderState struct {
	Patient   string `cbor:"1,keyasint"`
	Performer string `cbor:"2,keyasint"`
	// Category is the order's own category: its results are written in it.
	Category string `cbor:"3,keyasint"`
	Grant    string `cbor:"4,keyasint"`
	Open     bool   `cbor:"5,keyasint,omitempty"`
	// Practitioner, if set, is the one practitioner of Performer the
	// order is to (a referral): the grant and the results are theirs.
	Practitioner string `cbor:"6,keyasint,omitempty"`
	// Placer is the organization that wrote the order: it reads the
	// results (the grant ResultsGrantID), whoever writes them.
	Placer string `cbor:"7,keyasint,omitempty"`
}

// grantee is who an order's grant is for.
func (st *OrderState) grantee() consent.Grantee {
	if st.Practitioner != "" {
		return consent.Grantee{Principal: st.Practitioner}
	}
	return consent.Grantee{Org: st.Performer}
}

func orderKey(record string) string      { return "order/" + record }
func orderRuleKey(patient string) string { return "order-rule/" + patient }

// OrderGrantID is the ID of the grant of the order record id to its performer.
func OrderGrantID(record string) string {
	h := sha256.Sum256([]byte(record))
	return "o-" + hex.EncodeToString(h[:6])
}

// ResultsGrantID is the ID of the grant of the results of the order record
// id to the organization that placed it.
func ResultsGrantID(record string) string {
	h := sha256.Sum256([]byte(record))
	return "r-" + hex.EncodeToString(h[:6])
}

func init() { handle(tx.TypeOrderRuleSet, (*App).applyOrderRuleSet) }

func (a *App) applyOrderRuleSet(b *store.Block, c *checked, body *tx.OrderRuleSet) *Rejection {
	patient := body.Patient
	if patient == "" {
		patient = c.signer.ID
	}
	if rej := actsFor(b, c.signer, patient); rej != nil {
		return rej
	}
	if err := setLogged(b, orderRuleKey(patient), body.Rule, tlog.KindConsent, orderRuleKey(patient)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func orderRuleOf(r reader, patient string) (consent.OrderRule, error) {
	rule := consent.OrderRule{Allow: consent.OrdersToAll}
	if err := getCBOR(r, orderRuleKey(patient), &rule); err != nil && !errors.Is(err, ErrNotFound) {
		return rule, err
	}
	return rule, nil
}

// OrderRule is the patient's order rule (every organization if none was set).
func (v *View) OrderRule(patient string) (consent.OrderRule, error) { return orderRuleOf(v, patient) }

// Order returns an order's state; ErrNotFound if the record is no order
// to another organization.
func (v *View) Order(record string) (OrderState, error) {
	var st OrderState
	return st, getCBOR(v, orderKey(record), &st)
}

// applyOrder applies what a ServiceRequest version r, written by signer,
// says of its order.
func applyOrder(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	if r.ResourceType != "ServiceRequest" {
		return nil
	}
	var st OrderState
	err := getCBOR(b, orderKey(r.RecordID), &st)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if r.Order == nil {
		if !found || !st.Open {
			if len(r.Rotations) > 0 {
				return reject(CodeInvalid, "record %s closes no open order: it rotates no keys", r.RecordID)
			}
			return nil // nothing tracked: the state stays as it was
		}
		return closeOrder(b, now, r, &st)
	}
	o := r.Order
	switch {
	case signer.Kind == carechain.KindPatient:
		return reject(CodeInvalid, "what a patient enters is no order to an organization")
	case found && !st.Open:
		return reject(CodeConflict, "order %s was closed: a closed order does not reopen; write a new order", r.RecordID)
	case found && (st.Performer != o.Performer || st.Practitioner != o.Practitioner):
		return reject(CodeConflict, "order %s is open to %s: close it, and write a new order to %s", r.RecordID, cmp.Or(st.Practitioner, st.Performer), cmp.Or(o.Practitioner, o.Performer))
	case o.Performer == signer.Org:
		return reject(CodeInvalid, "an order to the author's own organization (%s) gives no access", o.Performer)
	}
	if _, err := getOrg(b, o.Performer); err != nil {
		return reject(CodeInvalid, "organization %q does not exist", o.Performer)
	}
	if o.Practitioner != "" {
		if p, err := getPrincipal(b, o.Practitioner); err != nil || p.Kind != carechain.KindPractitioner || p.Status != carechain.StatusActive {
			return reject(CodeInvalid, "%s is not an active practitioner", o.Practitioner)
		}
	}
	if !found {
		rule, err := orderRuleOf(b, r.Patient)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if !rule.Admits(o.Performer) {
			return reject(CodeDenied, "the order rule of %s does not let an order give %s access (%s)", r.Patient, o.Performer, rule)
		}
	}
	return openOrder(b, now, r, OrderState{Patient: r.Patient, Performer: o.Performer, Practitioner: o.Practitioner, Category: r.Category,
		Grant: OrderGrantID(r.RecordID), Open: true, Placer: signer.Org})
}

// openOrder stores an open order's state and its grant: read of the records
// it names (their categories' keys delivered to the performer). An order
// that changes what it names keeps the categories it covered: they rotate
// when it closes.
func openOrder(b *store.Block, now int64, r *tx.RecordPut, st OrderState) *Rejection {
	cats := []string{r.Category}
	for _, id := range r.Order.Reads[1:] {
		var head carechain.RecordHead
		if err := getCBOR(b, recordKey(id), &head); err != nil || head.Patient != r.Patient || head.Deleted {
			return reject(CodeInvalid, "order %s names %s, which is no record of %s", r.RecordID, id, r.Patient)
		}
		cats = consent.AddReaders(cats, head.Category)
	}
	var prev StoredGrant
	if err := getCBOR(b, grantKey(r.Patient, st.Grant), &prev); err == nil {
		cats = consent.AddReaders(cats, prev.Categories...)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	g := consent.Grant{
		ID: st.Grant, Patient: r.Patient, Grantee: st.grantee(), Categories: cats, Records: r.Order.Reads,
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, Order: r.RecordID,
	}
	if prev.ID != "" {
		g.NotBefore = prev.NotBefore
	} else {
		g.NotBefore = now
	}
	if err := g.Validate(); err != nil {
		return reject(CodeInvalid, "order %s: %v", r.RecordID, err)
	}
	rd, err := readerOf(b, g.Grantee)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if rej := deliverWraps(b, r.Patient, rd, cats, r.Order.Wraps); rej != nil {
		return rej
	}
	if prev.ID == "" || !slices.Equal(prev.Categories, g.Categories) || !slices.Equal(prev.Records, g.Records) {
		if err := setLogged(b, grantKey(r.Patient, g.ID), StoredGrant{Grant: g, Height: b.Height()}, tlog.KindConsent, g.ID); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return setOrReject(b, orderKey(r.RecordID), st)
}

// closeOrder revokes a closing order's grant and rotates the keys of the
// categories whose readers shrink.
func closeOrder(b *store.Block, now int64, r *tx.RecordPut, st *OrderState) *Rejection {
	st.Open = false
	var sg StoredGrant
	if err := getCBOR(b, grantKey(st.Patient, st.Grant), &sg); err != nil {
		return reject(CodeInternal, "order %s: its grant: %v", r.RecordID, err)
	}
	if !sg.Revoked {
		if err := storeRevoked(b, st.Patient, &sg, now); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	if rej := setOrReject(b, orderKey(r.RecordID), *st); rej != nil {
		return rej
	}
	return rotateShrunk(b, st.Patient, sg.Categories, r.Rotations, now, "closing order "+r.RecordID)
}

// checkBasedOn checks the order a result r names: a ServiceRequest record
// of the same patient, not a closed order.
func checkBasedOn(b *store.Block, r *tx.RecordPut) *Rejection {
	if r.BasedOn == "" {
		return nil
	}
	var head carechain.RecordHead
	if err := getCBOR(b, recordKey(r.BasedOn), &head); err != nil || head.Patient != r.Patient || head.ResourceType != "ServiceRequest" {
		return reject(CodeInvalid, "record %s is based on %s, which is no ServiceRequest of %s", r.RecordID, r.BasedOn, r.Patient)
	}
	var st OrderState
	switch err := getCBOR(b, orderKey(r.BasedOn), &st); {
	case errors.Is(err, ErrNotFound):
		return nil // an order within the organization: nothing tracked
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case !st.Open:
		return reject(CodeConflict, "order %s is closed (completed, revoked or in error): it takes no more results", r.BasedOn)
	}
	return nil
}

// addResult lets the organization that placed the order r is based on read
// r: a grant of the order's results, for treatment, made at the first. A
// result by the placer itself needs none; one outside the order's category
// is no result of it here.
func addResult(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	if r.BasedOn == "" {
		return nil
	}
	var st OrderState
	if err := getCBOR(b, orderKey(r.BasedOn), &st); errors.Is(err, ErrNotFound) || err == nil && (st.Placer == "" || st.Placer == signer.Org || st.Category != r.Category) {
		return nil
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	id := ResultsGrantID(r.BasedOn)
	var sg StoredGrant
	switch err := getCBOR(b, grantKey(st.Patient, id), &sg); {
	case errors.Is(err, ErrNotFound):
		sg = StoredGrant{Grant: consent.Grant{
			ID: id, Patient: st.Patient, Grantee: consent.Grantee{Org: st.Placer}, Categories: []string{st.Category},
			Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: now, Order: r.BasedOn,
		}, Height: b.Height()}
	case err != nil:
		return reject(CodeInternal, "%v", err)
	}
	if slices.Contains(sg.Records, r.RecordID) {
		return nil
	}
	sg.Records = append(sg.Records, r.RecordID)
	if err := sg.Validate(); err != nil {
		return reject(CodeInvalid, "order %s: %v", r.BasedOn, err)
	}
	if err := setLogged(b, grantKey(st.Patient, id), sg, tlog.KindConsent, id); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// orderWriteGrant is the write an open order r is based on gives its
// performer: results in the order's category. None when r names no open
// order to signer's organization, or the patient revoked the order's grant.
func orderWriteGrant(r reader, signer *carechain.Principal, rp *tx.RecordPut) *consent.Grant {
	if rp.BasedOn == "" {
		return nil
	}
	var st OrderState
	if err := getCBOR(r, orderKey(rp.BasedOn), &st); err != nil || !st.Open || st.Patient != rp.Patient || st.Performer != signer.Org {
		return nil
	}
	var sg StoredGrant
	if err := getCBOR(r, grantKey(st.Patient, st.Grant), &sg); err != nil || sg.Revoked {
		return nil // the patient revoked the order's access: its writes end with it
	}
	return &consent.Grant{
		ID: st.Grant, Patient: st.Patient, Grantee: st.grantee(), Categories: []string{st.Category},
		Actions: []consent.Action{consent.ActionWrite}, Purposes: []consent.Purpose{consent.PurposeTreatment}, Order: rp.BasedOn,
	}
}

// mayName checks that the author of an order may read each record it
// names besides itself: an order shares what its author reads, nothing
// more. Without it, a performer's staff, who write results based on the
// order, could write a further order (a result may be one) naming records
// that neither they nor their organization may read.
func (a *App) mayName(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	if r.Order == nil || signer.Kind == carechain.KindPatient || len(r.Order.Reads) < 2 {
		return nil // applyOrder refuses a patient's order
	}
	patient, err := getPrincipal(b, r.Patient)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for _, id := range r.Order.Reads[1:] {
		var head carechain.RecordHead
		if err := getCBOR(b, recordKey(id), &head); err != nil || head.Patient != r.Patient {
			continue // openOrder refuses what is no record of the patient
		}
		d, err := a.decide(b, patient, consent.Request{
			Requester: signer, Patient: r.Patient, RecordID: id, Category: head.Category,
			ResourceType: head.ResourceType, Action: consent.ActionRead, Purpose: consent.PurposeTreatment, Time: now,
		})
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if !d.Allowed {
			return reject(CodeDenied, "order %s names %s, which %s may not read: %s", r.RecordID, id, signer.ID, d.Reason)
		}
	}
	return nil
}
