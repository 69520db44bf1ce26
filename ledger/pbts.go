package ledger

import (
	"errors"
	"fmt"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	gogo "github.com/cosmos/gogoproto/types"

	"github.com/carechain/carechain/store"
)

// Proposer-based timestamps (PBTS). Under CometBFT's default BFT time a
// block's time is the median of the times of the votes that committed the
// block before it: after the chain idles (no transactions, empty blocks only
// every EmptyBlockInterval), the next block is stamped with the time the
// previous one was committed, seconds or minutes in the past, and so is
// every record it writes (FHIR meta.lastUpdated). Under PBTS a block's time
// is its proposer's clock when it proposed the block, and validators refuse
// a proposal whose time is not within PBTSPrecision and PBTSMessageDelay of
// their own clocks: the validators' clocks must be kept synchronized (NTP).
//
// Chains this carechain founds have PBTS from height 1 (node.Init). A chain
// founded before switches it on by governance: an approved upgrade plan
// named PBTSUpgrade (gov propose --upgrade pbts --upgrade-height H) returns,
// in the block at H, the consensus parameter update that enables PBTS from
// H+1. CometBFT refuses to enable it at a height it has reached, hence the
// next one.

// PBTSUpgrade is the name of the upgrade that enables PBTS on a chain
// founded without it.
const PBTSUpgrade = "pbts"

// The synchrony parameters of PBTS, as CometBFT's defaults (measured on
// global networks, cometbft issue 4246). A proposal is timely, and
// validators vote for it, if it reaches them no earlier than PBTSPrecision
// before its time and no later than PBTSMessageDelay+PBTSPrecision after.
const (
	// PBTSPrecision bounds how far apart validators' clocks are: NTP keeps
	// servers within tens of milliseconds.
	PBTSPrecision = 505 * time.Millisecond
	// PBTSMessageDelay bounds how long a proposal takes to reach the
	// validators. CometBFT lengthens it by 10% each round a height fails,
	// so a chain whose network is slower still makes progress.
	PBTSMessageDelay = 15 * time.Second
)

// pbtsHeightKey holds the height from which the chain has PBTS: from its
// genesis, or one after the PBTS upgrade. Absent: the chain uses BFT time.
const pbtsHeightKey = "param/pbts-height"

func pbtsUpgrade() Upgrade {
	return Upgrade{Name: PBTSUpgrade, Check: checkPBTSOff, ConsensusParams: enablePBTS}
}

// pbtsHeight is the height from which the chain in r has PBTS; 0 if it has not.
func pbtsHeight(r reader) (int64, error) {
	var h int64
	if err := getCBOR(r, pbtsHeightKey, &h); errors.Is(err, ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return h, nil
}

// recordGenesisPBTS notes, in the genesis block b, the height from which
// params enable PBTS. A chain without PBTS writes nothing, so the state of
// chains founded before PBTS is unchanged.
func recordGenesisPBTS(b *store.Block, params *cmtproto.ConsensusParams) error {
	if h := params.GetFeature().GetPbtsEnableHeight().GetValue(); h > 0 {
		return setCBOR(b, pbtsHeightKey, h)
	}
	return nil
}

// checkPBTSOff refuses the PBTS upgrade on a chain that has PBTS already:
// CometBFT would refuse to move its enable height.
func checkPBTSOff(b *store.Block) error {
	h, err := pbtsHeight(b)
	if err == nil && h > 0 {
		err = fmt.Errorf("the chain has proposer-based timestamps from height %d already", h)
	}
	return err
}

// enablePBTS is the PBTS upgrade's consensus parameter update in the block
// b: PBTS from the next height on, with carechain's synchrony parameters.
func enablePBTS(b *store.Block) (*cmtproto.ConsensusParams, error) {
	if err := checkPBTSOff(b); err != nil {
		return nil, err
	}
	from := b.Height() + 1
	if err := setCBOR(b, pbtsHeightKey, from); err != nil {
		return nil, err
	}
	precision, delay := PBTSPrecision, PBTSMessageDelay
	return &cmtproto.ConsensusParams{
		Feature:   &cmtproto.FeatureParams{PbtsEnableHeight: &gogo.Int64Value{Value: from}},
		Synchrony: &cmtproto.SynchronyParams{Precision: &precision, MessageDelay: &delay},
	}, nil
}

// PBTSHeight is the height from which the chain has proposer-based
// timestamps, as of v's height; 0 if it has not (yet).
func (v *View) PBTSHeight() (int64, error) {
	h, err := pbtsHeight(v)
	if err != nil {
		return 0, fmt.Errorf("pbts height at %d: %w", v.height, err)
	}
	return h, nil
}
