// Package ledger is carechain's ABCI 2.0 application: it validates
// transactions and applies them to the state store, deterministically.
//
// CheckTx runs on CometBFT's mempool connection, concurrently with itself and
// with block execution; it reads only committed state. FinalizeBlock and
// Commit run on the consensus connection, one at a time. Nothing in the
// consensus path reads a clock, draws randomness or iterates a map without
// sorting, so every node computes the same app hash from the same blocks.
//
// The app hash after block h commits to the Merkle log of every record
// version, identity and consent change and audit batch (package tlog), and
// to the whole state history (see AppInfo). A block that writes nothing keeps
// the app hash.
//
// The rules of each transaction type live in a file of their own (identity,
// records, consent, audit, amend), registered with handle; App only decodes,
// authenticates (chain, signer, signature, nonce) and dispatches. Rejections
// are *Rejection values with a stable Code and an error kind.
//
// Queries go to a View, the committed state at one height (App.View,
// App.Latest): a caller that reads several things reads them from one View,
// so the answers agree with each other.
package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// Version is reported to CometBFT in Info.
const Version = "carechain/1"

// Stage says where a transaction was judged.
type Stage string

// Stages.
const (
	StageCheck    Stage = "check"
	StageFinalize Stage = "finalize"
	// StageRecheck: admitted to the mempool, then dropped from it when it
	// was checked again after a block (a later nonce of its signer
	// committed first, or its signer was revoked).
	StageRecheck Stage = "recheck"
)

// TxResult is the outcome of one transaction in a committed block.
type TxResult struct {
	Hash [32]byte
	Code Code
	Log  string
}

// Outcome is what became of a submitted transaction.
type Outcome struct {
	Hash   [32]byte `json:"-"`
	Stage  Stage    `json:"stage"`            // where it was judged: check (mempool), recheck (dropped from it) or finalize (block)
	Code   Code     `json:"code"`             // CodeOK if committed and accepted
	Log    string   `json:"log,omitempty"`    // the reason, when rejected
	Height int64    `json:"height,omitempty"` // block height, when it reached a block
}

// Accepted reports whether the transaction was committed and accepted.
func (o Outcome) Accepted() bool { return o.Code == CodeOK && o.Height > 0 }

// Rejection returns the rejection, or nil if the transaction was not rejected.
func (o Outcome) Rejection() *Rejection {
	if o.Code == CodeOK {
		return nil
	}
	return &Rejection{Code: o.Code, Msg: o.Log}
}

// Errors a node returns when it cannot take a transaction; the transaction
// itself was not judged.
var (
	// ErrDuplicateTx: this exact transaction was already received; its outcome stands.
	ErrDuplicateTx = carechain.NewError(carechain.KindConflict, "transaction already received")
	// ErrBusy: the node cannot take transactions right now (mempool full, catching up); retry later.
	ErrBusy = carechain.NewError(carechain.KindUnavailable, "node busy")
)

// CommittedBlock is reported to Events after each Commit.
type CommittedBlock struct {
	Height  int64
	AppHash []byte
	Txs     []TxResult
	// Misbehavior counts the evidence of validator misbehavior (double
	// signing, light-client attacks) the block carries.
	Misbehavior int
	// Changes names what the block changed of patients' records and
	// consent, for node-local views that follow the chain (the records
	// service's search index).
	Changes Changes
}

// Events receives what the app does, for metrics and for clients waiting on
// commits. Methods are called synchronously and must be quick.
type Events interface {
	TxRejected(stage Stage, code Code)
	// TxDropped reports a transaction the mempool held and its recheck
	// refused: it leaves the mempool and will not reach a block, so
	// whoever waits for its commit must be told.
	TxDropped(hash [32]byte, rej Rejection)
	BlockCommitted(b CommittedBlock)
}

// Options configure an App.
type Options struct {
	ChainID string
	Logger  *slog.Logger // nil: discard
	Events  Events       // nil: none
	// TrustPeer, if set, admits peers the ledger does not know (yet): a node
	// that is catching up has not seen the registrations of the nodes it
	// syncs from. It is never asked about a revoked node. See AdmitPeer.
	TrustPeer func(nodeID string) bool
	// Upgrades are the consensus upgrades the app implements; nil: this
	// build's (Upgrades()). Tests give others.
	Upgrades []Upgrade
	// Halt, if set, is called when the app refuses to go on: at the height
	// of an approved upgrade it does not implement (*UpgradeNeededError).
	// CometBFT stops executing blocks then; the host stops the node.
	Halt func(err error)
	// Bypass, switched off (only in a build with -tags notrust: package
	// trust), admits transactions without checking their signatures.
	Bypass trust.Bypass
}

// App is the ABCI application.
type App struct {
	abci.BaseApplication

	store     *store.Store
	chainID   string
	log       *slog.Logger
	events    Events
	trustPeer func(nodeID string) bool
	upgrades  []Upgrade
	halt      func(err error)

	// mempool state, guarded by mu
	mu sync.Mutex
	// checkNonce is the highest nonce per signer admitted to the mempool since the last commit.
	checkNonce map[string]uint64
	// verified remembers signatures this node already checked: tx hash -> key it verified under.
	verified map[[32]byte]ed25519.PublicKey
	verifier tx.Verifier

	// refused is when each refused peer was last logged at info.
	refused peerLog

	// evaluator caches compiled consent conditions; safe for concurrent use.
	evaluator *consent.Evaluator
	// mapNodes caches the top levels of the supply map (smt.Cache: at
	// most 25 MiB, safe for concurrent use): FinalizeBlock's map updates
	// and the Views' proofs, at any height, find the nodes every path
	// shares there instead of reading them from the store.
	mapNodes *smt.Cache

	// consensus state, used only from the consensus connection
	block   *store.Block
	results []TxResult
	// misbehavior is the number of evidence items of the finalized block.
	misbehavior int
	info        AppInfo
	// policies are the role policies decide last decoded, each with the
	// state bytes it was decoded from: a record.put need not decode its
	// author's organization's policy again while those bytes stand.
	policies map[string]decodedPolicy
}

// maxVerifiedCache bounds the signature cache; past it the cache starts over.
const maxVerifiedCache = 200_000

// New returns an App over st.
func New(st *store.Store, opts Options) (*App, error) {
	if opts.ChainID == "" {
		return nil, fmt.Errorf("ledger: chain id is required")
	}
	a := &App{
		store: st, chainID: opts.ChainID, log: opts.Logger, events: opts.Events, trustPeer: opts.TrustPeer,
		upgrades: opts.Upgrades, halt: opts.Halt,
		checkNonce: make(map[string]uint64),
		verified:   make(map[[32]byte]ed25519.PublicKey),
		evaluator:  consent.NewEvaluator(1024),
		mapNodes:   smt.NewCache(),
		policies:   make(map[string]decodedPolicy),
	}
	a.verifier.Bypass = opts.Bypass
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if err := checkFormat(st); err != nil {
		return nil, err
	}
	if a.events == nil {
		a.events = noEvents{}
	}
	if a.upgrades == nil {
		a.upgrades = Upgrades()
	}
	if a.halt == nil {
		a.halt = func(error) {}
	}
	return a, nil
}

// ErrOldFormat is returned for state written by an older carechain whose app
// hash did not commit to the Merkle log; such a chain cannot continue.
var ErrOldFormat = errors.New("state was written by an older carechain (no Merkle log): start a new chain (carechain demo --reset)")

// checkFormat refuses state without commit info at its last height.
func checkFormat(st *store.Store) error {
	last, err := st.LastCommit()
	if err != nil || last.AppHash == nil {
		return err // new store
	}
	if _, err := st.Info(last.Height); errors.Is(err, store.ErrNotFound) {
		return ErrOldFormat
	}
	return err
}

type noEvents struct{}

func (noEvents) TxRejected(Stage, Code)        {}
func (noEvents) TxDropped([32]byte, Rejection) {}
func (noEvents) BlockCommitted(CommittedBlock) {}

// ChainID is the chain this app serves.
func (a *App) ChainID() string { return a.chainID }

// Info implements abci.Application: CometBFT replays blocks above the height reported here.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	last, err := a.store.LastCommit()
	if err != nil {
		return nil, err
	}
	return &abci.InfoResponse{Version: Version, AppVersion: 1, LastBlockHeight: last.Height, LastBlockAppHash: last.AppHash}, nil
}

// InitChain implements abci.Application: it loads the genesis organizations and admins.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	if req.ChainId != a.chainID {
		return nil, fmt.Errorf("genesis is for chain %q, app configured for %q", req.ChainId, a.chainID)
	}
	var g Genesis
	if err := json.Unmarshal(req.AppStateBytes, &g); err != nil {
		return nil, fmt.Errorf("genesis app_state: %w", err)
	}
	b := a.store.NewBlock(req.InitialHeight - 1)
	if err := g.apply(b, req.Validators); err != nil {
		return nil, err
	}
	if err := recordGenesisPBTS(b, req.ConsensusParams); err != nil {
		return nil, err
	}
	info, err := blockInfo(AppInfo{}, b)
	if err != nil {
		return nil, err
	}
	appHash := info.AppHash()
	if err := a.store.Commit(b, appHash, mustMarshal(info)); err != nil {
		return nil, err
	}
	a.log.Info("genesis loaded", "organizations", len(g.Organizations), "app_hash", fmt.Sprintf("%X", appHash))
	return &abci.InitChainResponse{AppHash: appHash}, nil
}

func mustMarshal(v any) []byte {
	b, err := tx.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}

// CheckTx implements abci.Application. It may run concurrently with itself and with FinalizeBlock.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	recheck := req.Type == abci.CHECK_TX_TYPE_RECHECK
	rej := a.checkTx(req.Tx, recheck)
	if rej != nil {
		a.events.TxRejected(StageCheck, rej.Code)
		if recheck {
			a.events.TxDropped(sha256.Sum256(req.Tx), *rej)
		}
		return &abci.CheckTxResponse{Code: uint32(rej.Code), Codespace: Codespace, Log: rej.Msg}, nil
	}
	return &abci.CheckTxResponse{Code: uint32(CodeOK)}, nil
}

// checkTx decides admission to the mempool, against the last committed
// state: the transaction decodes within the size limit and its body passes
// the stateless rules of its type; it is signed for this chain by a
// registered, active signer under its current key; its nonce is above the
// committed one and every one admitted since; and a node signs only what
// nodes may sign. That is what a transaction must show before it takes a
// place in a block, and all a recheck (after each block, for what is left in
// the mempool) asks again of signer and nonce.
//
// The rules of the transaction's type (authorization, consent, conflicts,
// epochs and versions, time limits) are not run here: FinalizeBlock judges
// every transaction in full against the state its block sees, refuses there
// what they refuse, with the same code, and writes nothing of it. Running
// the whole state transition here as well cost as much again as the block
// did (issue 19), and its verdict was only advisory: the state a block sees
// is not the one CheckTx saw.
func (a *App) checkTx(raw []byte, recheck bool) *Rejection {
	s, err := tx.Decode(raw)
	if err != nil {
		return rejectDecode(err)
	}
	last, err := a.store.LastCommit()
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	view := heightView{s: a.store, height: last.Height}
	minNonce := func(signer string) (uint64, error) {
		n, err := getNonce(view, signer)
		if err != nil {
			return 0, err
		}
		if recheck {
			return n + 1, nil // see below
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return max(n, a.checkNonce[signer]) + 1, nil
	}
	c, rej := a.authenticate(view, s, a.verifyAndRemember, minNonce)
	if rej != nil {
		return rej
	}
	if rej := nodeMaySign(c); rej != nil {
		return rej
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if recheck {
		// New transactions are checked while the mempool is rechecked, so a
		// signer's later nonce may be admitted before an earlier one is
		// rechecked. A recheck therefore judges the nonce against committed
		// state only: refusing it for a higher nonce seen meanwhile would
		// drop a valid transaction from the mempool silently, and whoever
		// waits for its commit would wait forever.
		a.checkNonce[s.Signer] = max(a.checkNonce[s.Signer], s.Nonce)
		return nil
	}
	if s.Nonce <= a.checkNonce[s.Signer] {
		return reject(CodeBadNonce, "nonce %d of %q is replayed or stale", s.Nonce, s.Signer)
	}
	a.checkNonce[s.Signer] = s.Nonce
	return nil
}

// verifyAndRemember checks a signature and caches the result, so
// FinalizeBlock need not check it again.
func (a *App) verifyAndRemember(s *tx.Signed, pub ed25519.PublicKey) error {
	if a.alreadyVerified(s, pub) {
		return nil
	}
	if err := a.verifier.Verify(s, pub); err != nil {
		return err
	}
	a.remember(s, pub)
	return nil
}

func (a *App) alreadyVerified(s *tx.Signed, pub ed25519.PublicKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.verified[s.Hash]
	return ok && k.Equal(pub)
}

// verifyOnce checks a signature in FinalizeBlock, skipping those this node
// verified under the same key, in CheckTx or in the block's batch (preverify).
func (a *App) verifyOnce(s *tx.Signed, pub ed25519.PublicKey) error {
	a.mu.Lock()
	k, ok := a.verified[s.Hash]
	delete(a.verified, s.Hash)
	a.mu.Unlock()
	if ok && k.Equal(pub) {
		return nil
	}
	return a.verifier.Verify(s, pub)
}

// PrepareProposal implements abci.Application: it keeps the mempool's order
// and the size limit; invalid txs are rejected with a code in FinalizeBlock.
func (a *App) PrepareProposal(_ context.Context, req *abci.PrepareProposalRequest) (*abci.PrepareProposalResponse, error) {
	txs := make([][]byte, 0, len(req.Txs))
	var size int64
	for _, t := range req.Txs {
		size += int64(len(t))
		if size > req.MaxTxBytes {
			break
		}
		txs = append(txs, t)
	}
	return &abci.PrepareProposalResponse{Txs: txs}, nil
}

// ProcessProposal implements abci.Application.
func (a *App) ProcessProposal(context.Context, *abci.ProcessProposalRequest) (*abci.ProcessProposalResponse, error) {
	return &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}

// FinalizeBlock implements abci.Application: it applies the block's
// transactions in order and computes the app hash. State reaches disk in Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	last, err := a.store.LastCommit()
	if err != nil {
		return nil, err
	}
	if req.Height != last.Height+1 {
		return nil, fmt.Errorf("finalize block %d: state is at %d", req.Height, last.Height)
	}
	b := a.store.NewBlock(req.Height)
	params, err := a.runUpgrade(b)
	if err != nil {
		// The block is not applied: the state stays at the height before.
		if needed := new(UpgradeNeededError); errors.As(err, &needed) {
			a.log.Error(err.Error())
			a.halt(err)
		}
		return nil, err
	}
	if err := a.migrate(b); err != nil {
		return nil, err
	}
	resp := &abci.FinalizeBlockResponse{TxResults: make([]*abci.ExecTxResult, len(req.Txs)), ConsensusParamUpdates: params}
	results := make([]TxResult, len(req.Txs))
	txs := decodeBlock(req.Txs)
	a.preverify(b, txs)
	for i, raw := range req.Txs {
		rej := a.deliver(b, txs[i], req.Time.Unix())
		results[i] = TxResult{Hash: sha256.Sum256(raw)}
		if rej != nil {
			a.events.TxRejected(StageFinalize, rej.Code)
			results[i].Code, results[i].Log = rej.Code, rej.Msg
			resp.TxResults[i] = &abci.ExecTxResult{Code: uint32(rej.Code), Codespace: Codespace, Log: rej.Msg}
			continue
		}
		resp.TxResults[i] = &abci.ExecTxResult{Code: uint32(CodeOK)}
	}
	if resp.ValidatorUpdates, err = validatorUpdates(b); err != nil {
		return nil, err
	}
	prev, err := a.CommitInfo(last.Height)
	if err != nil {
		return nil, err
	}
	info, err := blockInfoCached(prev, b, a.mapNodes)
	if err != nil {
		return nil, err
	}
	a.block, a.results, a.info, a.misbehavior = b, results, info, len(req.Misbehavior)
	for _, m := range req.Misbehavior {
		a.log.Error("the block carries evidence of validator misbehavior", "height", req.Height, "type", m.Type.String(),
			"validator", fmt.Sprintf("%X", m.Validator.Address), "at_height", m.Height)
	}
	resp.AppHash = info.AppHash()
	return resp, nil
}

// migrate brings the state of a chain begun by an older carechain up to
// date, in the block b, before its transactions: every node migrates at the
// same height.
func (a *App) migrate(b *store.Block) error {
	if orgs, err := migrateRolePolicies(b); err != nil {
		return err
	} else if len(orgs) > 0 {
		a.log.Info("migration: organizations without a role policy got the default one", "height", b.Height(), "organizations", orgs)
	}
	if orgs, err := migratePatientReported(b); err != nil {
		return err
	} else if orgs != nil {
		a.log.Info("migration: category patient-reported added; organizations on the previous default role policy got the current one", "height", b.Height(), "organizations", orgs)
	}
	return nil
}

func (a *App) deliver(b *store.Block, t blockTx, now int64) *Rejection {
	if t.err != nil {
		return rejectDecode(t.err)
	}
	s := t.s
	minNonce := func(signer string) (uint64, error) {
		n, err := getNonce(b, signer)
		return n + 1, err
	}
	c, rej := a.authenticate(b, s, a.verifyOnce, minNonce)
	if rej != nil {
		return rej
	}
	c.now = now
	return a.apply(b, c)
}

// Commit implements abci.Application: it makes the finalized block durable.
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	if a.block == nil {
		return nil, fmt.Errorf("commit without a finalized block")
	}
	appHash := a.info.AppHash()
	if err := a.store.Commit(a.block, appHash, mustMarshal(a.info)); err != nil {
		return nil, err
	}
	committed := CommittedBlock{Height: a.block.Height(), AppHash: appHash, Txs: a.results, Misbehavior: a.misbehavior, Changes: changesOf(a.block)}
	a.block, a.results = nil, nil
	// The mempool rechecks what is left against the new state.
	a.mu.Lock()
	clear(a.checkNonce)
	a.mu.Unlock()
	a.events.BlockCommitted(committed)
	return &abci.CommitResponse{}, nil
}
