package proof_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	cmtversion "github.com/cometbft/cometbft/api/cometbft/version/v1"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"

	"github.com/carechain/carechain/proof"
)

// A fake chain is a series of validator sets, each handing over to the next
// in a signed header, and a checkpoint signed by the last set: what a node
// serves after governance has changed the validators, made from generated
// keys so that tests can sign anything, including what a real chain would
// never sign.

// fakeSet is a validator set with the private keys of its members.
type fakeSet struct {
	vals *types.ValidatorSet
	keys map[string]ed25519.PrivKey // by address
}

// newFakeSet makes a set from a pool of keys: powers[i] is the power of
// pool[i], 0 for a key outside the set. Priorities are zero and there is no
// proposer, as in proof files.
func newFakeSet(pool []ed25519.PrivKey, powers ...int64) *fakeSet {
	s := &fakeSet{keys: map[string]ed25519.PrivKey{}}
	var vs []*types.Validator
	for i, p := range powers {
		if p > 0 {
			vs = append(vs, types.NewValidator(pool[i].PubKey(), p))
			s.keys[string(pool[i].PubKey().Address())] = pool[i]
		}
	}
	// NewValidatorSet puts the validators in CometBFT's order (power, then
	// address), which the set's hash depends on.
	s.vals = &types.ValidatorSet{}
	for _, v := range types.NewValidatorSet(vs).Validators {
		c := *v
		c.ProposerPriority = 0
		s.vals.Validators = append(s.vals.Validators, &c)
	}
	return s
}

func keyPool(n int) []ed25519.PrivKey {
	pool := make([]ed25519.PrivKey, n)
	for i := range pool {
		pool[i] = ed25519.GenPrivKey()
	}
	return pool
}

func fakeHash(parts ...any) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return h[:]
}

var fakeGenesis = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeHeader is the header of block height, validated by signer, naming
// next as the set of the block after.
func fakeHeader(chainID string, height int64, signer, next *fakeSet, appHash []byte) *types.Header {
	return &types.Header{
		Version:            cmtversion.Consensus{Block: version.BlockProtocol, App: 1},
		ChainID:            chainID,
		Height:             height,
		Time:               fakeGenesis.Add(time.Duration(height) * time.Second),
		LastBlockID:        types.BlockID{Hash: fakeHash("block", height-1), PartSetHeader: types.PartSetHeader{Total: 1, Hash: fakeHash("parts", height-1)}},
		LastCommitHash:     fakeHash("last commit", height),
		DataHash:           fakeHash("data", height),
		ValidatorsHash:     signer.vals.Hash(),
		NextValidatorsHash: next.vals.Hash(),
		ConsensusHash:      fakeHash("consensus"),
		AppHash:            appHash,
		LastResultsHash:    fakeHash("results", height),
		EvidenceHash:       fakeHash("evidence", height),
		ProposerAddress:    signer.vals.Validators[0].Address,
	}
}

// sign commits h with the keys of signer; the validators at the positions
// in absent do not sign.
func sign(t testing.TB, chainID string, h *types.Header, signer *fakeSet, absent ...int) *types.SignedHeader {
	t.Helper()
	id := types.BlockID{Hash: h.Hash(), PartSetHeader: types.PartSetHeader{Total: 1, Hash: fakeHash("parts", h.Height)}}
	commit := &types.Commit{Height: h.Height, BlockID: id}
	skip := map[int]bool{}
	for _, i := range absent {
		skip[i] = true
	}
	for i, v := range signer.vals.Validators {
		if skip[i] {
			commit.Signatures = append(commit.Signatures, types.NewCommitSigAbsent())
			continue
		}
		vote := &types.Vote{
			Type: types.PrecommitType, Height: h.Height, BlockID: id, Timestamp: h.Time.Add(time.Second),
			ValidatorAddress: v.Address, ValidatorIndex: int32(i),
		}
		sig, err := signer.keys[string(v.Address)].Sign(types.VoteSignBytes(chainID, vote.ToProto()))
		if err != nil {
			t.Fatal(err)
		}
		vote.Signature = sig
		commit.Signatures = append(commit.Signatures, vote.CommitSig())
	}
	return &types.SignedHeader{Header: h, Commit: commit}
}

func encodeCmtTB(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cmtjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeChain is sets[0] handing over to sets[1], sets[1] to sets[2] and so
// on, one transition every few blocks, and a checkpoint signed by the last.
type fakeChain struct {
	chainID string
	sets    []*fakeSet
	cp      proof.Checkpoint
}

// newFakeChain builds the transitions and the checkpoint of sets.
func newFakeChain(t testing.TB, chainID string, sets ...*fakeSet) *fakeChain {
	t.Helper()
	c := &fakeChain{chainID: chainID, sets: sets}
	var height int64 = 2
	for i := 0; i+1 < len(sets); i++ {
		height += 3
		sh := sign(t, chainID, fakeHeader(chainID, height, sets[i], sets[i+1], fakeHash("app", height)), sets[i])
		c.cp.Transitions = append(c.cp.Transitions, proof.Transition{Header: encodeCmtTB(t, sh), Next: encodeCmtTB(t, sets[i+1].vals)})
	}
	last := sets[len(sets)-1]
	info := proof.AppInfo{StateHash: fakeHash("state"), LogSize: 7, LogRoot: fakeHash("root")}
	c.cp.ChainID, c.cp.Height, c.cp.Info = chainID, height+3, info
	c.cp.Header = encodeCmtTB(t, sign(t, chainID, fakeHeader(chainID, height+4, last, last, info.AppHash()), last))
	c.cp.Validators = encodeCmtTB(t, last.vals)
	return c
}

// resign changes the header of transition i with f and signs it again
// with the set before the change, the validators at absent not signing.
func (c *fakeChain) resign(t testing.TB, i int, f func(h *types.Header), absent ...int) {
	t.Helper()
	var sh types.SignedHeader
	if err := cmtjson.Unmarshal(c.cp.Transitions[i].Header, &sh); err != nil {
		t.Fatal(err)
	}
	f(sh.Header)
	c.cp.Transitions[i].Header = encodeCmtTB(t, sign(t, sh.ChainID, sh.Header, c.sets[i], absent...))
}
