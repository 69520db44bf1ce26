package tx

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

// Orders: a patient's rule for what an order to another organization may
// give it, and what a ServiceRequest version tells the ledger of the order
// it is (RecordPut.Order, ledger/orders.go).

// TypeOrderRuleSet sets a patient's order rule.
const TypeOrderRuleSet Type = "order.rule"

func init() { register[OrderRuleSet](TypeOrderRuleSet) }

// OrderRuleSet sets the rule of Patient (the signer, if empty; a delegate
// names the patient). It changes no open order: the rule is checked when
// an order opens or changes performer.
type OrderRuleSet struct {
	Rule    consent.OrderRule `cbor:"1,keyasint"`
	Patient string            `cbor:"2,keyasint,omitempty"`
}

// Validate implements Body.
func (o *OrderRuleSet) Validate() error {
	if o.Patient != "" && (carechain.OrgOf(o.Patient) != "" || carechain.ValidatePrincipalID(o.Patient) != nil) {
		return fmt.Errorf("%w: %q is not a patient id", ErrInvalid, o.Patient)
	}
	if err := o.Rule.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Order is what the ledger sees of an open order (a ServiceRequest that is
// draft, active or on hold) to another organization: its performer (and,
// for a referral to one practitioner, Practitioner, of that organization),
// and
// the records it names that the performer may read while it is open (the
// order itself is always among them). Wraps deliver the current keys of
// those records' categories to the performer, as a read grant's do.
type Order struct {
	Performer string         `cbor:"1,keyasint"`
	Reads     []string       `cbor:"2,keyasint"`
	Wraps     []CategoryWrap `cbor:"3,keyasint,omitempty"`
	// Practitioner, if set, is the one practitioner of Performer the order
	// is to: the grant and the results are theirs, not the organization's.
	Practitioner string `cbor:"4,keyasint,omitempty"`
}

// MaxOrderReads bounds the records one order names.
const MaxOrderReads = 16

// validateOrder checks Order, BasedOn and Rotations: an order only on a
// ServiceRequest that is not deleted, naming itself; a result (BasedOn)
// not on a ServiceRequest.
func (r *RecordPut) validateOrder() error {
	if o := r.Order; o != nil {
		if r.ResourceType != "ServiceRequest" || r.Deleted || carechain.ValidateOrgID(o.Performer) != nil {
			return fmt.Errorf("%w: only a ServiceRequest that is not deleted is an order, to an organization", ErrInvalid)
		}
		if len(o.Reads) == 0 || len(o.Reads) > MaxOrderReads || o.Reads[0] != r.RecordID {
			return fmt.Errorf("%w: an order names itself first and at most %d records", ErrInvalid, MaxOrderReads)
		}
		for i, id := range o.Reads {
			if !recordIDPattern.MatchString(id) || slices.Contains(o.Reads[:i], id) {
				return fmt.Errorf("%w: order names %q: not an id, or twice", ErrInvalid, id)
			}
		}
		if o.Practitioner != "" && carechain.OrgOf(o.Practitioner) != o.Performer {
			return fmt.Errorf("%w: an order's practitioner is of its performer organization", ErrInvalid)
		}
		if err := validateCategoryWraps(o.Wraps); err != nil {
			return err
		}
	}
	if r.BasedOn != "" && (r.ResourceType == "ServiceRequest" || !recordIDPattern.MatchString(r.BasedOn)) {
		return fmt.Errorf("%w: a result is based on an order's record id, and is no order itself", ErrInvalid)
	}
	if len(r.Rotations) > 0 && (r.ResourceType != "ServiceRequest" || r.Order != nil) {
		return fmt.Errorf("%w: only a ServiceRequest version that closes an order rotates keys", ErrInvalid)
	}
	return validateRotations(r.Rotations)
}
