package ledger

import (
	"crypto/ed25519"
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// checked is a transaction that passed the checks that need no body: chain,
// signer, signature and nonce.
type checked struct {
	*tx.Signed
	signer *carechain.Principal
	body   tx.Body
	now    int64 // unix seconds the transaction is judged at
}

// verifyFunc checks s's signature against pub; the app plugs in its cache.
type verifyFunc func(s *tx.Signed, pub ed25519.PublicKey) error

// authenticate runs the checks every transaction must pass, in a fixed order so
// each failure has one code. minNonce is the lowest acceptable nonce.
func (a *App) authenticate(r reader, s *tx.Signed, verify verifyFunc, minNonce func(string) (uint64, error)) (*checked, *Rejection) {
	if s.ChainID != a.chainID {
		return nil, reject(CodeWrongChain, "signed for chain %q, this is %q", s.ChainID, a.chainID)
	}
	body, err := s.DecodeBody()
	if err != nil {
		return nil, rejectDecode(err)
	}
	signer, err := getPrincipal(r, s.Signer)
	if errors.Is(err, ErrNotFound) {
		return nil, reject(CodeUnknownSigner, "signer %q is not registered", s.Signer)
	}
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if signer.Status == carechain.StatusRevoked {
		return nil, reject(CodeRevokedSigner, "key of %q was revoked at height %d", s.Signer, signer.RevokedAt)
	}
	if err := verify(s, signer.PublicKey); err != nil {
		return nil, reject(CodeBadSignature, "signature does not verify under the current key of %q", s.Signer)
	}
	min, err := minNonce(s.Signer)
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if s.Nonce < min {
		return nil, reject(CodeBadNonce, "nonce %d of %q is replayed or stale: next must be at least %d", s.Nonce, s.Signer, min)
	}
	return &checked{Signed: s, signer: signer, body: body}, nil
}

// apply authorizes c and writes its effects to b. On rejection b is unchanged.
func (a *App) apply(parent *store.Block, c *checked) *Rejection {
	b := parent.Child()
	if rej := a.applyBody(b, c); rej != nil {
		return rej
	}
	b.Merge()
	return nil
}

func (a *App) applyBody(b *store.Block, c *checked) *Rejection {
	var rej *Rejection
	switch body := c.body.(type) {
	case *tx.Register:
		rej = a.applyRegister(b, c, body)
	case *tx.Rotate:
		rej = a.applyRotate(b, c, body)
	case *tx.Revoke:
		rej = a.applyRevoke(b, c, body)
	case *tx.RecordPut:
		rej = a.applyRecordPut(b, c, body)
	case *tx.RecordBatch:
		for i := range body.Puts {
			if rej = a.applyRecordPut(b, c, &body.Puts[i]); rej != nil {
				rej = reject(rej.Code, "entry %d: %s", i, rej.Msg)
				break
			}
		}
	case *tx.ConsentGrant:
		rej = a.applyConsentGrant(b, c, body)
	case *tx.ConsentRevoke:
		rej = a.applyConsentRevoke(b, c, body)
	case *tx.ConsentDelegate:
		rej = a.applyConsentDelegate(b, c, body)
	case *tx.EmergencySet:
		rej = a.applyEmergencySet(b, c, body)
	case *tx.EmergencyInvoke:
		rej = a.applyEmergencyInvoke(b, c, body)
	case *tx.AuditAnchor:
		rej = a.applyAuditAnchor(b, c, body)
	case *tx.AmendPolicy:
		rej = a.applyAmendPolicy(b, c, body)
	case *tx.AmendPropose:
		rej = a.applyAmendPropose(b, c, body)
	case *tx.AmendApprove:
		rej = a.applyAmendApprove(b, c, body)
	case *tx.AmendReject:
		rej = a.applyAmendReject(b, c, body)
	default:
		rej = reject(CodeUnknownType, "no handler for %s", c.Type)
	}
	if rej != nil {
		return rej
	}
	if err := setNonce(b, c.Signer, c.Nonce); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, txKey(c.Hash), TxStatus{Height: b.Height(), Type: string(c.Type), Signer: c.Signer}); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
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
			return reject(CodeUnauthorized, "%q may not register staff of %q: needs an admin of %q", signer.ID, org, org)
		}
	}
	if _, err := getPrincipal(b, r.ID); err == nil {
		return reject(CodeConflict, "principal %q already exists", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if rej := checkEncryptionKey(r.EncryptionKey); rej != nil {
		return rej
	}
	if rej := a.claimKey(b, r.PublicKey, r.ID); rej != nil {
		return rej
	}
	p := carechain.Principal{
		ID: r.ID, Kind: r.Kind, Org: org, Roles: r.Roles, Name: r.Name, PublicKey: r.PublicKey,
		Status: carechain.StatusActive, KeyVersion: 1, RegisteredAt: b.Height(), RegisteredBy: signer.ID,
		EncryptionKey: r.EncryptionKey,
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
	return a.putPrincipal(b, &p)
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
