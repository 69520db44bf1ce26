package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// State key layout. Keys are readable strings; binary parts are hex.
func orgKey(id string) string       { return "org/" + id }
func principalKey(id string) string { return "principal/" + id }
func pubKeyKey(pub []byte) string   { return "pubkey/" + hex.EncodeToString(pub) }
func nonceKey(id string) string     { return "nonce/" + id }
func txKey(hash [32]byte) string    { return "tx/" + hex.EncodeToString(hash[:]) }

// ErrNotFound is returned by queries for something that does not exist at that height.
var ErrNotFound = carechain.NewError(carechain.KindNotFound, "not found")

// reader is a view of state: a block in progress or a committed height.
type reader interface {
	Get(key string) ([]byte, error)
	Scan(prefix string, fn func(key string, val []byte) error) error
}

// heightView reads committed state as of one height.
type heightView struct {
	s      StateReader
	height int64
}

// StateReader is versioned state as a View reads it: *store.Store on a
// node; a client that reads a node's state over its API (nodeapi.State)
// implements it to run the records service's logic on its own device,
// with keys the node never sees. Absent keys are store.ErrNotFound.
type StateReader interface {
	// Get returns key's value as of height.
	Get(key string, height int64) ([]byte, error)
	// GetAt returns the value key was given at exactly height.
	GetAt(key string, height int64) ([]byte, error)
	// Scan calls fn for each key under prefix as of height, in key order.
	Scan(prefix string, height int64, fn func(key string, val []byte) error) error
}

func (v heightView) Get(key string) ([]byte, error) { return v.s.Get(key, v.height) }

func (v heightView) Scan(prefix string, fn func(key string, val []byte) error) error {
	return v.s.Scan(prefix, v.height, fn)
}

// scanValues decodes every value under prefix, in key order.
func scanValues[T any](r reader, prefix string) ([]T, error) {
	var out []T
	err := r.Scan(prefix, func(_ string, v []byte) error {
		var x T
		if err := unmarshalState(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// scanKeys calls fn with each key under prefix, in key order.
func scanKeys(r reader, prefix string, fn func(key string)) error {
	return r.Scan(prefix, func(k string, _ []byte) error { fn(k); return nil })
}

// getCBOR reads key into v; ErrNotFound if it is absent.
func getCBOR(r reader, key string, v any) error {
	b, err := r.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := tx.UnmarshalState(b, v); err != nil { // state is the ledger's own canonical CBOR
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func setCBOR(b *store.Block, key string, v any) error {
	_, err := setEncoded(b, key, v)
	return err
}

func setEncoded(b *store.Block, key string, v any) ([]byte, error) {
	enc, err := tx.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return enc, b.Set(key, enc)
}

// setLogged writes v under key and appends a log leaf (kind, logKey) committing to it.
func setLogged(b *store.Block, key string, v any, kind, logKey string) error {
	enc, err := setEncoded(b, key, v)
	if err != nil {
		return err
	}
	return logLeaf(b, kind, logKey, key, enc)
}

// identityLogKey names an identity change in the log.
func identityLogKey(id string, height int64) string { return fmt.Sprintf("%s@%d", id, height) }

func getPrincipal(r reader, id string) (*carechain.Principal, error) {
	var p carechain.Principal
	if err := getCBOR(r, principalKey(id), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func getOrg(r reader, id string) (*carechain.Organization, error) {
	var o carechain.Organization
	if err := getCBOR(r, orgKey(id), &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func getNonce(r reader, id string) (uint64, error) {
	b, err := r.Get(nonceKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read nonce of %s: %w", id, err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("nonce of %s is %d bytes: corrupted", id, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func setNonce(b *store.Block, id string, n uint64) error {
	return b.Set(nonceKey(id), binary.BigEndian.AppendUint64(nil, n))
}

// keyInUse reports whether pub was ever registered. Keys are never reused, not
// even after revocation, so a signature always names one principal.
func keyInUse(r reader, pub []byte) (bool, error) {
	_, err := r.Get(pubKeyKey(pub))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// TxStatus is what the ledger remembers of a committed transaction.
type TxStatus struct {
	Height int64  `cbor:"1,keyasint" json:"height"`
	Type   string `cbor:"2,keyasint" json:"type"`
	Signer string `cbor:"3,keyasint" json:"signer"`
}

func unmarshalState(b []byte, v any) error {
	if err := tx.UnmarshalState(b, v); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	return nil
}
