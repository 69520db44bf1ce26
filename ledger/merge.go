package ledger

import (
	"errors"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Merging a duplicate patient (tx/merge.go): a registration clerk or admin
// of an organization that registered one of the two proposes it; the
// person signs with both keys, the surviving identity (target) first, the
// duplicate (source) last, delivering its keys to the target. From that
// block on the source is replaced by the target, for good: no record is
// written for the source again, its records stay and the target reads them
// through a read grant the source's approval makes, and a second merge of
// the source is refused. The source's own grants are not copied to the
// target (deny by default): they go on covering the source's records until
// the person revokes them.

func init() {
	handle(tx.TypeMerge, (*App).applyMerge)
	handle(tx.TypeMergeApprove, (*App).applyMergeApprove)
}

// Merge states.
const (
	MergeProposed = "proposed" // waiting for the target's acceptance
	MergeAccepted = "accepted" // the target accepted; waiting for the source
	MergeDone     = "done"     // the source is replaced by the target
)

// Merge is a proposed or completed merge of a duplicate patient.
type Merge struct {
	Source     string `cbor:"1,keyasint" json:"source"`
	Target     string `cbor:"2,keyasint" json:"target"`
	ProposedBy string `cbor:"3,keyasint" json:"proposed_by"`
	ProposedAt int64  `cbor:"4,keyasint" json:"proposed_at"` // block height
	Status     string `cbor:"5,keyasint" json:"status"`
	DoneAt     int64  `cbor:"6,keyasint,omitempty" json:"done_at,omitempty"` // block height
	// Grant is the read grant of the source's records to the target.
	Grant string `cbor:"7,keyasint,omitempty" json:"grant,omitempty"`
}

func mergeKey(source string) string { return "merge/" + source }

// replacesKey indexes a completed merge under its target.
func replacesKey(target, source string) string { return "replaces/" + target + "/" + source }

func getMerge(r reader, source string) (*Merge, error) {
	var m Merge
	if err := getCBOR(r, mergeKey(source), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// replacedBy is the patient that replaces patient, or "".
func replacedBy(r reader, patient string) (string, error) {
	m, err := getMerge(r, patient)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if m.Status != MergeDone {
		return "", nil
	}
	return m.Target, nil
}

// refuseMerged refuses a write for a patient replaced by another.
func refuseMerged(r reader, patient string) *Rejection {
	to, err := replacedBy(r, patient)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if to != "" {
		return reject(CodeConflict, "%s was merged into %s, which replaces it: write for %s", patient, to, to)
	}
	return nil
}

func (a *App) applyMerge(b *store.Block, c *checked, body *tx.Merge) *Rejection {
	if c.signer.Kind != carechain.KindAdmin && !c.signer.HasRole(carechain.RoleRegistrationClerk) {
		return reject(CodeUnauthorized, "%s may not merge patients: needs an admin or %s", c.signer.ID, carechain.RoleRegistrationClerk)
	}
	src, rej := mergeable(b, body.Source)
	if rej != nil {
		return rej
	}
	dst, rej := mergeable(b, body.Target)
	if rej != nil {
		return rej
	}
	if c.signer.Org != src.Org && c.signer.Org != dst.Org {
		return reject(CodeUnauthorized, "%s may not merge %s and %s: only an organization that registered one of them", c.signer.ID, src.ID, dst.ID)
	}
	if m, err := getMerge(b, src.ID); err == nil {
		return reject(CodeConflict, "%s already has a merge into %s (%s): a merge is never undone, and a proposal is declined before another", src.ID, m.Target, m.Status)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if to, err := replacedBy(b, dst.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if to != "" {
		return reject(CodeInvalid, "%s is itself replaced by %s: merge into %s", dst.ID, to, to)
	}
	if err := scanKeys(b, replacesKey(src.ID, ""), func(string) {
		rej = reject(CodeInvalid, "%s already replaces duplicates of its own: merge %s into %s instead", src.ID, dst.ID, src.ID)
	}); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if rej != nil {
		return rej
	}
	m := Merge{Source: src.ID, Target: dst.ID, ProposedBy: c.signer.ID, ProposedAt: b.Height(), Status: MergeProposed}
	return putMerge(b, &m, "proposed")
}

// mergeable is the active patient id names.
func mergeable(r reader, id string) (*carechain.Principal, *Rejection) {
	p, err := getPrincipal(r, id)
	if errors.Is(err, ErrNotFound) || err == nil && p.Kind != carechain.KindPatient {
		return nil, reject(CodeInvalid, "%q is not a registered patient", id)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if p.Status != carechain.StatusActive {
		return nil, reject(CodeInvalid, "the key of %s is revoked: the person cannot sign the merge", id)
	}
	return p, nil
}

func putMerge(b *store.Block, m *Merge, event string) *Rejection {
	if err := setLogged(b, mergeKey(m.Source), m, tlog.KindIdentity, "merge/"+identityLogKey(m.Source, b.Height())+"/"+event); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyMergeApprove(b *store.Block, c *checked, body *tx.MergeApprove) *Rejection {
	m, err := getMerge(b, body.Source)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "no merge of %s is proposed", body.Source)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if c.signer.ID != m.Source && c.signer.ID != m.Target {
		return reject(CodeUnauthorized, "only %s and %s answer their merge", m.Source, m.Target)
	}
	switch {
	case m.Status == MergeDone:
		return reject(CodeConflict, "%s was merged into %s: a merge is never undone", m.Source, m.Target)
	case body.Decline:
		if err := b.Delete(mergeKey(m.Source)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if err := logLeaf(b, tlog.KindIdentity, "merge/"+identityLogKey(m.Source, b.Height())+"/declined", mergeKey(m.Source), nil); err != nil {
			return reject(CodeInternal, "%v", err)
		}
		return nil
	case c.signer.ID == m.Target && len(body.Wraps) > 0:
		return reject(CodeInvalid, "the target's acceptance carries no keys")
	case c.signer.ID == m.Target && m.Status == MergeAccepted:
		return reject(CodeInvalid, "%s has accepted already: %s approves next", m.Target, m.Source)
	case c.signer.ID == m.Target:
		m.Status = MergeAccepted
		return putMerge(b, m, "accepted")
	case m.Status != MergeAccepted:
		return reject(CodeInvalid, "%s accepts the merge first, signed with its own key; then %s approves", m.Target, m.Source)
	}
	return a.completeMerge(b, c, m, body.Wraps)
}

// completeMerge makes the read grant of the source's records to the
// target, with the keys the source delivers, and marks the source replaced.
func (a *App) completeMerge(b *store.Block, c *checked, m *Merge, wraps []tx.CategoryWrap) *Rejection {
	if to, err := replacedBy(b, m.Target); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if to != "" {
		return reject(CodeInvalid, "%s was itself merged into %s since: decline this merge", m.Target, to)
	}
	g := consent.Grant{
		Patient: m.Source, Grantee: consent.Grantee{Principal: m.Target}, Categories: []string{consent.AnyCategory},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: c.now,
	}
	if rej := addGrant(b, c, &tx.ConsentGrant{Grant: g, Wraps: wraps}); rej != nil {
		return rej
	}
	m.Status, m.DoneAt, m.Grant = MergeDone, b.Height(), GrantID(c.Hash)
	if err := setCBOR(b, replacesKey(m.Target, m.Source), m.Source); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return putMerge(b, m, "done")
}

// Merge is the merge proposed or done for source, a patient; ErrNotFound if
// there is none.
func (v *View) Merge(source string) (*Merge, error) { return getMerge(v, source) }

// Links are a patient's completed merges: the patient that replaces it
// ("" if none) and the patients it replaces, in ID order.
func (v *View) Links(patient string) (replacedByID string, replaces []string, err error) {
	if replacedByID, err = replacedBy(v, patient); err != nil {
		return "", nil, err
	}
	prefix := replacesKey(patient, "")
	err = scanKeys(v, prefix, func(k string) { replaces = append(replaces, strings.TrimPrefix(k, prefix)) })
	return replacedByID, replaces, err
}
