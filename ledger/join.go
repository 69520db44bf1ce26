package ledger

import (
	"crypto/ed25519"
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Joining by vote. An application (tx.OrgApplication) is proposed by a
// member's admin and proves possession of the keys it names; when a
// gov.approve meets the governance policy, admit registers the
// organization (with the default role policy), its admin, its node, and, if
// the node asks to validate, a validator: FinalizeBlock returns the update
// to CometBFT from the block of that approval (validatorUpdates), and it
// takes effect two heights later, as ABCI specifies.

// checkApplication refuses an application whose proofs do not verify or
// whose names or keys are taken. An organization that does not exist has no
// principals, so its admin's and node's IDs are free if its ID is.
func (a *App) checkApplication(b *store.Block, app *tx.OrgApplication) *Rejection {
	msg, err := tx.ApplicationMessage(a.chainID, app)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !tx.VerifySignature(app.Admin.PublicKey, msg, app.AdminProof) {
		return reject(CodeBadSignature, "the applicant admin key's proof of possession does not verify")
	}
	if v := validatorOf(app); v != nil && !tx.VerifySignature(v.PublicKey, msg, v.Proof) {
		return reject(CodeBadSignature, "the validator key's proof of possession does not verify")
	}
	if _, err := getOrg(b, app.Org.ID); err == nil {
		return reject(CodeConflict, "organization %q already exists", app.Org.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if rej := checkEncryptionKey(app.Org.EncryptionKey); rej != nil {
		return rej
	}
	keys := []ed25519.PublicKey{app.Admin.PublicKey}
	if app.Node != nil {
		keys = append(keys, app.Node.PublicKey)
		if _, err := b.Get(nodeIDKey(app.Node.NodeID)); err == nil {
			return reject(CodeConflict, "node id %s is already registered (node ids are never reused)", app.Node.NodeID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return reject(CodeInternal, "%v", err)
		}
	}
	for _, k := range keys {
		if used, err := keyInUse(b, k); err != nil {
			return reject(CodeInternal, "%v", err)
		} else if used {
			return reject(CodeConflict, "public key is already in use by another principal (keys are never reused)")
		}
	}
	if v := validatorOf(app); v != nil {
		if used, err := keyEverValidated(b, v.PublicKey); err != nil {
			return reject(CodeInternal, "%v", err)
		} else if used {
			return reject(CodeConflict, "validator key is already in use (validator keys are never reused)")
		}
	}
	def := consent.DefaultRolePolicy()
	for _, cat := range def.Categories() {
		if !categoryKnown(b, cat) {
			return reject(CodeInvalid, "the default role policy a joining organization gets names %q, not a category of this chain", cat)
		}
	}
	return nil
}

func validatorOf(app *tx.OrgApplication) *tx.JoinValidator {
	if app.Node == nil {
		return nil
	}
	return app.Node.Validator
}

// admit registers a checked application, carried by proposal.
func (a *App) admit(b *store.Block, app *tx.OrgApplication, proposal string) *Rejection {
	org := app.Org.ID
	if err := setLogged(b, orgKey(org), app.Org, tlog.KindIdentity, identityLogKey(org, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := putRolePolicy(b, org, consent.DefaultRolePolicy()); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	admin := carechain.Principal{ID: app.Admin.ID, Kind: carechain.KindAdmin, Name: app.Admin.Name, PublicKey: app.Admin.PublicKey}
	if rej := a.registerJoined(b, &admin, org, proposal); rej != nil {
		return rej
	}
	n := app.Node
	if n == nil {
		return nil
	}
	node := carechain.Principal{ID: n.ID, Kind: carechain.KindNode, Name: n.Name, PublicKey: n.PublicKey, NodeID: n.NodeID}
	if rej := a.registerJoined(b, &node, org, proposal); rej != nil {
		return rej
	}
	if rej := claimNodeID(b, n.NodeID, n.ID); rej != nil {
		return rej
	}
	if n.Validator == nil {
		return nil
	}
	v := Validator{PublicKey: n.Validator.PublicKey, Power: n.Validator.Power, Node: n.ID, Proposal: proposal, Height: b.Height()}
	if err := putValidator(b, v); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// registerJoined registers p, a principal of a joining organization, active.
func (a *App) registerJoined(b *store.Block, p *carechain.Principal, org, proposal string) *Rejection {
	p.Org, p.Status, p.KeyVersion, p.RegisteredAt, p.RegisteredBy = org, carechain.StatusActive, 1, b.Height(), proposal
	if rej := a.claimKey(b, p.PublicKey, p.ID); rej != nil {
		return rej
	}
	return a.putPrincipal(b, p)
}
