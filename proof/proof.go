// Package proof verifies that a record version, a consent or an access event
// is exactly what a carechain consortium committed, without trusting the node
// that served it.
//
// A Bundle holds a Merkle log leaf (metadata and a content hash, never
// plaintext), the state value it commits to, an inclusion proof into the log,
// and a checkpoint: the validator-signed block header whose app hash commits
// to the log's size and root (AppInfo), with the commit signatures and the
// validator set. Verify is a pure function of the bundle and a trusted
// validator set; it does no I/O and can be imported by other programs.
//
// # Validator-set changes
//
// The consortium changes its validators by governance vote. A checkpoint
// made after a change is signed by the new set, which a verifier who saved
// the set earlier does not know. So a checkpoint may carry Transitions: for
// each change between the height the verifier's set was in force and the
// checkpoint, the signed header that first names the new set (its
// NextValidatorsHash), with its commit, and the new set itself. Verify starts
// from the trusted set and, for each transition in turn, requires its header
// to be signed by more than two thirds of the power of the set reached so
// far and to name the next set by hash; the checkpoint must then be signed by
// the set reached last. Dropping, reordering or altering a transition breaks
// this chain of signatures and hashes. This is CometBFT's light-client
// "adjacent" rule applied only at the heights where the set changes, where
// the set of the block before is the one that signs.
//
// The trust assumption is the usual one for proof-of-stake light clients:
// each set along the way must have had more than two thirds of its power
// honest, and that must still hold for validators who have since left: keys
// of former validators, compromised or sold after they left, could sign a
// forged history from the point they were in power (a long-range attack).
// CometBFT's light client bounds this with a trusting period (a trusted
// header older than it is not used); Verify has no clock, so a verifier
// should refresh its trusted set from a source it trusts now and then, and
// treat a very old trusted set with the same caution.
package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/tlog"
)

// AppInfo is what the app hash after a block is computed from:
//
//	app hash = SHA-256("carechain/apphash/v2" ‖ log size (8 bytes, big endian) ‖ log root ‖ state hash)
//
// The state hash chains the hashes of every block's state writes. Once the
// supply chain has written state, the root of its authenticated map (package
// smt) is in it too:
//
//	app hash = SHA-256("carechain/apphash/v3" ‖ log size ‖ log root ‖ state hash ‖ supply root)
//
// and until then the app hash is the v2 one, so chains and blocks from
// before the map hash as they always did.
type AppInfo struct {
	StateHash  []byte `cbor:"1,keyasint" json:"state_hash"`
	LogSize    uint64 `cbor:"2,keyasint" json:"log_size"`
	LogRoot    []byte `cbor:"3,keyasint" json:"log_root"`
	SupplyRoot []byte `cbor:"4,keyasint,omitempty" json:"supply_root,omitempty"`
}

// AppHash computes the app hash of info.
func (i AppInfo) AppHash() []byte {
	h := sha256.New()
	if len(i.SupplyRoot) == 0 {
		h.Write([]byte("carechain/apphash/v2"))
	} else {
		h.Write([]byte("carechain/apphash/v3"))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, i.LogSize))
	h.Write(i.LogRoot)
	h.Write(i.StateHash)
	h.Write(i.SupplyRoot)
	return h.Sum(nil)
}

// Checkpoint binds a log (size, root) to the chain: the app hash after block
// Height is in the header of block Height+1, signed by the validators.
type Checkpoint struct {
	ChainID string  `json:"chain_id"`
	Height  int64   `json:"height"`
	Info    AppInfo `json:"info"`
	// Header is the CometBFT signed header (header and commit) of block Height+1.
	Header json.RawMessage `json:"signed_header"`
	// Validators is the validator set that signed it.
	Validators json.RawMessage `json:"validators"`
	// Transitions lead from the set a verifier trusts to Validators, one
	// validator-set change at a time, oldest first; none if Validators is
	// the trusted set itself.
	Transitions []Transition `json:"transitions,omitempty"`
}

// Bundle proves one log entry.
type Bundle struct {
	Version   int        `json:"version"` // 1
	Leaf      tlog.Leaf  `json:"leaf"`
	LeafIndex uint64     `json:"leaf_index"`
	Content   []byte     `json:"content"` // the state value the leaf commits to (CBOR)
	Inclusion [][]byte   `json:"inclusion"`
	At        Checkpoint `json:"checkpoint"`
}

// Consistency proves that the log of one checkpoint is a prefix of another's.
type Consistency struct {
	Version int        `json:"version"` // 1
	From    Checkpoint `json:"from"`
	To      Checkpoint `json:"to"`
	Proof   [][]byte   `json:"proof"`
}

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("proof does not verify")

func fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Encode writes a bundle (or consistency proof) in the one canonical form
// that Decode accepts.
func Encode(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Decode parses data into v and requires it to be in canonical form, so that
// any change to the file, even one JSON would ignore, fails.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail("not a proof file: %v", err)
	}
	again, err := Encode(v)
	if err != nil {
		return fail("%v", err)
	}
	if !bytes.Equal(again, data) {
		return fail("not in canonical form (the file was changed)")
	}
	return nil
}

// strictCmt decodes CometBFT JSON into v and requires the input to be exactly
// what CometBFT would write for v (whitespace aside): cmtjson ignores unknown
// fields, and a proof must not have parts that nothing checks.
func strictCmt(raw []byte, v any) error {
	if err := cmtjson.Unmarshal(raw, v); err != nil {
		return err
	}
	again, err := cmtjson.Marshal(v)
	if err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return err
	}
	if !bytes.Equal(compact.Bytes(), again) {
		return errors.New("not in canonical form")
	}
	return nil
}

// ParseValidators reads a validator set as written by `carechain validators`.
func ParseValidators(data []byte) (*types.ValidatorSet, error) {
	var vals types.ValidatorSet
	if err := strictCmt(data, &vals); err != nil {
		return nil, fmt.Errorf("validator set: %w", err)
	}
	if len(vals.Validators) == 0 {
		return nil, errors.New("validator set: empty")
	}
	for _, v := range vals.Validators {
		// Priorities rotate and are not hashed: proof files carry them as 0,
		// so that no byte of a file goes unchecked.
		if v.ProposerPriority != 0 {
			return nil, errors.New("validator set: proposer priorities must be 0")
		}
		if err := v.ValidateBasic(); err != nil {
			return nil, fmt.Errorf("validator set: %w", err)
		}
	}
	if vals.Proposer != nil {
		return nil, errors.New("validator set: no proposer expected")
	}
	return &vals, nil
}

// VerifyCheckpoint checks that c is signed by more than two thirds of the
// trusted validator set, or of the set its validator transitions lead to from
// the trusted set, and that its header commits to c.Info.
func VerifyCheckpoint(c Checkpoint, trusted *types.ValidatorSet) error {
	signers, last, err := walkTransitions(c.ChainID, c.Transitions, trusted)
	if err != nil {
		return err
	}
	vals, err := ParseValidators(c.Validators)
	if err != nil {
		return fail("%v", err)
	}
	if !bytes.Equal(vals.Hash(), signers.Hash()) {
		if len(c.Transitions) == 0 {
			return notFromTrusted("checkpoint names validator set %X, not the trusted set %X", vals.Hash(), signers.Hash())
		}
		return fail("checkpoint names validator set %X, not the trusted set %X%s", vals.Hash(), signers.Hash(), reachedBy(c.Transitions))
	}
	sh, err := parseSignedHeader(c.ChainID, c.Header)
	if err != nil {
		return fail("%v", err)
	}
	if sh.Height != c.Height+1 {
		return fail("header is for height %d, checkpoint for %d (the app hash after block h is in header h+1)", sh.Height, c.Height)
	}
	if sh.Height <= last {
		return fail("checkpoint header %d is not after the last validator transition's %d", sh.Height, last)
	}
	if err := verifySignedBy(c.ChainID, sh, signers); err != nil {
		return fail("%v%s", err, reachedBy(c.Transitions))
	}
	if want := c.Info.AppHash(); !bytes.Equal(sh.AppHash, want) {
		return fail("header app hash %X does not commit to log size %d, root %X (want %X)", sh.AppHash, c.Info.LogSize, c.Info.LogRoot, want)
	}
	return nil
}

// Verify checks a bundle against a trusted validator set: the content matches
// the leaf, the leaf is in the log, and the log is in a signed checkpoint.
func Verify(b *Bundle, trusted *types.ValidatorSet) error {
	if b.Version != 1 {
		return fail("unknown bundle version %d", b.Version)
	}
	if !bytes.Equal(tlog.ContentHash(b.Content), b.Leaf.ContentHash) {
		return fail("content does not match the leaf's content hash")
	}
	if b.Leaf.Height > b.At.Height {
		return fail("leaf committed at %d, after the checkpoint at %d", b.Leaf.Height, b.At.Height)
	}
	if err := tlog.VerifyInclusion(b.Leaf, b.LeafIndex, b.At.Info.LogSize, b.Inclusion, b.At.Info.LogRoot); err != nil {
		return fail("inclusion: %v", err)
	}
	return VerifyCheckpoint(b.At, trusted)
}

// VerifyConsistency checks both checkpoints and that the first log is a
// prefix of the second. Two checkpoints with the same log size and different
// roots are a split view: ErrSplitView.
func VerifyConsistency(c *Consistency, trusted *types.ValidatorSet) error {
	if c.Version != 1 {
		return fail("unknown version %d", c.Version)
	}
	for _, cp := range []Checkpoint{c.From, c.To} {
		if err := VerifyCheckpoint(cp, trusted); err != nil {
			return err
		}
	}
	return CheckConsistency(c.From.Info, c.To.Info, c.Proof)
}

// ErrSplitView is returned for two signed logs that cannot both be true.
var ErrSplitView = errors.New("split view: two different logs for the same size")

// CheckConsistency checks that log a is a prefix of log b.
func CheckConsistency(a, b AppInfo, p [][]byte) error {
	if a.LogSize == b.LogSize && !bytes.Equal(a.LogRoot, b.LogRoot) {
		return fmt.Errorf("%w: size %d has roots %X and %X", ErrSplitView, a.LogSize, a.LogRoot, b.LogRoot)
	}
	if a.LogSize > b.LogSize {
		return fail("from-size %d is larger than to-size %d", a.LogSize, b.LogSize)
	}
	if err := tlog.VerifyConsistency(a.LogSize, b.LogSize, p, a.LogRoot, b.LogRoot); err != nil {
		return fmt.Errorf("%w: %v", ErrSplitView, err)
	}
	return nil
}
