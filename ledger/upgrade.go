package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"

	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Consensus upgrades, as Cosmos SDK's x/upgrade does them. A rule change
// must take effect at the same height on every node, or their app hashes
// part. So the member organizations approve an upgrade plan by governance
// (gov.propose with Upgrade): a name and a height. Each carechain release
// that changes a rule adds an Upgrade under that name to the list its build
// implements (Upgrades); its rules apply only once an approved plan of that
// name reaches its height, so a new build runs an old chain exactly as the
// old build did until then.
//
// At the plan's height, before the block's transactions:
//   - a build that implements the plan runs its Migrate (if any) in that
//     block and marks the plan applied; its Rules are in force from that
//     block on;
//   - a build that does not implement it refuses the block: FinalizeBlock
//     returns an *UpgradeNeededError and the app calls Options.Halt.
//     CometBFT has already saved the block (it is committed by the votes
//     before it is executed) but not executed it, so the app stays at the
//     height before and, once the operator starts a build that implements
//     the plan, CometBFT's handshake replays the block into it.
//
// At most one plan is pending: a newly approved plan replaces the pending
// one (as x/upgrade's does), so a plan is postponed or called off by
// approving another. A plan must be approved at least MinUpgradeDelay
// blocks before its height, so every node executes the block that approves
// it before the block where it halts.

// MinUpgradeDelay is how many blocks after the block that approves a plan
// its height must be at least.
const MinUpgradeDelay = 2

// Upgrade is a consensus upgrade this build implements.
type Upgrade struct {
	// Name is the name the plan approved by governance gives.
	Name string
	// Migrate, if set, changes the state in the block at the plan's height,
	// before its transactions.
	Migrate func(b *store.Block) error
	// Rules, if set, changes the rules in force from the plan's height on.
	Rules func(r *Rules)
	// Check, if set, says why the chain in b cannot take the upgrade; it
	// judges a plan when it is proposed and when it is approved.
	Check func(b *store.Block) error
	// ConsensusParams, if set, is the update of CometBFT's consensus
	// parameters that FinalizeBlock returns in the block at the plan's
	// height (after Migrate): they apply from the next height.
	ConsensusParams func(b *store.Block) (*cmtproto.ConsensusParams, error)
}

// Rules are the parameters of the rules that upgrades change. An upgrade
// that changes some other rule adds a field here (its value before the
// upgrade as the base) and reads it where the rule is judged.
type Rules struct {
	// MaxGovTTL bounds how long a governance proposal stays open.
	MaxGovTTL time.Duration
}

// baseRules are the rules of a chain before any upgrade.
func baseRules() Rules { return Rules{MaxGovTTL: tx.MaxGovTTL} }

// Upgrades returns the consensus upgrades this build implements, in the
// order they were released. Each release that changes a rule appends its
// Upgrade here, and keeps those of earlier releases, so the build can still
// replay the chain from its start.
func Upgrades() []Upgrade {
	us := []Upgrade{pbtsUpgrade(), supplyMapUpgrade()} // releases append here
	return append(us, exampleUpgrades()...)
}

// Upgrade plan statuses.
const (
	UpgradeScheduled = "scheduled" // approved; its height not reached yet
	UpgradeApplied   = "applied"   // in force since its height
	UpgradeReplaced  = "replaced"  // a plan approved later took its place
)

// UpgradeState is an approved upgrade plan and what became of it.
type UpgradeState struct {
	Plan     tx.UpgradePlan `cbor:"1,keyasint" json:"plan"`
	Proposal string         `cbor:"2,keyasint" json:"proposal"` // the governance proposal that approved it
	Approved int64          `cbor:"3,keyasint" json:"approved"` // height
	Status   string         `cbor:"4,keyasint" json:"status"`
	// Closed is the height it was applied or replaced at.
	Closed int64 `cbor:"5,keyasint,omitempty" json:"closed,omitempty"`
}

const (
	upgradePrefix = "upgrade/"
	// pendingUpgradeKey names the plan that is scheduled, if any.
	pendingUpgradeKey = "param/upgrade-pending"
)

func upgradeKey(name string) string { return upgradePrefix + name }

// UpgradeNeededError is FinalizeBlock's error at the height of an approved
// upgrade this build does not implement.
type UpgradeNeededError struct {
	Plan  tx.UpgradePlan
	Build []string // the upgrades this build implements
}

func (e *UpgradeNeededError) Error() string {
	build := "none"
	if len(e.Build) > 0 {
		build = strings.Join(e.Build, ", ")
	}
	msg := fmt.Sprintf("upgrade %s approved for height %d: this build (version %s; upgrades: %s) does not implement it; "+
		"install a carechain build that does and start the node again", e.Plan.Name, e.Plan.Height, Version, build)
	if e.Plan.Info != "" {
		msg += " (upgrade info: " + e.Plan.Info + ")"
	}
	return msg
}

// upgrade returns this app's upgrade called name.
func (a *App) upgrade(name string) (Upgrade, bool) {
	for _, u := range a.upgrades {
		if u.Name == name {
			return u, true
		}
	}
	return Upgrade{}, false
}

func (a *App) upgradeNames() []string {
	names := make([]string, len(a.upgrades))
	for i, u := range a.upgrades {
		names[i] = u.Name
	}
	return names
}

func getUpgrade(r reader, name string) (*UpgradeState, error) {
	var st UpgradeState
	if err := getCBOR(r, upgradeKey(name), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// pendingUpgrade is the scheduled plan; nil if there is none.
func pendingUpgrade(r reader) (*UpgradeState, error) {
	var name string
	if err := getCBOR(r, pendingUpgradeKey, &name); errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return getUpgrade(r, name)
}

func putUpgrade(b *store.Block, st *UpgradeState) error {
	return setLogged(b, upgradeKey(st.Plan.Name), st, tlog.KindGovernance, fmt.Sprintf("%s@%d", upgradeKey(st.Plan.Name), b.Height()))
}

// checkUpgrade judges a plan against the chain in b: its height far enough
// ahead, its name not one already applied, and the chain able to take it.
func (a *App) checkUpgrade(b *store.Block, plan *tx.UpgradePlan) *Rejection {
	if u, ok := a.upgrade(plan.Name); ok && u.Check != nil {
		if err := u.Check(b); err != nil {
			return reject(CodeConflict, "upgrade %s: %v", plan.Name, err)
		}
	}
	if earliest := b.Height() + MinUpgradeDelay; plan.Height < earliest {
		return reject(CodeInvalid, "upgrade %s at height %d is too soon: this block is %d, and a plan's height must be at least %d blocks after the block that approves it (%d or later)",
			plan.Name, plan.Height, b.Height(), MinUpgradeDelay, earliest)
	}
	st, err := getUpgrade(b, plan.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case st.Status == UpgradeApplied:
		return reject(CodeConflict, "upgrade %s was applied at height %d; a new upgrade needs a new name", plan.Name, st.Closed)
	}
	return nil
}

// scheduleUpgrade carries out proposal p: its plan becomes the pending one,
// replacing any other.
func (a *App) scheduleUpgrade(b *store.Block, p *GovProposal) *Rejection {
	prev, err := pendingUpgrade(b)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if prev != nil && prev.Plan.Name != p.Upgrade.Name {
		prev.Status, prev.Closed = UpgradeReplaced, b.Height()
		if err := putUpgrade(b, prev); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	st := &UpgradeState{Plan: *p.Upgrade, Proposal: p.ID, Approved: b.Height(), Status: UpgradeScheduled}
	if err := putUpgrade(b, st); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, pendingUpgradeKey, st.Plan.Name); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// runUpgrade runs, in b, the pending upgrade whose height b is, if any,
// and returns its consensus parameter update (nil if none); an
// *UpgradeNeededError if this build does not implement it.
func (a *App) runUpgrade(b *store.Block) (*cmtproto.ConsensusParams, error) {
	st, err := pendingUpgrade(b)
	if err != nil || st == nil || st.Plan.Height > b.Height() {
		return nil, err
	}
	u, ok := a.upgrade(st.Plan.Name)
	if !ok {
		return nil, &UpgradeNeededError{Plan: st.Plan, Build: a.upgradeNames()}
	}
	if u.Migrate != nil {
		if err := u.Migrate(b); err != nil {
			return nil, fmt.Errorf("upgrade %s at height %d: %w", u.Name, b.Height(), err)
		}
	}
	var params *cmtproto.ConsensusParams
	if u.ConsensusParams != nil {
		if params, err = u.ConsensusParams(b); err != nil {
			return nil, fmt.Errorf("upgrade %s at height %d: %w", u.Name, b.Height(), err)
		}
	}
	st.Status, st.Closed = UpgradeApplied, b.Height()
	if err := putUpgrade(b, st); err != nil {
		return nil, err
	}
	if err := b.Delete(pendingUpgradeKey); err != nil {
		return nil, err
	}
	a.log.Info("upgrade applied: its rules are in force from this block on", "upgrade", u.Name, "height", b.Height())
	return params, nil
}

// rules are the rules in force in a block at height: the base rules as
// changed by each of this build's upgrades whose plan reached its height
// by then. CheckTx judges at the next height, so it too applies an
// upgrade from its height on.
func (a *App) rules(r reader, height int64) (Rules, error) {
	rs := baseRules()
	for _, u := range a.upgrades {
		if u.Rules == nil {
			continue
		}
		st, err := getUpgrade(r, u.Name)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return rs, err
		}
		if st.Status != UpgradeReplaced && st.Plan.Height <= height {
			u.Rules(&rs)
		}
	}
	return rs, nil
}

// Upgrades lists the approved upgrade plans, in name order: scheduled,
// applied and replaced.
func (v *View) Upgrades() ([]UpgradeState, error) {
	us, err := scanValues[UpgradeState](v, upgradePrefix)
	if err != nil {
		return nil, fmt.Errorf("upgrade plans at height %d: %w", v.height, err)
	}
	return us, nil
}

// PendingUpgrade is the plan scheduled and not yet applied; nil if none.
func (v *View) PendingUpgrade() (*UpgradeState, error) {
	st, err := pendingUpgrade(v)
	if err != nil {
		return nil, fmt.Errorf("pending upgrade at height %d: %w", v.height, err)
	}
	return st, nil
}
