package ledger

import (
	"crypto/ed25519"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
)

// Genesis is the application state in CometBFT's genesis file: the founding
// organizations of the consortium and their admins.
type Genesis struct {
	Organizations []GenesisOrg `json:"organizations"`
	// Categories of records; DefaultCategories if empty.
	Categories []string `json:"categories,omitempty"`
}

// DefaultCategories are the record categories of a genesis that names none.
func DefaultCategories() []string {
	return []string{"allergy", "general", "imaging", "lab", "medication", "mental-health", "vital-signs"}
}

const categoriesKey = "param/categories"

// GenesisOrg is a founding organization.
type GenesisOrg struct {
	carechain.Organization
	Admins []GenesisAdmin `json:"admins"`
}

// GenesisAdmin is an organization admin declared at genesis.
type GenesisAdmin struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	PublicKey ed25519.PublicKey `json:"public_key"`
}

// Validate checks the genesis before a chain starts from it.
func (g *Genesis) Validate() error {
	if len(g.Organizations) == 0 {
		return fmt.Errorf("genesis: at least one organization is required")
	}
	seenOrg := map[string]bool{}
	seenID := map[string]bool{}
	seenKey := map[string]bool{}
	for _, o := range g.Organizations {
		if err := carechain.ValidateOrgID(o.ID); err != nil {
			return fmt.Errorf("genesis: %w", err)
		}
		if seenOrg[o.ID] {
			return fmt.Errorf("genesis: organization %q declared twice", o.ID)
		}
		seenOrg[o.ID] = true
		if !o.Type.Valid() {
			return fmt.Errorf("genesis: organization %q has unknown type %q (want one of %v)", o.ID, o.Type, carechain.OrgTypes())
		}
		if len(o.EncryptionKey) > 0 {
			if _, err := seal.ParsePublicKey(o.EncryptionKey); err != nil {
				return fmt.Errorf("genesis: organization %q: encryption key: %w", o.ID, err)
			}
		}
		if len(o.Admins) == 0 {
			return fmt.Errorf("genesis: organization %q has no admin", o.ID)
		}
		for _, ad := range o.Admins {
			if err := carechain.ValidatePrincipalID(ad.ID); err != nil || carechain.OrgOf(ad.ID) != o.ID {
				return fmt.Errorf("genesis: admin id %q must be %s/<name>", ad.ID, o.ID)
			}
			if len(ad.PublicKey) != ed25519.PublicKeySize {
				return fmt.Errorf("genesis: admin %q: public key must be %d bytes", ad.ID, ed25519.PublicKeySize)
			}
			if seenID[ad.ID] || seenKey[string(ad.PublicKey)] {
				return fmt.Errorf("genesis: admin %q or its key declared twice", ad.ID)
			}
			seenID[ad.ID], seenKey[string(ad.PublicKey)] = true, true
		}
	}
	return nil
}

// apply writes the genesis state in declaration order.
func (g *Genesis) apply(b *store.Block) error {
	if err := g.Validate(); err != nil {
		return err
	}
	cats := g.Categories
	if len(cats) == 0 {
		cats = DefaultCategories()
	}
	if err := setCBOR(b, categoriesKey, cats); err != nil {
		return err
	}
	for _, o := range g.Organizations {
		if err := setCBOR(b, orgKey(o.ID), o.Organization); err != nil {
			return err
		}
		for _, ad := range o.Admins {
			p := carechain.Principal{
				ID: ad.ID, Kind: carechain.KindAdmin, Org: o.ID, Name: ad.Name, PublicKey: ad.PublicKey,
				Status: carechain.StatusActive, KeyVersion: 1, RegisteredAt: b.Height(), RegisteredBy: "genesis",
			}
			if err := setLogged(b, principalKey(ad.ID), &p, tlog.KindIdentity, identityLogKey(ad.ID, b.Height())); err != nil {
				return err
			}
			if err := b.Set(pubKeyKey(ad.PublicKey), []byte(ad.ID)); err != nil {
				return err
			}
		}
	}
	return nil
}
