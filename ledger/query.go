package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
)

// Queries read committed state. height 0 means the last committed height; a
// height above it is an error (store.ErrFutureHeight).

// Height returns the last committed height.
func (a *App) Height() (int64, error) {
	c, err := a.store.LastCommit()
	return c.Height, err
}

// LastCommit returns the last committed height and app hash.
func (a *App) LastCommit() (store.Commit, error) { return a.store.LastCommit() }

// AppHash returns the app hash committed at height.
func (a *App) AppHash(height int64) ([]byte, error) { return a.store.AppHash(height) }

func (a *App) view(height int64) (heightView, error) {
	last, err := a.store.LastCommit()
	if err != nil {
		return heightView{}, err
	}
	if height == 0 {
		height = last.Height
	}
	if height < 0 || height > last.Height {
		return heightView{}, fmt.Errorf("%w: asked for %d, last committed %d", store.ErrFutureHeight, height, last.Height)
	}
	return heightView{s: a.store, height: height}, nil
}

// Principal returns a principal as of height.
func (a *App) Principal(id string, height int64) (*carechain.Principal, error) {
	v, err := a.view(height)
	if err != nil {
		return nil, err
	}
	p, err := getPrincipal(v, id)
	if err != nil {
		return nil, fmt.Errorf("principal %q at height %d: %w", id, v.height, err)
	}
	return p, nil
}

// Principals lists principals as of height, by ID. A non-empty org keeps only its members.
func (a *App) Principals(org string, height int64) ([]carechain.Principal, error) {
	var out []carechain.Principal
	err := a.scan(principalKey(""), height, func(v []byte) error {
		var p carechain.Principal
		if err := unmarshalState(v, &p); err != nil {
			return err
		}
		if org == "" || p.Org == org {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Organizations lists organizations as of height, by ID.
func (a *App) Organizations(height int64) ([]carechain.Organization, error) {
	var out []carechain.Organization
	err := a.scan(orgKey(""), height, func(v []byte) error {
		var o carechain.Organization
		if err := unmarshalState(v, &o); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// NextNonce returns the lowest nonce a new transaction of signer may use, as of the last commit.
func (a *App) NextNonce(signer string) (uint64, error) {
	v, err := a.view(0)
	if err != nil {
		return 0, err
	}
	n, err := getNonce(v, signer)
	return n + 1, err
}

// Tx returns what the ledger recorded of a committed, accepted transaction.
func (a *App) Tx(hash [32]byte) (*TxStatus, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	var st TxStatus
	if err := getCBOR(v, txKey(hash), &st); err != nil {
		return nil, fmt.Errorf("tx %X: %w", hash, err)
	}
	return &st, nil
}

func (a *App) scan(prefix string, height int64, fn func(v []byte) error) error {
	v, err := a.view(height)
	if err != nil {
		return err
	}
	return a.store.Scan(prefix, v.height, func(key string, val []byte) error {
		if !strings.HasPrefix(key, prefix) {
			return errors.New("scan out of range")
		}
		return fn(val)
	})
}
