package ledger

import (
	"crypto/ed25519"
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
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
	signer, rej := signerOf(r, s)
	if rej != nil {
		return nil, rej
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

// kindCustody is the kind of the principal standing for a custody key
// (custodySigner): no carechain.Kind, so no rule that asks for a kind,
// a role, an organization or an active status grants it anything.
const kindCustody carechain.Kind = "custody-key"

// signerOf is the principal that signed s: a registered one, or for a
// supply.transfer the custody key its signer ID names (supply.CustodySigner),
// registered nowhere. Each signs only its own transactions: a custody key
// nothing but supply.transfer, a registered principal never one.
func signerOf(r reader, s *tx.Signed) (*carechain.Principal, *Rejection) {
	custody := supply.IsCustodySigner(s.Signer)
	switch {
	case custody && s.Type != tx.TypeSupplyTransfer:
		return nil, reject(CodeUnauthorized, "a custody key signs only %s, not %s", tx.TypeSupplyTransfer, s.Type)
	case !custody && s.Type == tx.TypeSupplyTransfer:
		return nil, reject(CodeUnauthorized, "%s is signed by the custody key holding the units (signer %s<key>), not by %q",
			tx.TypeSupplyTransfer, supply.CustodyPrefix, s.Signer)
	case custody:
		pub, err := supply.ParseCustodySigner(s.Signer)
		if err != nil {
			return nil, reject(CodeUnknownSigner, "%v", err)
		}
		return &carechain.Principal{ID: s.Signer, Kind: kindCustody, PublicKey: pub}, nil
	}
	signer, err := getPrincipal(r, s.Signer)
	if errors.Is(err, ErrNotFound) {
		return nil, reject(CodeUnknownSigner, "signer %q is not registered", s.Signer)
	}
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	return signer, nil
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
	h, ok := handlers[c.Type]
	if !ok {
		return reject(CodeUnknownType, "no handler for %s", c.Type)
	}
	if rej := nodeMaySign(c); rej != nil {
		return rej
	}
	if rej := h(a, b, c); rej != nil {
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
