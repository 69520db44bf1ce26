package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Role policies: each organization's minimum-necessary rules for its staff
// (consent.RolePolicy), set by its admins, versioned. Record writes are
// judged here against them; reads are judged by the nodes (records) against
// the same state with the same function, consent.Evaluator.Decide.

// RolePolicyState is a role policy in force.
type RolePolicyState struct {
	Org     string             `cbor:"1,keyasint" json:"org"`
	Policy  consent.RolePolicy `cbor:"2,keyasint" json:"policy"`
	Version uint32             `cbor:"3,keyasint" json:"version"`
	Height  int64              `cbor:"4,keyasint" json:"height"`
}

func init() { handle(tx.TypeRolePolicy, (*App).applyRolePolicy) }

func rolePolicyKey(org string) string { return "role-policy/" + org }

// rolePoliciesKey marks a state whose organizations have role policies: set
// at genesis, or by the migration of a chain that began without them.
const rolePoliciesKey = "param/role-policies"

// rolePolicyState is org's role policy in force; ErrNotFound if it has
// none. On a chain from before role policies, until the block that migrates
// it (migrateRolePolicies), it is the default that block will give org, as
// version 0: CheckTx and reads are judged by what the next block puts in
// force, not refused meanwhile. FinalizeBlock migrates before anything else,
// so it never sees that stand-in.
func rolePolicyState(r reader, org string) (*RolePolicyState, error) {
	var st RolePolicyState
	err := getCBOR(r, rolePolicyKey(org), &st)
	if errors.Is(err, ErrNotFound) {
		if _, merr := r.Get(rolePoliciesKey); errors.Is(merr, store.ErrNotFound) {
			if _, oerr := getOrg(r, org); oerr == nil {
				return &RolePolicyState{Org: org, Policy: consent.DefaultRolePolicy()}, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// rolePolicyOf is org's policy in force, or nil if it has none.
func rolePolicyOf(r reader, org string) (*consent.RolePolicy, error) {
	st, err := rolePolicyState(r, org)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &st.Policy, nil
}

// decodedPolicy is a role policy with the state bytes it was decoded from.
type decodedPolicy struct {
	raw    []byte
	policy *consent.RolePolicy
}

// rolePolicy is rolePolicyOf(b, org), decoded again only when the policy's
// state bytes differ from those last decoded (the result is a function of
// the bytes alone, so the cache changes no decision). Callers must not
// modify the policy. Only from the consensus connection.
func (a *App) rolePolicy(b *store.Block, org string) (*consent.RolePolicy, error) {
	raw, err := b.Get(rolePolicyKey(org))
	if err != nil {
		return rolePolicyOf(b, org) // none stored: the default, or none
	}
	if d, ok := a.policies[org]; ok && bytes.Equal(d.raw, raw) {
		return d.policy, nil
	}
	var st RolePolicyState
	if err := tx.UnmarshalState(raw, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", rolePolicyKey(org), err)
	}
	if len(a.policies) >= maxCachedPolicies {
		clear(a.policies)
	}
	a.policies[org] = decodedPolicy{raw: bytes.Clone(raw), policy: &st.Policy}
	return &st.Policy, nil
}

// maxCachedPolicies bounds the decoded role policies kept: one per
// organization, and a consortium has far fewer.
const maxCachedPolicies = 4096

func (a *App) applyRolePolicy(b *store.Block, c *checked, body *tx.RolePolicySet) *Rejection {
	if c.signer.Kind != carechain.KindAdmin || c.signer.Org != body.Org {
		return reject(CodeUnauthorized, "only an admin of %s sets its role policy", body.Org)
	}
	for _, cat := range body.Policy.Categories() {
		if !categoryKnown(b, cat) {
			return reject(CodeInvalid, "role policy names unknown category %q", cat)
		}
	}
	if err := putRolePolicy(b, body.Org, body.Policy); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// putRolePolicy stores the next version of org's policy.
func putRolePolicy(b *store.Block, org string, p consent.RolePolicy) error {
	var prev RolePolicyState
	if err := getCBOR(b, rolePolicyKey(org), &prev); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	st := RolePolicyState{Org: org, Policy: p, Version: prev.Version + 1, Height: b.Height()}
	return setLogged(b, rolePolicyKey(org), st, tlog.KindPolicy, fmt.Sprintf("%s@v%d", org, st.Version))
}

// migrateRolePolicies gives a chain that began before role policies the
// defaults, in the first block a carechain with them finalizes: every
// organization without a policy gets consent.DefaultRolePolicy, and the
// categories it names join the chain's. It runs in consensus, so every node
// migrates at the same height; it returns the organizations it migrated.
func migrateRolePolicies(b *store.Block) ([]string, error) {
	if _, err := b.Get(rolePoliciesKey); err == nil || !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var cats []string
	if err := getCBOR(b, categoriesKey, &cats); err != nil {
		return nil, fmt.Errorf("migrate role policies: %w", err)
	}
	def := consent.DefaultRolePolicy()
	if err := setCBOR(b, categoriesKey, withCategories(cats, def.Categories())); err != nil {
		return nil, err
	}
	migrated, err := orgIDs(b)
	if err != nil {
		return nil, err
	}
	for _, org := range migrated {
		if err := putRolePolicy(b, org, def); err != nil {
			return nil, err
		}
	}
	return migrated, b.Set(rolePoliciesKey, []byte{1})
}

// withCategories returns cats with more added, sorted, without duplicates.
func withCategories(cats, more []string) []string {
	out := slices.Concat(cats, more)
	slices.Sort(out)
	return slices.Compact(out)
}

// rolePolicies returns the founding organizations' first role policies, in
// order, and the chain's categories: an organization's own policy must name
// known categories; the default policy brings the categories it names.
func (g *Genesis) rolePolicies(cats []string) ([]consent.RolePolicy, []string, error) {
	out := make([]consent.RolePolicy, len(g.Organizations))
	for i, o := range g.Organizations {
		if o.RolePolicy == nil {
			out[i] = consent.DefaultRolePolicy()
			cats = withCategories(cats, out[i].Categories())
			continue
		}
		if err := o.RolePolicy.Validate(); err != nil {
			return nil, nil, fmt.Errorf("genesis: organization %q: %w", o.ID, err)
		}
		out[i] = *o.RolePolicy
	}
	for i, p := range out {
		for _, c := range p.Categories() {
			if !slices.Contains(cats, c) {
				return nil, nil, fmt.Errorf("genesis: organization %q: role policy names unknown category %q", g.Organizations[i].ID, c)
			}
		}
	}
	return out, cats, nil
}
