package ledger

import (
	"crypto/ed25519"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Genesis is the application state in CometBFT's genesis file: the founding
// organizations of the consortium, their admins and their nodes.
type Genesis struct {
	Organizations []GenesisOrg `json:"organizations"`
	// Nodes are the founding organizations' nodes: with filter_peers on,
	// only registered nodes peer, so a consortium's first nodes are
	// registered here.
	Nodes []GenesisNode `json:"nodes,omitempty"`
	// Categories of records; DefaultCategories if empty. Every chain has
	// carechain.CategoryPatientReported, named or not.
	Categories []string `json:"categories,omitempty"`
	// Governance says who votes on membership and validator changes and
	// how many must approve; absent, the default policy (a majority of the
	// member organizations, those that joined included). Absent, nothing is
	// written: older genesis files still give the state they always gave.
	Governance *tx.GovernancePolicy `json:"governance,omitempty"`
	// ValidatorSet, set on chains this carechain founds, has InitChain
	// record CometBFT's genesis validators in state (validator/<key>), so
	// the ledger knows the whole validator set and governance may change
	// any of it. Absent (chains founded before), nothing is written: a node
	// joining such a chain computes the genesis state the chain began with,
	// and the ledger knows only the validators added by vote.
	ValidatorSet bool `json:"validator_set,omitempty"`
	// SupplyMap, set on chains this carechain founds, keeps the
	// authenticated supply map from the first block (supplymapon.go).
	// Absent (chains founded before), nothing is written: their app
	// hashes stay the ones they always had until the upgrade supply-map.
	SupplyMap bool `json:"supply_map,omitempty"`
}

// DefaultCategories are the record categories of a genesis that names none.
func DefaultCategories() []string {
	return []string{"administrative", "allergy", "billing", "demographics", "general", "imaging", "lab", "medication", "mental-health", carechain.CategoryPatientReported, "vital-signs"}
}

const categoriesKey = "param/categories"

// GenesisOrg is a founding organization.
type GenesisOrg struct {
	carechain.Organization
	Admins []GenesisAdmin `json:"admins"`
	// RolePolicy is the organization's first role policy;
	// consent.DefaultRolePolicy if nil.
	RolePolicy *consent.RolePolicy `json:"role_policy,omitempty"`
}

// FoundingOrg is o with its admins and, written out so operators see and
// can edit it in the genesis file, the default role policy.
func FoundingOrg(o carechain.Organization, admins ...GenesisAdmin) GenesisOrg {
	p := consent.DefaultRolePolicy()
	return GenesisOrg{Organization: o, Admins: admins, RolePolicy: &p}
}

// GenesisAdmin is an organization admin declared at genesis.
type GenesisAdmin struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	PublicKey ed25519.PublicKey `json:"public_key"`
}

// GenesisNode is a node declared at genesis, a principal of the organization
// its ID names.
type GenesisNode struct {
	ID        string            `json:"id"` // <org>/<name>
	Name      string            `json:"name,omitempty"`
	NodeID    string            `json:"node_id"` // CometBFT node ID (carechain.ValidateNodeID)
	PublicKey ed25519.PublicKey `json:"public_key"`
	// ValidatorKey, if set, is the CometBFT validator key
	// (priv_validator_key.json) of this node, one of the genesis
	// validators: the recorded validator names this node principal, so it
	// leaves the set when the node's organization leaves. Needs ValidatorSet.
	ValidatorKey ed25519.PublicKey `json:"validator_key,omitempty"`
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
			if err := declareOnce(seenID, seenKey, "admin", ad.ID, ad.PublicKey); err != nil {
				return err
			}
		}
	}
	if err := g.validateGovernance(seenOrg); err != nil {
		return err
	}
	seenNode := map[string]bool{}
	for _, n := range g.Nodes {
		if err := carechain.ValidatePrincipalID(n.ID); err != nil || !seenOrg[carechain.OrgOf(n.ID)] {
			return fmt.Errorf("genesis: node id %q must be <org>/<name> of a founding organization", n.ID)
		}
		if err := carechain.ValidateNodeID(n.NodeID); err != nil {
			return fmt.Errorf("genesis: node %q: %w", n.ID, err)
		}
		if seenNode[n.NodeID] {
			return fmt.Errorf("genesis: node id %s declared twice", n.NodeID)
		}
		seenNode[n.NodeID] = true
		if err := declareOnce(seenID, seenKey, "node", n.ID, n.PublicKey); err != nil {
			return err
		}
	}
	return g.validateValidatorKeys()
}

// validateValidatorKeys checks that the nodes' validator keys are keys,
// each named once, on a genesis that records its validators.
func (g *Genesis) validateValidatorKeys() error {
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.ValidatorKey == nil {
			continue
		}
		if !g.ValidatorSet {
			return fmt.Errorf("genesis: node %q: a validator key needs validator_set", n.ID)
		}
		if len(n.ValidatorKey) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis: node %q: validator key must be %d bytes", n.ID, ed25519.PublicKeySize)
		}
		if seen[string(n.ValidatorKey)] {
			return fmt.Errorf("genesis: node %q: validator key declared twice", n.ID)
		}
		seen[string(n.ValidatorKey)] = true
	}
	return nil
}

// validateGovernance checks that a genesis governance policy names founding
// organizations only.
func (g *Genesis) validateGovernance(founders map[string]bool) error {
	if g.Governance == nil {
		return nil
	}
	if err := g.Governance.Validate(); err != nil {
		return fmt.Errorf("genesis: governance: %w", err)
	}
	for _, v := range g.Governance.Voters {
		if !founders[v] {
			return fmt.Errorf("genesis: governance: voter %q is not a founding organization", v)
		}
	}
	if len(g.Governance.Voters) == 0 && int(g.Governance.Threshold) > len(g.Organizations) {
		return fmt.Errorf("genesis: governance: threshold %d over the %d founding organizations", g.Governance.Threshold, len(g.Organizations))
	}
	return nil
}

// declareOnce checks a genesis principal's key and that neither its ID nor
// its key was declared before, and remembers both.
func declareOnce(seenID, seenKey map[string]bool, kind, id string, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("genesis: %s %q: public key must be %d bytes", kind, id, ed25519.PublicKeySize)
	}
	if seenID[id] || seenKey[string(pub)] {
		return fmt.Errorf("genesis: %s %q or its key declared twice", kind, id)
	}
	seenID[id], seenKey[string(pub)] = true, true
	return nil
}

// apply writes the genesis state in declaration order; vals are CometBFT's
// genesis validators, recorded if g.ValidatorSet.
func (g *Genesis) apply(b *store.Block, vals []abci.ValidatorUpdate) error {
	if err := g.Validate(); err != nil {
		return err
	}
	cats := g.Categories
	if len(cats) == 0 {
		cats = DefaultCategories()
	}
	cats = withCategories(cats, []string{carechain.CategoryPatientReported})
	policies, cats, err := g.rolePolicies(cats)
	if err != nil {
		return err
	}
	if err := setCBOR(b, categoriesKey, cats); err != nil {
		return err
	}
	if err := b.Set(rolePoliciesKey, []byte{1}); err != nil {
		return err
	}
	if err := b.Set(patientReportedKey, []byte{1}); err != nil {
		return err
	}
	if g.Governance != nil {
		if err := putGovernance(b, *g.Governance); err != nil {
			return err
		}
	}
	for i, o := range g.Organizations {
		if err := setCBOR(b, orgKey(o.ID), o.Organization); err != nil {
			return err
		}
		if err := putRolePolicy(b, o.ID, policies[i]); err != nil {
			return err
		}
		for _, ad := range o.Admins {
			if err := putGenesisPrincipal(b, carechain.Principal{ID: ad.ID, Kind: carechain.KindAdmin, Org: o.ID, Name: ad.Name, PublicKey: ad.PublicKey}); err != nil {
				return err
			}
		}
	}
	for _, n := range g.Nodes {
		p := carechain.Principal{ID: n.ID, Kind: carechain.KindNode, Org: carechain.OrgOf(n.ID), Name: n.Name, PublicKey: n.PublicKey, NodeID: n.NodeID}
		if err := putGenesisPrincipal(b, p); err != nil {
			return err
		}
		if err := b.Set(nodeIDKey(n.NodeID), []byte(n.ID)); err != nil {
			return err
		}
	}
	if g.SupplyMap {
		if err := setCBOR(b, supplyMapFromKey, b.Height()+1); err != nil { // the first block's
			return err
		}
	}
	if !g.ValidatorSet {
		return nil
	}
	return g.recordValidators(b, vals)
}

// recordValidators stores the genesis validators as the recorded set and as
// the genesis height's validator changes, each naming the node principal
// that declared its key. Every declared key must be a genesis validator.
func (g *Genesis) recordValidators(b *store.Block, vals []abci.ValidatorUpdate) error {
	if len(vals) == 0 {
		return fmt.Errorf("genesis: validator_set: the genesis has no validators")
	}
	nodeOf := map[string]string{}
	for _, n := range g.Nodes {
		if n.ValidatorKey != nil {
			nodeOf[string(n.ValidatorKey)] = n.ID
		}
	}
	for _, u := range vals {
		if u.PubKeyType != cmted25519.KeyType || len(u.PubKeyBytes) != ed25519.PublicKeySize {
			return fmt.Errorf("genesis: validator_set: validator key of type %s: only %s keys are recorded", u.PubKeyType, cmted25519.KeyType)
		}
		if _, err := b.Get(validatorKey(u.PubKeyBytes)); err == nil {
			return fmt.Errorf("genesis: validator_set: validator key %X listed twice", u.PubKeyBytes)
		}
		v := Validator{PublicKey: u.PubKeyBytes, Power: u.Power, Node: nodeOf[string(u.PubKeyBytes)], Height: b.Height()}
		delete(nodeOf, string(u.PubKeyBytes))
		if err := putValidator(b, v); err != nil {
			return fmt.Errorf("genesis: %w", err)
		}
	}
	for _, n := range g.Nodes {
		if _, left := nodeOf[string(n.ValidatorKey)]; left && n.ValidatorKey != nil {
			return fmt.Errorf("genesis: node %q: its validator key is not a genesis validator", n.ID)
		}
	}
	return nil
}

// putGenesisPrincipal registers p, active, at the genesis height, and claims its key.
func putGenesisPrincipal(b *store.Block, p carechain.Principal) error {
	p.Status, p.KeyVersion, p.RegisteredAt, p.RegisteredBy = carechain.StatusActive, 1, b.Height(), "genesis"
	if err := setLogged(b, principalKey(p.ID), &p, tlog.KindIdentity, identityLogKey(p.ID, b.Height())); err != nil {
		return err
	}
	return b.Set(pubKeyKey(p.PublicKey), []byte(p.ID))
}
