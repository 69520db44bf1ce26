package tx

import (
	"fmt"

	"github.com/carechain/carechain"
)

// Merging a duplicate patient: the same person registered twice. A
// registration clerk or admin proposes the merge (identity.merge); it takes
// effect only once the person has signed with both identities' keys
// (identity.merge-approve): the surviving identity (target) accepts first,
// then the duplicate (source) approves, delivering its record keys to the
// target. Either may decline instead, which ends the proposal.
const (
	TypeMerge        Type = "identity.merge"
	TypeMergeApprove Type = "identity.merge-approve"
)

func init() {
	register[Merge](TypeMerge)
	register[MergeApprove](TypeMergeApprove)
}

// Merge proposes that patient Source is a duplicate of patient Target,
// which survives.
type Merge struct {
	Source string `cbor:"1,keyasint"`
	Target string `cbor:"2,keyasint"`
}

// Validate implements Body.
func (m *Merge) Validate() error {
	if err := checkPatientID("source", m.Source); err != nil {
		return err
	}
	if err := checkPatientID("target", m.Target); err != nil {
		return err
	}
	if m.Source == m.Target {
		return fmt.Errorf("%w: a patient is not a duplicate of themself", ErrInvalid)
	}
	return nil
}

// MergeApprove is the person's answer to the proposed merge of Source,
// signed by the source or the target identity. Wraps, only in the source's
// approval, deliver the source's current epoch keys to the target.
type MergeApprove struct {
	Source  string         `cbor:"1,keyasint"`
	Decline bool           `cbor:"2,keyasint,omitempty"`
	Wraps   []CategoryWrap `cbor:"3,keyasint,omitempty"`
}

// Validate implements Body.
func (m *MergeApprove) Validate() error {
	if err := checkPatientID("source", m.Source); err != nil {
		return err
	}
	if m.Decline && len(m.Wraps) > 0 {
		return fmt.Errorf("%w: declining a merge carries no keys", ErrInvalid)
	}
	return validateCategoryWraps(m.Wraps)
}

func checkPatientID(field, id string) error {
	if carechain.ValidatePrincipalID(id) != nil || carechain.OrgOf(id) != "" {
		return fmt.Errorf("%w: %s %q is not a patient id (patient/<id>)", ErrInvalid, field, id)
	}
	return nil
}
