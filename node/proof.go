package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
)

// ErrNoCheckpoint is returned when the entry is not yet covered by a signed
// header (the next block has not been committed yet): retry shortly.
var ErrNoCheckpoint = errors.New("not yet in a signed checkpoint; retry in a moment")

// Validators returns the current validator set, encoded for
// `carechain verify-proof --validators`.
func (n *Node) Validators(ctx context.Context) ([]byte, error) {
	vals, err := n.validatorSet(ctx, 0)
	if err != nil {
		return nil, err
	}
	return cmtjson.MarshalIndent(vals, "", "  ")
}

func (n *Node) validatorSet(ctx context.Context, height int64) (*types.ValidatorSet, error) {
	var h *int64
	if height > 0 {
		h = &height
	}
	perPage := 100
	res, err := n.client.Validators(ctx, h, nil, &perPage)
	if err != nil {
		return nil, fmt.Errorf("validators: %w", err)
	}
	// Proposer priorities rotate every round and are not part of the set's
	// hash; a proof file carries them as zero (see proof.ParseValidators).
	vals := make([]*types.Validator, len(res.Validators))
	for i, v := range res.Validators {
		c := *v
		c.ProposerPriority = 0
		vals[i] = &c
	}
	return &types.ValidatorSet{Validators: vals}, nil
}

// Checkpoint returns a signed checkpoint at height (0: the newest this node
// can prove): the app info after block height and the signed header of the
// next block.
func (n *Node) Checkpoint(ctx context.Context, height int64) (proof.Checkpoint, error) {
	bs := n.cmt.BlockStore()
	top := bs.Height() - 1 // header top+1 is the newest we have
	if height == 0 {
		height = top
	}
	if height < 1 || height > top {
		return proof.Checkpoint{}, fmt.Errorf("checkpoint at %d: %w (newest is %d)", height, ErrNoCheckpoint, top)
	}
	if cp, ok := n.lastCheckpoint.get(height); ok {
		return cp, nil
	}
	cp, err := n.buildCheckpoint(ctx, height)
	if err == nil {
		n.lastCheckpoint.put(cp)
	}
	return cp, err
}

// checkpointMemo keeps the last checkpoint built: a checkpoint of a height
// never changes, and verifications with proofs ask for the newest one many
// times per block.
type checkpointMemo struct {
	mu sync.Mutex
	cp *proof.Checkpoint
}

func (m *checkpointMemo) get(height int64) (proof.Checkpoint, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cp == nil || m.cp.Height != height {
		return proof.Checkpoint{}, false
	}
	return *m.cp, true
}

func (m *checkpointMemo) put(cp proof.Checkpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cp = &cp
}

func (n *Node) buildCheckpoint(ctx context.Context, height int64) (proof.Checkpoint, error) {
	info, err := n.app.CommitInfo(height)
	if err != nil {
		return proof.Checkpoint{}, err
	}
	sh, _, err := n.signedHeader(height + 1)
	if err != nil {
		return proof.Checkpoint{}, err
	}
	vals, err := n.validatorSet(ctx, height+1)
	if err != nil {
		return proof.Checkpoint{}, err
	}
	vb, err := cmtjson.Marshal(vals)
	if err != nil {
		return proof.Checkpoint{}, err
	}
	return proof.Checkpoint{ChainID: n.app.ChainID(), Height: height, Info: info, Header: sh, Validators: vb}, nil
}

// Prove builds a proof bundle for the log entry (kind, key) against the
// newest signed checkpoint, with the validator transitions since the first
// block (see ProveTrusting).
func (n *Node) Prove(ctx context.Context, kind, key string) (*proof.Bundle, error) {
	return n.ProveTrusting(ctx, 0, kind, key)
}

// ProveTrusting builds a proof bundle for the log entry (kind, key) against
// the newest signed checkpoint, for a verifier who trusts the validator set
// in force at trustedHeight (0: the first block): the checkpoint carries the
// validator transitions from that set to the one that signed it.
func (n *Node) ProveTrusting(ctx context.Context, trustedHeight int64, kind, key string) (*proof.Bundle, error) {
	v, err := n.app.View(0)
	if err != nil {
		return nil, err
	}
	index, leaf, content, err := v.LogEntry(kind, key)
	if err != nil {
		return nil, err
	}
	cp, err := n.trustedCheckpoint(ctx, trustedHeight, 0)
	if err != nil {
		return nil, err
	}
	if index >= cp.Info.LogSize {
		return nil, fmt.Errorf("%s %s: %w", kind, key, ErrNoCheckpoint)
	}
	incl, err := v.InclusionProof(index, cp.Info.LogSize)
	if err != nil {
		return nil, err
	}
	return &proof.Bundle{Version: 1, Leaf: *leaf, LeafIndex: index, Content: content, Inclusion: incl, At: cp}, nil
}

// checkpointPoll is how often CheckpointView asks for a newer checkpoint.
const checkpointPoll = 50 * time.Millisecond

// CheckpointView returns the newest signed checkpoint, with the validator
// transitions from the set in force at trustedHeight (0: the first block),
// and a view of the state it commits to. It waits, up to wait, for a
// checkpoint that commits to the state committed when it was called (the
// block after one that changed state comes within a block's time), so an
// answer right after a recall proves the recall; after wait it returns the
// newest there is. When no block changed state since the checkpoint, the
// view is of the latest state, which reads faster than a past height.
func (n *Node) CheckpointView(ctx context.Context, trustedHeight int64, wait time.Duration) (proof.Checkpoint, *ledger.View, error) {
	last, err := n.app.LastCommit()
	if err != nil {
		return proof.Checkpoint{}, nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		cp, err := n.trustedCheckpoint(ctx, trustedHeight, 0)
		current := err == nil && bytes.Equal(cp.Info.AppHash(), last.AppHash)
		if current || err == nil && time.Now().After(deadline) {
			v, err := n.checkpointView(cp, current, last.Height)
			return cp, v, err
		}
		if err != nil && (!errors.Is(err, ErrNoCheckpoint) || time.Now().After(deadline)) {
			return cp, nil, err
		}
		select {
		case <-ctx.Done():
			return proof.Checkpoint{}, nil, ctx.Err()
		case <-time.After(checkpointPoll):
		}
	}
}

// checkpointView is the state cp commits to: that at lastHeight if current
// (the same state: no block wrote any since), else that at cp's height.
func (n *Node) checkpointView(cp proof.Checkpoint, current bool, lastHeight int64) (*ledger.View, error) {
	if current {
		return n.app.View(lastHeight)
	}
	return n.app.View(cp.Height)
}

// trustedCheckpoint is Checkpoint with the validator transitions from the
// set in force at trustedHeight.
func (n *Node) trustedCheckpoint(ctx context.Context, trustedHeight, height int64) (proof.Checkpoint, error) {
	cp, err := n.Checkpoint(ctx, height)
	if err != nil {
		return cp, err
	}
	cp.Transitions, err = n.transitions(ctx, trustedHeight, cp.Height)
	return cp, err
}

// ProveConsistency proves that the log at checkpoint from is a prefix of the
// log at checkpoint to, with the validator transitions since the first block.
func (n *Node) ProveConsistency(ctx context.Context, from, to int64) (*proof.Consistency, error) {
	return n.ProveConsistencyTrusting(ctx, 0, from, to)
}

// ProveConsistencyTrusting is ProveConsistency for a verifier who trusts the
// validator set in force at trustedHeight (0: the first block).
func (n *Node) ProveConsistencyTrusting(ctx context.Context, trustedHeight, from, to int64) (*proof.Consistency, error) {
	a, err := n.trustedCheckpoint(ctx, trustedHeight, from)
	if err != nil {
		return nil, err
	}
	b, err := n.trustedCheckpoint(ctx, trustedHeight, to)
	if err != nil {
		return nil, err
	}
	if a.Info.LogSize > b.Info.LogSize {
		return nil, fmt.Errorf("checkpoint %d has a larger log than %d", from, to)
	}
	v, err := n.app.View(0)
	if err != nil {
		return nil, err
	}
	p, err := v.ConsistencyProof(a.Info.LogSize, b.Info.LogSize)
	if err != nil {
		return nil, err
	}
	return &proof.Consistency{Version: 1, From: a, To: b, Proof: p}, nil
}
