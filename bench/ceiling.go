package bench

import (
	"context"
	"crypto/sha256"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/ledger"
)

// acceptAll accepts every transaction and keeps no state: the ceiling of the
// CometBFT setup, against which the ledger is measured. It reports each
// commit to the node's events, as the ledger does, so that the node's
// submitters wake up the same way in both runs.
type acceptAll struct {
	abci.BaseApplication
	events  ledger.Events
	height  int64
	pending []ledger.TxResult
}

// newAcceptAll is a node.StartOptions.App.
func newAcceptAll(events ledger.Events) abci.Application { return &acceptAll{events: events} }

// ceilingAppHash is the app hash of every block: there is no state to hash.
var ceilingAppHash = []byte("ceiling")

func (a *acceptAll) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	resp := &abci.FinalizeBlockResponse{TxResults: make([]*abci.ExecTxResult, len(req.Txs)), AppHash: ceilingAppHash}
	a.pending = make([]ledger.TxResult, len(req.Txs))
	for i, t := range req.Txs {
		resp.TxResults[i] = &abci.ExecTxResult{}
		a.pending[i] = ledger.TxResult{Hash: sha256.Sum256(t)}
	}
	a.height = req.Height
	return resp, nil
}

func (a *acceptAll) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.events.BlockCommitted(ledger.CommittedBlock{Height: a.height, Txs: a.pending})
	return &abci.CommitResponse{}, nil
}

func (a *acceptAll) InitChain(context.Context, *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	return &abci.InitChainResponse{AppHash: ceilingAppHash}, nil
}

func (a *acceptAll) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	return &abci.InfoResponse{}, nil
}
