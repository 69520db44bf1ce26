package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Client rules: an organization's admin registers, replaces and ends the
// SMART backend-services clients of its organization. A client acts for
// one active staff or node principal of the organization: its tokens are
// that principal's, narrowed to the client's scopes. An App Launch app
// (tx.RegisterClient.App) acts for no one in particular: its tokens are
// those of whoever signs in and approves it. Client IDs and
// principal IDs share one namespace, so an assertion's issuer names one
// thing; an ended client's ID is never reused.

func init() {
	handle(tx.TypeRegisterClient, (*App).applyRegisterClient)
}

// ClientRegistration is a registered client, as stored at "client/<id>".
type ClientRegistration struct {
	ID      string `cbor:"1,keyasint"`
	Org     string `cbor:"2,keyasint"`
	ActsFor string `cbor:"3,keyasint"`
	// JWKS is the client's public keys (tx.ParseJWKS).
	JWKS   []byte           `cbor:"4,keyasint,omitempty"`
	Scopes string           `cbor:"5,keyasint,omitempty"`
	Status carechain.Status `cbor:"6,keyasint"`
	// RegisteredAt is the height of the registration in force, RevokedAt
	// that of the client's end.
	RegisteredAt int64  `cbor:"7,keyasint"`
	RegisteredBy string `cbor:"8,keyasint"`
	RevokedAt    int64  `cbor:"9,keyasint,omitempty"`
	// RedirectURIs are a SMART App Launch app's (tx.RegisterClient.App);
	// a backend-services client has none, and is stored as it always was.
	RedirectURIs []string `cbor:"10,keyasint,omitempty"`
}

// Active reports whether the client may still get tokens.
func (c *ClientRegistration) Active() bool { return c.Status == carechain.StatusActive }

// App reports whether the client is an App Launch app: it acts for
// whoever approves it, not for one principal.
func (c *ClientRegistration) App() bool { return len(c.RedirectURIs) > 0 }

func clientKey(id string) string { return "client/" + id }

func getClient(r reader, id string) (*ClientRegistration, error) {
	var c ClientRegistration
	if err := getCBOR(r, clientKey(id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Client returns a registered client (ErrNotFound if there is none).
func (v *View) Client(id string) (*ClientRegistration, error) {
	c, err := getClient(v, id)
	if err != nil {
		return nil, fmt.Errorf("client %q at height %d: %w", id, v.height, err)
	}
	return c, nil
}

func (a *App) applyRegisterClient(b *store.Block, c *checked, r *tx.RegisterClient) *Rejection {
	org := carechain.OrgOf(r.ID)
	if c.signer.Kind != carechain.KindAdmin || c.signer.Org != org {
		return reject(CodeUnauthorized, "%q may not register clients of %q: needs an admin of %q", c.signer.ID, org, org)
	}
	if _, err := getPrincipal(b, r.ID); err == nil {
		return reject(CodeConflict, "%q is a principal: a client needs an id of its own", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	old, err := getClient(b, r.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		if r.Revoked {
			return reject(CodeInvalid, "client %q does not exist", r.ID)
		}
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case !old.Active():
		return reject(CodeConflict, "client %q was ended at height %d: client ids are never reused", r.ID, old.RevokedAt)
	}
	reg := ClientRegistration{ID: r.ID, Org: org, ActsFor: r.ActsFor, JWKS: r.JWKS, Scopes: r.Scopes,
		Status: carechain.StatusActive, RegisteredAt: b.Height(), RegisteredBy: c.signer.ID, RedirectURIs: r.RedirectURIs}
	if r.Revoked {
		reg = *old
		reg.Status, reg.RevokedAt = carechain.StatusRevoked, b.Height()
	} else if r.App {
		// an app acts for whoever approves it: there is no principal to check
	} else if rej := checkActsFor(b, r.ActsFor, org); rej != nil {
		return rej
	}
	if err := setLogged(b, clientKey(r.ID), &reg, tlog.KindIdentity, identityLogKey(r.ID, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// checkActsFor checks that a client of org may act for principal id.
func checkActsFor(b *store.Block, id, org string) *Rejection {
	p, err := getPrincipal(b, id)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "principal %q does not exist", id)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if p.Org != org || p.Kind == carechain.KindPatient {
		return reject(CodeInvalid, "a client of %q acts for a staff or node principal of %q, not %q", org, org, id)
	}
	if p.Status != carechain.StatusActive {
		return reject(CodeInvalid, "the key of %q is revoked", id)
	}
	return nil
}
