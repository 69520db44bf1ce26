package proof

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/cometbft/cometbft/types"
)

// Checkpoints verifies checkpoints against a trusted validator set and
// remembers the last ones that verified, so that a verifier checking many
// bundles made at one checkpoint (a pharmacy scanning a case of units)
// verifies its signatures once. A checkpoint is known again only by every
// byte VerifyCheckpoint reads of it; one that failed is not remembered.
// Safe for concurrent use.
type Checkpoints struct {
	trusted *types.ValidatorSet
	mu      sync.Mutex
	known   map[[32]byte]bool
	order   [][32]byte // oldest first, at most maxKnownCheckpoints
}

// maxKnownCheckpoints bounds what a Checkpoints remembers.
const maxKnownCheckpoints = 64

// NewCheckpoints verifies checkpoints against trusted.
func NewCheckpoints(trusted *types.ValidatorSet) *Checkpoints {
	return &Checkpoints{trusted: trusted, known: map[[32]byte]bool{}}
}

// Verify is VerifyCheckpoint(c, trusted), skipped for a checkpoint that
// verified before.
func (cs *Checkpoints) Verify(c Checkpoint) error {
	key := checkpointKey(c)
	cs.mu.Lock()
	ok := cs.known[key]
	cs.mu.Unlock()
	if ok {
		return nil
	}
	if err := VerifyCheckpoint(c, cs.trusted); err != nil {
		return err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.known[key] {
		if len(cs.order) == maxKnownCheckpoints {
			delete(cs.known, cs.order[0])
			cs.order = cs.order[1:]
		}
		cs.known[key] = true
		cs.order = append(cs.order, key)
	}
	return nil
}

// checkpointKey is the SHA-256 of every field of c, each length-prefixed.
func checkpointKey(c Checkpoint) [32]byte {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte(c.ChainID))
	field(binary.BigEndian.AppendUint64(nil, uint64(c.Height)))
	field(c.Info.StateHash)
	field(binary.BigEndian.AppendUint64(nil, c.Info.LogSize))
	field(c.Info.LogRoot)
	field(c.Info.SupplyRoot)
	field(c.Header)
	field(c.Validators)
	field(binary.BigEndian.AppendUint64(nil, uint64(len(c.Transitions))))
	for _, t := range c.Transitions {
		field(t.Header)
		field(t.Next)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}
