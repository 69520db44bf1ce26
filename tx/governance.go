package tx

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/carechain/carechain"
)

// Governance: the member organizations decide by vote who joins the
// consortium (and whose node validates) and how they decide. A member
// organization's admin proposes (gov.propose); admins of the voting
// organizations approve (gov.approve), one approval per organization; the
// approval that meets the governance policy carries the proposal out.
const (
	TypeGovPropose Type = "gov.propose"
	TypeGovApprove Type = "gov.approve"
)

func init() {
	register[GovPropose](TypeGovPropose)
	register[GovApprove](TypeGovApprove)
}

// Limits of governance bodies.
const (
	// MaxGovTTL bounds how long a governance proposal stays open.
	MaxGovTTL = 30 * 24 * time.Hour
	// MaxVoters bounds the organizations a governance policy names.
	MaxVoters = 256
	// MaxValidatorPower bounds the voting power an application asks for,
	// far below CometBFT's total (MaxInt64/8), so no sum of applications
	// overflows it.
	MaxValidatorPower = 1 << 40
)

// GovernancePolicy says which member organizations vote on membership and
// validator changes, and how many of them must approve. Its zero value is
// the default policy: every member organization votes (those that joined
// by vote included) and a majority of them must approve.
type GovernancePolicy struct {
	// Voters are the voting organizations; empty: every member organization.
	Voters []string `cbor:"1,keyasint,omitempty" json:"voters,omitempty"`
	// Threshold is how many voters must approve; 0: a majority (more than
	// half) of them. Capped at the number of voters that are members, so an
	// organization that is gone cannot block every later vote.
	Threshold uint32 `cbor:"2,keyasint,omitempty" json:"threshold,omitempty"`
}

// Validate checks what needs no state: voter IDs are organization IDs, named
// once, and a threshold is within the named voters.
func (p *GovernancePolicy) Validate() error {
	if len(p.Voters) > MaxVoters {
		return fmt.Errorf("%w: %d voters, limit %d", ErrInvalid, len(p.Voters), MaxVoters)
	}
	for i, v := range p.Voters {
		if err := carechain.ValidateOrgID(v); err != nil {
			return fmt.Errorf("%w: voter: %v", ErrInvalid, err)
		}
		if slices.Contains(p.Voters[:i], v) {
			return fmt.Errorf("%w: voter %q named twice", ErrInvalid, v)
		}
	}
	if len(p.Voters) > 0 && int(p.Threshold) > len(p.Voters) {
		return fmt.Errorf("%w: threshold %d over the %d voters", ErrInvalid, p.Threshold, len(p.Voters))
	}
	return nil
}

// GovPropose opens a governance proposal, signed by an admin of a member
// organization, whose organization's approval it counts as if it votes.
// Exactly one of Join, Policy, Remove, Validator and Upgrade is set.
type GovPropose struct {
	// Join is an organization's application to join.
	Join *OrgApplication `cbor:"1,keyasint,omitempty"`
	// Policy replaces the governance policy.
	Policy *GovernancePolicy `cbor:"2,keyasint,omitempty"`
	// Expires is the block time (unix seconds) from which the proposal can
	// no longer be approved; within MaxGovTTL of the proposing block.
	Expires int64 `cbor:"3,keyasint"`
	// Remove is a member organization to remove from the consortium. If it
	// is the proposer's own organization, the organization leaves: the
	// proposal is carried out at once, without a vote.
	Remove string `cbor:"4,keyasint,omitempty"`
	// Validator adds a validator, changes its power or removes it.
	Validator *ValidatorChange `cbor:"5,keyasint,omitempty"`
	// Upgrade schedules a consensus upgrade (ledger/upgrade.go).
	Upgrade *UpgradePlan `cbor:"6,keyasint,omitempty"`
}

// Validate implements Body.
func (p *GovPropose) Validate() error {
	n := 0
	for _, set := range []bool{p.Join != nil, p.Policy != nil, p.Remove != "", p.Validator != nil, p.Upgrade != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: a governance proposal carries exactly one of join, policy, remove, validator and upgrade", ErrInvalid)
	}
	switch {
	case p.Policy != nil:
		return p.Policy.Validate()
	case p.Remove != "":
		if err := carechain.ValidateOrgID(p.Remove); err != nil {
			return fmt.Errorf("%w: remove: %v", ErrInvalid, err)
		}
		return nil
	case p.Validator != nil:
		return p.Validator.Validate()
	case p.Upgrade != nil:
		return p.Upgrade.Validate()
	}
	return p.Join.Validate()
}

// UpgradePlan is a consensus upgrade: from block Height on, the chain runs
// the rules of the upgrade called Name, which only carechain builds that
// implement it know. A node whose build does not implement it stops at
// Height, before applying that block, until its operator installs one that
// does. Info says where to get that build (free text for operators).
type UpgradePlan struct {
	Name   string `cbor:"1,keyasint" json:"name"`
	Height int64  `cbor:"2,keyasint" json:"height"`
	Info   string `cbor:"3,keyasint,omitempty" json:"info,omitempty"`
}

// upgradeNamePattern: upgrade names are short identifiers, as they appear
// in logs, keys (upgrade/<name>) and release notes.
var upgradeNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,47}$`)

// Validate checks the plan's form; the ledger judges its height against
// the chain's.
func (u *UpgradePlan) Validate() error {
	if !upgradeNamePattern.MatchString(u.Name) {
		return fmt.Errorf("%w: upgrade name %q: want 1-48 of [a-z0-9.-], starting with a letter or digit", ErrInvalid, u.Name)
	}
	if u.Height <= 0 {
		return fmt.Errorf("%w: upgrade height must be above 0", ErrInvalid)
	}
	return checkText("upgrade info", u.Info)
}

// ValidatorChange changes the validator set: Power 0 removes the validator
// with PublicKey; a power above 0 sets the power of a validator in the set,
// or adds PublicKey as a new validator run by the node principal Node. A
// new validator's Proof is its key's signature over ValidatorMessage, so
// nobody enrols a key they do not hold.
type ValidatorChange struct {
	PublicKey ed25519.PublicKey `cbor:"1,keyasint" json:"public_key"`
	Power     int64             `cbor:"2,keyasint" json:"power"`
	Node      string            `cbor:"3,keyasint,omitempty" json:"node,omitempty"`
	Proof     []byte            `cbor:"4,keyasint,omitempty" json:"proof,omitempty"`
}

// Validate checks the change's form; the ledger judges it against the set.
func (v *ValidatorChange) Validate() error {
	if err := checkKey(v.PublicKey); err != nil {
		return fmt.Errorf("validator: %w", err)
	}
	if v.Power < 0 || v.Power > MaxValidatorPower {
		return fmt.Errorf("%w: validator power must be 0 to %d", ErrInvalid, int64(MaxValidatorPower))
	}
	if v.Node != "" {
		if err := carechain.ValidatePrincipalID(v.Node); err != nil {
			return fmt.Errorf("%w: validator node: %v", ErrInvalid, err)
		}
	}
	if len(v.Proof) != 0 && len(v.Proof) != ed25519.SignatureSize {
		return fmt.Errorf("%w: validator proof must be a %d-byte signature", ErrInvalid, ed25519.SignatureSize)
	}
	return nil
}

// ValidatorMessage is what a new validator's key signs: the chain, the node
// principal that will run it, the key and the power, so the proof cannot
// be used on another chain, for another node or at another power.
func ValidatorMessage(chainID, node string, pub ed25519.PublicKey, power int64) []byte {
	return fmt.Appendf(nil, "carechain/validator/v1\x00%s\x00%s\x00%x\x00%d", chainID, node, []byte(pub), power)
}

// SignValidatorChange fills in v's proof with the validator key.
func SignValidatorChange(chainID string, v *ValidatorChange, validator ed25519.PrivateKey) {
	v.Proof = ed25519.Sign(validator, ValidatorMessage(chainID, v.Node, v.PublicKey, v.Power))
}

// GovApprove approves an open governance proposal for the signer's
// organization; signed by an admin of a voting organization.
type GovApprove struct {
	Proposal string `cbor:"1,keyasint"`
}

// Validate implements Body.
func (a *GovApprove) Validate() error {
	if a.Proposal == "" || len(a.Proposal) > MaxStringLen {
		return fmt.Errorf("%w: proposal id of 1 to %d bytes is required", ErrInvalid, MaxStringLen)
	}
	return nil
}

// OrgApplication is an organization's application to join: the
// organization, its first admin, and optionally its node and the validator
// power that node asks for.
//
// The applicant is not a principal and signs no transaction: a member's
// admin proposes the application (the member vouches for it, and outsiders
// cannot fill the ledger with applications). The applicant proves it holds
// the keys it names: AdminProof is the admin key's signature over
// ApplicationMessage, and so is a validator's Proof, so nobody can enrol a
// key it does not hold, nor change the power of a validator already in the
// set by naming its key.
type OrgApplication struct {
	Org        carechain.Organization `cbor:"1,keyasint" json:"org"`
	Admin      JoinPrincipal          `cbor:"2,keyasint" json:"admin"`
	Node       *JoinNode              `cbor:"3,keyasint,omitempty" json:"node,omitempty"`
	AdminProof []byte                 `cbor:"4,keyasint" json:"admin_proof"`
}

// JoinPrincipal is a principal an application registers.
type JoinPrincipal struct {
	ID        string            `cbor:"1,keyasint" json:"id"`
	Name      string            `cbor:"2,keyasint,omitempty" json:"name,omitempty"`
	PublicKey ed25519.PublicKey `cbor:"3,keyasint" json:"public_key"`
}

// JoinNode is the applicant's node: its principal (a node key, as for
// identity.register), its CometBFT node ID, and, if it asks to validate,
// its validator key and power.
type JoinNode struct {
	JoinPrincipal `cbor:"1,keyasint"`
	NodeID        string         `cbor:"2,keyasint" json:"node_id"`
	Validator     *JoinValidator `cbor:"3,keyasint,omitempty" json:"validator,omitempty"`
}

// JoinValidator is the validator a node asks to become: its CometBFT Ed25519
// validator key (priv_validator_key.json) and power. Proof is that key's
// signature over ApplicationMessage.
type JoinValidator struct {
	PublicKey ed25519.PublicKey `cbor:"1,keyasint" json:"public_key"`
	Power     int64             `cbor:"2,keyasint" json:"power"`
	Proof     []byte            `cbor:"3,keyasint" json:"proof"`
}

// Validate checks the application's form; the ledger checks its proofs,
// which need the chain ID, and that its names and keys are free.
func (a *OrgApplication) Validate() error {
	if err := carechain.ValidateOrgID(a.Org.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !a.Org.Type.Valid() {
		return fmt.Errorf("%w: unknown organization type %q", ErrInvalid, a.Org.Type)
	}
	if err := checkText("name", a.Org.Name); err != nil {
		return err
	}
	if len(a.Org.EncryptionKey) == 0 || len(a.Org.EncryptionKey) > MaxEncryptionKey {
		return fmt.Errorf("%w: an organization encryption key of 1 to %d bytes is required", ErrInvalid, MaxEncryptionKey)
	}
	if err := a.Admin.validate(a.Org.ID); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if len(a.AdminProof) != ed25519.SignatureSize {
		return fmt.Errorf("%w: admin proof must be a %d-byte signature", ErrInvalid, ed25519.SignatureSize)
	}
	if a.Node == nil {
		return nil
	}
	if err := a.Node.validate(a.Org.ID); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if a.Node.PublicKey.Equal(a.Admin.PublicKey) || a.Node.ID == a.Admin.ID {
		return fmt.Errorf("%w: the node and the admin need IDs and keys of their own", ErrInvalid)
	}
	return nil
}

func (p *JoinPrincipal) validate(org string) error {
	if err := carechain.ValidatePrincipalID(p.ID); err != nil || carechain.OrgOf(p.ID) != org {
		return fmt.Errorf("%w: id %q must be %s/<name>", ErrInvalid, p.ID, org)
	}
	if err := checkText("name", p.Name); err != nil {
		return err
	}
	return checkKey(p.PublicKey)
}

func (n *JoinNode) validate(org string) error {
	if err := n.JoinPrincipal.validate(org); err != nil {
		return err
	}
	if err := carechain.ValidateNodeID(n.NodeID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	v := n.Validator
	if v == nil {
		return nil
	}
	if err := checkKey(v.PublicKey); err != nil {
		return fmt.Errorf("validator: %w", err)
	}
	if v.Power < 1 || v.Power > MaxValidatorPower {
		return fmt.Errorf("%w: validator power must be 1 to %d", ErrInvalid, int64(MaxValidatorPower))
	}
	if len(v.Proof) != ed25519.SignatureSize {
		return fmt.Errorf("%w: validator proof must be a %d-byte signature", ErrInvalid, ed25519.SignatureSize)
	}
	return nil
}

// ApplicationMessage is what the applicant's admin key (and validator key,
// if any) signs: the chain and the SHA-256 of the application's encoding
// without its proofs, so a proof binds every field and cannot be used on
// another chain or for another application.
func ApplicationMessage(chainID string, a *OrgApplication) ([]byte, error) {
	bare := *a
	bare.AdminProof = nil
	if a.Node != nil {
		n := *a.Node
		if n.Validator != nil {
			v := *n.Validator
			v.Proof = nil
			n.Validator = &v
		}
		bare.Node = &n
	}
	enc, err := Marshal(&bare)
	if err != nil {
		return nil, fmt.Errorf("encode application: %w", err)
	}
	h := sha256.Sum256(enc)
	return fmt.Appendf(nil, "carechain/join/v1\x00%s\x00%x", chainID, h[:]), nil
}

// SignApplication fills in a's proofs: admin signs it, and validator, if a
// asks to validate.
func SignApplication(chainID string, a *OrgApplication, admin, validator ed25519.PrivateKey) error {
	if a.Node != nil && a.Node.Validator != nil && validator == nil {
		return fmt.Errorf("sign application: the application asks to validate: the validator key is required")
	}
	msg, err := ApplicationMessage(chainID, a)
	if err != nil {
		return err
	}
	a.AdminProof = ed25519.Sign(admin, msg)
	if a.Node != nil && a.Node.Validator != nil {
		a.Node.Validator.Proof = ed25519.Sign(validator, msg)
	}
	return nil
}
