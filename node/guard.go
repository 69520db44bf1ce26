package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/types"
)

// The restore guard keeps a restored validator from double-signing.
//
// A backup's priv_validator_state.json is older than what the validator
// signed after it, and the node the backup came from may still be running.
// So `carechain restore` marks the home (restoreMarkFile), and while the
// mark is there the node neither proposes nor votes: its private validator
// refuses to sign (guardedPV). It watches the chain instead. Once it has
// synced and then seen GuardBlocks blocks in a row with no signature of
// its validator key, no other copy of it is signing and every height it
// could have signed before is past: the guard releases, the mark goes, and
// the node signs from then on. A block that carries its signature after
// it synced means the old node signed it just before it stopped, or
// another node runs with its key: the count starts again, and the node
// says so in the log.
//
// CometBFT's own double_sign_check_height does a check like it at every
// start, and panics on the ordinary restart of a chain's only validator;
// the guard applies only after a restore.

// DefaultGuardBlocks is the number of blocks without its signature a
// restored validator waits for by default.
const DefaultGuardBlocks = 10

// restoreMark is the content of the restore mark.
type restoreMark struct {
	Blocks       int       `json:"blocks"`
	Restored     time.Time `json:"restored"`
	BackupOf     string    `json:"backup_of"` // node ID
	BackupHeight int64     `json:"backup_height"`
}

func (h Home) restoreMarkFile() string { return filepath.Join(h.configDir(), "restored.json") }

// markRestored marks h as restored from the backup info: its node will not
// sign until it has seen blocks blocks without its signature.
func (h Home) markRestored(info BackupInfo, blocks int) error {
	b, err := json.MarshalIndent(restoreMark{Blocks: blocks, Restored: time.Now().UTC(), BackupOf: info.NodeID, BackupHeight: info.BlockHeight}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.configDir(), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(h.restoreMarkFile(), append(b, '\n'), 0o600)
}

// ReleaseRestoreGuard removes h's restore mark, for an operator who knows
// the node the backup came from is stopped for good (a chain that cannot
// make blocks without this validator never lets the guard see it safe).
// It reports whether there was a mark.
func (h Home) ReleaseRestoreGuard() (bool, error) {
	err := os.Remove(h.restoreMarkFile())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// loadRestoreGuard returns the guard of a home marked by restore, or nil.
func (h Home) loadRestoreGuard() (*restoreGuard, error) {
	b, err := os.ReadFile(h.restoreMarkFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m restoreMark
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", h.restoreMarkFile(), err)
	}
	if m.Blocks <= 0 {
		return nil, nil
	}
	g := &restoreGuard{need: m.Blocks, wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.holding.Store(true)
	return g, nil
}

// restoreGuard is the state of a running node's restore guard.
type restoreGuard struct {
	need    int
	holding atomic.Bool
	clean   atomic.Int64  // blocks in a row without our signature, seen after sync
	wake    chan struct{} // a block was committed
	done    chan struct{} // closed when watchGuard returns
}

// errGuardHolding is what the guarded private validator answers while the
// guard holds; CometBFT logs it at each height ("failed signing vote"),
// which cometLogger turns down to debug.
var errGuardHolding = errors.New("restored validator: not signing until the restore guard is released")

// guardedPV is a private validator that does not sign while its guard holds.
type guardedPV struct {
	types.PrivValidator
	g *restoreGuard
}

func (p guardedPV) SignVote(chainID string, vote *cmtproto.Vote, signExtension bool) error {
	if p.g.holding.Load() {
		return errGuardHolding
	}
	return p.PrivValidator.SignVote(chainID, vote, signExtension)
}

func (p guardedPV) SignProposal(chainID string, proposal *cmtproto.Proposal) error {
	if p.g.holding.Load() {
		return errGuardHolding
	}
	return p.PrivValidator.SignProposal(chainID, proposal)
}

func (p guardedPV) SignBytes(b []byte) ([]byte, error) {
	if p.g.holding.Load() {
		return nil, errGuardHolding
	}
	return p.PrivValidator.SignBytes(b)
}

// guardBlockCommitted wakes the guard's watch.
func (g *restoreGuard) blockCommitted() {
	if g == nil {
		return
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// watchGuard counts the blocks without this validator's signature until
// the guard releases or the node stops.
func (n *Node) watchGuard(stop <-chan struct{}) {
	g := n.guard
	defer close(g.done)
	addr := n.pv.Key.Address
	bs := n.cmt.BlockStore()
	checked := bs.Height() // blocks from before the restore: the old node's signatures are expected there
	n.log.Warn("restored from a backup: this validator neither proposes nor votes until it has synced and seen "+
		"enough blocks without its signature", "blocks", g.need, "validator", addr.String())
	hold := time.NewTicker(30 * time.Second)
	defer hold.Stop()
	for {
		select {
		case <-stop:
			return
		case <-hold.C:
			n.logGuardHolding(addr)
			continue
		case <-g.wake:
		}
		if n.Syncing() {
			checked = bs.Height()
			continue
		}
		for ; checked < bs.Height(); checked++ {
			h := checked + 1
			if signedAt(bs, h, addr) {
				g.clean.Store(0)
				n.log.Warn("restore guard: a block carries this validator's signature, yet this node has not signed since its restore. "+
					"Either the node the backup came from signed it just before it stopped, or another node runs with this validator key: "+
					"if this repeats, find that node and stop it. This node does not sign while such signatures go on", "height", h)
				continue
			}
			if g.clean.Add(1) >= int64(g.need) {
				n.releaseGuard(h)
				return
			}
		}
	}
}

// signedAt reports whether the block at height h, or the commit of it,
// carries a signature of addr.
func signedAt(bs interface {
	LoadBlock(int64) (*types.Block, *types.BlockMeta)
	LoadSeenCommit(int64) *types.Commit
}, h int64, addr types.Address,
) bool {
	signed := func(c *types.Commit) bool {
		for _, s := range c.Signatures {
			if s.BlockIDFlag != types.BlockIDFlagAbsent && bytes.Equal(s.ValidatorAddress, addr) {
				return true
			}
		}
		return false
	}
	if b, _ := bs.LoadBlock(h); b != nil && b.LastCommit != nil && signed(b.LastCommit) {
		return true
	}
	c := bs.LoadSeenCommit(h)
	return c != nil && signed(c)
}

// releaseGuard lets the validator sign from the block after height.
func (n *Node) releaseGuard(height int64) {
	n.guard.holding.Store(false)
	n.metrics.guardHolding.Set(0)
	if _, err := n.home.ReleaseRestoreGuard(); err != nil {
		n.log.Error("restore guard released, but its mark stays", "err", err)
	}
	n.log.Info("restore guard released: no other node signs with this validator key; signing again", "height", height, "blocks_seen", n.guard.need)
}

// logGuardHolding says, while the guard holds, how far it is and whether it
// can ever release.
func (n *Node) logGuardHolding(addr types.Address) {
	g := n.guard
	if !g.holding.Load() {
		return
	}
	args := []any{"blocks_without_signature", g.clean.Load(), "need", g.need, "syncing", n.Syncing()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	vals, err := n.validatorSet(ctx, 0)
	if err != nil {
		return // stopping
	}
	if _, v := vals.GetByAddress(addr); v != nil && (vals.TotalVotingPower()-v.VotingPower)*3 <= vals.TotalVotingPower()*2 {
		n.log.Warn("restore guard holding, and the other validators cannot make blocks without this one: "+
			"if the node this backup came from is stopped for good, stop this node, run `carechain restore --release-guard --home "+
			string(n.home)+"` and start it again (it still signs no height it signed before the backup was made: "+
			"blocks the chain made after the backup cannot be made again)", args...)
		return
	}
	n.log.Info("restore guard holding", args...)
}
