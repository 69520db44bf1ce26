package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/proof"
)

// The validator-set history comes from CometBFT's own stores, not from the
// ledger's record of the updates it returned: a header whose
// NextValidatorsHash differs from its ValidatorsHash is where the set
// changes, and the state store says what the set became. That is what the
// validators signed, so it is what proofs can carry.

// valChangeScan remembers the heights whose header first names a new
// validator set, so that each header of the block store is read once.
type valChangeScan struct {
	mu      sync.Mutex
	scanned int64   // headers up to this height have been read
	heights []int64 // ascending
}

// valSetChanges returns the heights h in [from, to] whose header names, as
// the set of block h+1, another set than its own.
func (n *Node) valSetChanges(from, to int64) ([]int64, error) {
	s := &n.valChanges
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := n.cmt.BlockStore()
	if from < bs.Base() {
		return nil, fmt.Errorf("validator changes from height %d: this node's blocks start at %d", from, bs.Base())
	}
	if s.scanned < bs.Base()-1 {
		s.scanned = bs.Base() - 1
	}
	for h := s.scanned + 1; h <= to; h++ {
		meta := bs.LoadBlockMeta(h)
		if meta == nil {
			return nil, fmt.Errorf("validator changes: no header at height %d", h)
		}
		if !bytes.Equal(meta.Header.ValidatorsHash, meta.Header.NextValidatorsHash) {
			s.heights = append(s.heights, h)
		}
		s.scanned = h
	}
	var out []int64
	for _, h := range s.heights {
		if h >= from && h <= to {
			out = append(out, h)
		}
	}
	return out, nil
}

// signedHeader returns the CometBFT signed header of block height, encoded
// as proof files carry it.
func (n *Node) signedHeader(height int64) ([]byte, *types.Header, error) {
	bs := n.cmt.BlockStore()
	meta := bs.LoadBlockMeta(height)
	commit := bs.LoadBlockCommit(height)
	if commit == nil {
		commit = bs.LoadSeenCommit(height)
	}
	if meta == nil || commit == nil {
		return nil, nil, fmt.Errorf("header %d: %w", height, ErrNoCheckpoint)
	}
	sh, err := cmtjson.Marshal(types.SignedHeader{Header: &meta.Header, Commit: commit})
	if err != nil {
		return nil, nil, fmt.Errorf("header %d: %w", height, err)
	}
	return sh, &meta.Header, nil
}

// transitions returns the validator transitions that lead from the set in
// force at trustedHeight (0: the first block this node has) to the set that
// signs header cpHeight+1, the header of a checkpoint at cpHeight.
func (n *Node) transitions(ctx context.Context, trustedHeight, cpHeight int64) ([]proof.Transition, error) {
	if trustedHeight == 0 {
		trustedHeight = max(1, n.cmt.BlockStore().Base())
	}
	hs, err := n.valSetChanges(trustedHeight, cpHeight)
	if err != nil {
		return nil, err
	}
	if len(hs) > proof.MaxTransitions {
		return nil, fmt.Errorf("%d validator changes since height %d, more than a proof carries (%d): trust a newer validator set",
			len(hs), trustedHeight, proof.MaxTransitions)
	}
	var ts []proof.Transition
	for _, h := range hs {
		sh, header, err := n.signedHeader(h)
		if err != nil {
			return nil, err
		}
		next, err := n.validatorSet(ctx, h+1)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(next.Hash(), header.NextValidatorsHash) {
			return nil, fmt.Errorf("validator set of height %d has hash %X, header %d names %X", h+1, next.Hash(), h, header.NextValidatorsHash)
		}
		nb, err := cmtjson.Marshal(next)
		if err != nil {
			return nil, err
		}
		ts = append(ts, proof.Transition{Header: sh, Next: nb})
	}
	return ts, nil
}

// ValidatorEpoch is one entry of the validator-set history: the set in force
// from Height on (until the next epoch), and how it differs from the set
// before it.
type ValidatorEpoch struct {
	Height int64 `json:"height"`
	// AnnouncedAt is the header that first named the set (Height-1), signed
	// by the set before; 0 for the first set.
	AnnouncedAt int64             `json:"announced_at,omitempty"`
	Hash        cmtbytes.HexBytes `json:"hash"`
	Validators  []ValidatorPower  `json:"validators"`
	Changes     []ValidatorChange `json:"changes,omitempty"`
}

// ValidatorPower is one validator of a set.
type ValidatorPower struct {
	Address cmtbytes.HexBytes `json:"address"`
	PubKey  []byte            `json:"pub_key"` // Ed25519
	Power   int64             `json:"power"`
}

// ValidatorChange is a validator whose power changed between two sets: from
// 0 when it joined, to 0 when it left.
type ValidatorChange struct {
	ValidatorPower
	Before int64 `json:"before"`
}

// ValidatorHistory returns every validator set this node's blocks record,
// oldest first, as JSON (a list of ValidatorEpoch).
func (n *Node) ValidatorHistory(ctx context.Context) ([]byte, error) {
	bs := n.cmt.BlockStore()
	first := max(1, bs.Base())
	hs, err := n.valSetChanges(first, bs.Height())
	if err != nil {
		return nil, err
	}
	var epochs []ValidatorEpoch
	var prev *types.ValidatorSet
	for _, h := range append([]int64{first - 1}, hs...) {
		vals, err := n.validatorSet(ctx, h+1)
		if err != nil {
			return nil, err
		}
		e := ValidatorEpoch{Height: h + 1, Hash: vals.Hash(), Validators: powers(vals)}
		if prev != nil {
			e.AnnouncedAt, e.Changes = h, diffValidators(prev, vals)
		}
		epochs = append(epochs, e)
		prev = vals
	}
	return json.MarshalIndent(epochs, "", "  ")
}

func powers(vals *types.ValidatorSet) []ValidatorPower {
	out := make([]ValidatorPower, len(vals.Validators))
	for i, v := range vals.Validators {
		out[i] = ValidatorPower{Address: v.Address, PubKey: v.PubKey.Bytes(), Power: v.VotingPower}
	}
	return out
}

// diffValidators lists the validators whose power differs between a and b,
// in b's order and then those of a that left.
func diffValidators(a, b *types.ValidatorSet) []ValidatorChange {
	var out []ValidatorChange
	for _, v := range powers(b) {
		before := int64(0)
		if _, old := a.GetByAddress(v.Address); old != nil {
			before = old.VotingPower
		}
		if before != v.Power {
			out = append(out, ValidatorChange{ValidatorPower: v, Before: before})
		}
	}
	for _, v := range powers(a) {
		if _, now := b.GetByAddress(v.Address); now == nil {
			out = append(out, ValidatorChange{ValidatorPower: ValidatorPower{Address: v.Address, PubKey: v.PubKey}, Before: v.Power})
		}
	}
	return out
}
