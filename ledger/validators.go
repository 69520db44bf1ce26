package ledger

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	abci "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// The validator set as the ledger records it. validator/<key> holds each
// validator with power above 0; validator-update/<height>/<key> holds the
// changes the block at height returned to CometBFT (power 0: removed), the
// set's history. A chain whose genesis records its validators
// (Genesis.ValidatorSet) knows the whole set; an older chain knows only the
// validators added by vote. The ledger only ever returns updates of keys it
// recorded, and never one that leaves no validator with power above 0:
// CometBFT refuses to remove a validator it does not know, and halts on an
// empty set.

// Validator is a validator the ledger recorded: its key and power, the
// node principal that runs it ("" for a genesis validator no genesis node
// names), and the governance proposal ("" at genesis) and height of its
// last change.
type Validator struct {
	PublicKey ed25519.PublicKey `cbor:"1,keyasint" json:"public_key"`
	Power     int64             `cbor:"2,keyasint" json:"power"`
	Node      string            `cbor:"3,keyasint" json:"node"`
	Proposal  string            `cbor:"4,keyasint" json:"proposal"`
	Height    int64             `cbor:"5,keyasint" json:"height"` // of the block whose response carried the update
}

// validatorKey holds the validator with key pub, which is never given to
// another validator.
func validatorKey(pub []byte) string { return "validator/" + hex.EncodeToString(pub) }

const validatorUpdatesPrefix = "validator-update/"

// validatorUpdatePrefix holds the validator updates of the block at height,
// the validator set's history.
func validatorUpdatePrefix(height int64) string {
	return fmt.Sprintf("%s%020d/", validatorUpdatesPrefix, height)
}

// putValidator records v as the change of the block in progress: in the set
// if its power is above 0, out of it if 0.
func putValidator(b *store.Block, v Validator) error {
	if v.Power > 0 {
		if err := setCBOR(b, validatorKey(v.PublicKey), v); err != nil {
			return err
		}
	} else if err := b.Delete(validatorKey(v.PublicKey)); err != nil {
		return fmt.Errorf("remove validator %X: %w", v.PublicKey, err)
	}
	return setCBOR(b, validatorUpdatePrefix(b.Height())+hex.EncodeToString(v.PublicKey), v)
}

// getValidator returns the recorded validator with key pub; ErrNotFound if
// it is not in the set.
func getValidator(r reader, pub []byte) (*Validator, error) {
	var v Validator
	if err := getCBOR(r, validatorKey(pub), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// validators lists the recorded set, in key order.
func validators(r reader) ([]Validator, error) {
	return scanValues[Validator](r, "validator/")
}

// keyEverValidated reports whether pub was ever a recorded validator's key:
// a key is never given to another node.
func keyEverValidated(r reader, pub []byte) (bool, error) {
	found := false
	suffix := "/" + hex.EncodeToString(pub)
	err := r.Scan(validatorUpdatesPrefix, func(k string, _ []byte) error {
		if len(k) > len(suffix) && k[len(k)-len(suffix):] == suffix {
			found = true
		}
		return nil
	})
	return found, err
}

// setValidator records v's new power as proposal's change in the block in
// progress. A validator added earlier in the same block and removed again
// leaves no update: CometBFT never heard of it, and refuses to remove a
// validator it does not know.
func (a *App) setValidator(b *store.Block, v Validator, proposal string) error {
	v.Proposal, v.Height = proposal, b.Height()
	if v.Power == 0 {
		_, err := a.store.Get(validatorKey(v.PublicKey), b.Height()-1)
		if errors.Is(err, store.ErrNotFound) {
			if err := b.Delete(validatorKey(v.PublicKey)); err != nil {
				return fmt.Errorf("remove validator %X: %w", v.PublicKey, err)
			}
			return b.Delete(validatorUpdatePrefix(b.Height()) + hex.EncodeToString(v.PublicKey))
		} else if err != nil {
			return fmt.Errorf("validator %X before block %d: %w", v.PublicKey, b.Height(), err)
		}
	}
	return putValidator(b, v)
}

// checkValidatorChange judges a proposed validator change against the set
// in b and returns the validator as it will be.
func (a *App) checkValidatorChange(b *store.Block, c *tx.ValidatorChange) (*Validator, *Rejection) {
	vs, err := validators(b)
	if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	var next *Validator
	var others int64
	for _, v := range vs {
		if v.PublicKey.Equal(c.PublicKey) {
			next = &v
		} else {
			others += v.Power
		}
	}
	switch {
	case next == nil && c.Power == 0:
		return nil, reject(CodeInvalid, "validator %X is not in the recorded validator set", []byte(c.PublicKey))
	case next == nil:
		if rej := a.checkNewValidator(b, c); rej != nil {
			return nil, rej
		}
		next = &Validator{PublicKey: c.PublicKey, Node: c.Node}
	case c.Node != "" && c.Node != next.Node:
		return nil, reject(CodeInvalid, "validator %X is run by %q, not %q", []byte(c.PublicKey), next.Node, c.Node)
	case c.Power == next.Power:
		return nil, reject(CodeInvalid, "validator %X already has power %d", []byte(c.PublicKey), c.Power)
	}
	if others+c.Power == 0 {
		return nil, reject(CodeInvalid, "the change would leave the chain without validators")
	}
	next.Power = c.Power
	return next, nil
}

// checkNewValidator checks a new validator's proof, node and key.
func (a *App) checkNewValidator(b *store.Block, c *tx.ValidatorChange) *Rejection {
	if c.Node == "" || len(c.Proof) == 0 {
		return reject(CodeInvalid, "a new validator needs its node principal and its key's proof of possession")
	}
	if !tx.VerifySignature(c.PublicKey, tx.ValidatorMessage(a.chainID, c.Node, c.PublicKey, c.Power), c.Proof) {
		return reject(CodeBadSignature, "the validator key's proof of possession does not verify")
	}
	node, err := getPrincipal(b, c.Node)
	if errors.Is(err, ErrNotFound) || (err == nil && (node.Kind != carechain.KindNode || node.Status != carechain.StatusActive)) {
		return reject(CodeInvalid, "%q is not an active node principal", c.Node)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if _, removed, err := orgRemoved(b, node.Org); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if removed {
		return reject(CodeInvalid, "%s is not a member organization", node.Org)
	}
	if used, err := keyEverValidated(b, c.PublicKey); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if used {
		return reject(CodeConflict, "validator key is already in use (validator keys are never reused)")
	}
	return nil
}

// changeValidator carries out p, a validator change (checked).
func (a *App) changeValidator(b *store.Block, p *GovProposal) *Rejection {
	v, rej := a.checkValidatorChange(b, p.Validator)
	if rej != nil {
		return rej
	}
	if err := a.setValidator(b, *v, p.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// validatorChanges lists the validator changes of the block at height, in
// key order (so deterministic, and one per key, as CometBFT requires).
func validatorChanges(r reader, height int64) ([]Validator, error) {
	return scanValues[Validator](r, validatorUpdatePrefix(height))
}

// validatorUpdates are the updates FinalizeBlock returns for block b.
func validatorUpdates(b *store.Block) ([]abci.ValidatorUpdate, error) {
	vs, err := validatorChanges(b, b.Height())
	if err != nil {
		return nil, fmt.Errorf("validator updates of block %d: %w", b.Height(), err)
	}
	var out []abci.ValidatorUpdate
	for _, v := range vs {
		out = append(out, abci.ValidatorUpdate{Power: v.Power, PubKeyType: cmted25519.KeyType, PubKeyBytes: v.PublicKey})
	}
	return out, nil
}

// ValidatorChanges returns the validator changes the block at height made
// (returned from its FinalizeBlock; in force from height+2). Those of the
// genesis height are the recorded genesis validators.
func (v *View) ValidatorChanges(height int64) ([]Validator, error) {
	vs, err := validatorChanges(v, height)
	if err != nil {
		return nil, fmt.Errorf("validator changes of block %d: %w", height, err)
	}
	return vs, nil
}

// ValidatorHistory returns the validator changes of the blocks from height
// from to height to, both included, by height then key.
func (v *View) ValidatorHistory(from, to int64) ([]Validator, error) {
	var out []Validator
	first, last := validatorUpdatePrefix(from), validatorUpdatePrefix(to)
	err := v.Scan(validatorUpdatesPrefix, func(k string, val []byte) error {
		if k < first || k[:len(last)] > last {
			return nil
		}
		var x Validator
		if err := unmarshalState(val, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("validator history %d to %d: %w", from, to, err)
	}
	return out, nil
}

// Validators returns the validator set the ledger recorded, in key order:
// on a chain whose genesis did not record its validators, only those added
// by vote.
func (v *View) Validators() ([]Validator, error) {
	vs, err := validators(v)
	if err != nil {
		return nil, fmt.Errorf("validators at height %d: %w", v.height, err)
	}
	return vs, nil
}
