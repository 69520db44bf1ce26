package ledger

import (
	"crypto/ed25519"
	"errors"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Identity rules: who registers whom, key rotation with proof of the new
// key, revocation by the holder or their organization's admin. Nodes are
// registered and revoked like staff (node rules in nodes.go).

func init() {
	handle(tx.TypeRegister, (*App).applyRegister)
	handle(tx.TypeRotate, (*App).applyRotate)
	handle(tx.TypeRevoke, (*App).applyRevoke)
	handle(tx.TypeSetRoles, (*App).applySetRoles)
}

func (a *App) applyRegister(b *store.Block, c *checked, r *tx.Register) *Rejection {
	signer := c.signer
	org := carechain.OrgOf(r.ID)
	switch r.Kind {
	case carechain.KindPatient:
		if signer.Kind != carechain.KindAdmin && !signer.HasRole(carechain.RoleRegistrationClerk) {
			return reject(CodeUnauthorized, "%q may not register patients: needs an admin or %s", signer.ID, carechain.RoleRegistrationClerk)
		}
		org = signer.Org
	default:
		if _, err := getOrg(b, org); errors.Is(err, ErrNotFound) {
			return reject(CodeInvalid, "organization %q does not exist", org)
		} else if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		if signer.Kind != carechain.KindAdmin || signer.Org != org {
			return reject(CodeUnauthorized, "%q may not register staff or nodes of %q: needs an admin of %q", signer.ID, org, org)
		}
	}
	if _, err := getPrincipal(b, r.ID); err == nil {
		return reject(CodeConflict, "principal %q already exists", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if _, err := getClient(b, r.ID); err == nil {
		return reject(CodeConflict, "%q is a client: a principal needs an id of its own", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if rej := checkEncryptionKey(r.EncryptionKey); rej != nil {
		return rej
	}
	if rej := a.claimKey(b, r.PublicKey, r.ID); rej != nil {
		return rej
	}
	if r.Kind == carechain.KindNode {
		if rej := claimNodeID(b, r.NodeID, r.ID); rej != nil {
			return rej
		}
	}
	p := carechain.Principal{
		ID: r.ID, Kind: r.Kind, Org: org, Roles: r.Roles, Name: r.Name, PublicKey: r.PublicKey,
		Status: carechain.StatusActive, KeyVersion: 1, RegisteredAt: b.Height(), RegisteredBy: signer.ID,
		EncryptionKey: r.EncryptionKey, NodeID: r.NodeID,
	}
	return a.putPrincipal(b, &p)
}

func (a *App) applyRotate(b *store.Block, c *checked, r *tx.Rotate) *Rejection {
	if !tx.VerifySignature(r.NewKey, tx.RotationMessage(a.chainID, c.Signer, c.Nonce, r.NewKey), r.Proof) {
		return reject(CodeBadSignature, "the new key's proof of possession does not verify")
	}
	if rej := a.claimKey(b, r.NewKey, c.Signer); rej != nil {
		return rej
	}
	if rej := checkEncryptionKey(r.NewEncryptionKey); rej != nil {
		return rej
	}
	p := *c.signer
	p.PublicKey = r.NewKey
	p.KeyVersion++
	if len(r.NewEncryptionKey) > 0 {
		p.EncryptionKey = r.NewEncryptionKey
	}
	return a.putPrincipal(b, &p)
}

func (a *App) applyRevoke(b *store.Block, c *checked, r *tx.Revoke) *Rejection {
	target, err := getPrincipal(b, r.ID)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "principal %q does not exist", r.ID)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	self := c.signer.ID == target.ID
	orgAdmin := c.signer.Kind == carechain.KindAdmin && c.signer.Org == target.Org && target.Kind != carechain.KindPatient
	if !self && !orgAdmin {
		return reject(CodeUnauthorized, "%q may not revoke %q: only the principal or, for staff, an admin of their organization", c.signer.ID, target.ID)
	}
	// A revoked key cannot sign, so target is active here unless an admin revokes twice.
	if target.Status == carechain.StatusRevoked {
		return reject(CodeInvalid, "key of %q is already revoked", target.ID)
	}
	p := *target
	p.Status = carechain.StatusRevoked
	p.RevokedAt = b.Height()
	if rej := a.putPrincipal(b, &p); rej != nil {
		return rej
	}
	return a.retireValidators(b, &p)
}

// applySetRoles replaces the roles of an active practitioner, signed by an
// admin of their organization.
func (a *App) applySetRoles(b *store.Block, c *checked, r *tx.SetRoles) *Rejection {
	target, err := getPrincipal(b, r.ID)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "principal %q does not exist", r.ID)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	switch {
	case c.signer.Kind != carechain.KindAdmin || c.signer.Org != target.Org:
		return reject(CodeUnauthorized, "%q may not change the roles of %q: only an admin of %s", c.signer.ID, target.ID, target.Org)
	case target.Kind != carechain.KindPractitioner:
		return reject(CodeInvalid, "%q is a %s: only practitioners have roles", target.ID, target.Kind)
	case target.Status != carechain.StatusActive:
		return reject(CodeInvalid, "the key of %q is revoked", target.ID)
	}
	p := *target
	p.Roles = slices.Clone(r.Roles)
	return a.putPrincipal(b, &p)
}

// retireValidators takes the validators run by node, a node principal
// being revoked, out of the set: a node that no longer peers cannot vote,
// and a validator that cannot vote only lowers the power that can. The
// revocation is refused if it would leave no validator.
func (a *App) retireValidators(b *store.Block, node *carechain.Principal) *Rejection {
	if node.Kind != carechain.KindNode {
		return nil
	}
	retire, rej := leaving(b, func(v Validator) bool { return v.Node == node.ID },
		node.ID+" runs the only validators: revoking it would leave the chain without validators (add another first: gov propose --validator-power)")
	if rej != nil {
		return rej
	}
	for _, v := range retire {
		v.Power = 0
		if err := a.setValidator(b, v, string(tx.TypeRevoke)); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	return nil
}

func (a *App) claimKey(b *store.Block, pub ed25519.PublicKey, owner string) *Rejection {
	used, err := keyInUse(b, pub)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if used {
		return reject(CodeConflict, "public key is already in use by another principal (keys are never reused)")
	}
	if err := b.Set(pubKeyKey(pub), []byte(owner)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) putPrincipal(b *store.Block, p *carechain.Principal) *Rejection {
	if err := setLogged(b, principalKey(p.ID), p, tlog.KindIdentity, identityLogKey(p.ID, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
