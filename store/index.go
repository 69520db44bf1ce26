package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// IndexTokenSize is the size of an Index token (an HMAC-SHA256).
const IndexTokenSize = 32

// MaxIndexMemberBytes bounds one member of an Index.
const MaxIndexMemberBytes = 1 << 10

const (
	indexTokenPrefix  = 't' // t | token | member → "": the members of a token
	indexMemberPrefix = 'm' // m | member | token → "": a member's tokens
	indexHeightKey    = 'h' // h → uint64: the height the index follows the chain through
	indexFormatKey    = 'f' // f → uint64: the format of its entries, as its owner numbers them
)

// Index is a node-local set index: opaque fixed-size tokens, each mapped to
// a set of opaque members, in its own Pebble database.
//
// The records service keeps its blind search index here (tokens are keyed
// hashes of search values, members name records). Like the Queue it is
// node-local, not consensus state: its writes are in no block or app hash.
// It stores what it is given and nothing else, so a caller that gives it no
// plaintext leaves none on disk.
type Index struct {
	db *pebble.DB
	mu sync.Mutex // serializes Replace, so a member's two key sets agree
}

// OpenIndex opens (creating) the index in dir.
func OpenIndex(dir string) (*Index, error) {
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{slog.Default().With("component", "pebble", "db", "index")},
	})
	if err != nil {
		return nil, fmt.Errorf("open index db %s: %w", dir, err)
	}
	return &Index{db: db}, nil
}

// Close closes the database.
func (x *Index) Close() error { return x.db.Close() }

func memberPrefix(member []byte) []byte { return append([]byte{indexMemberPrefix}, member...) }

// memberOf splits a member key into its member and token.
func memberOf(key []byte) (member, token []byte) {
	return key[1 : len(key)-IndexTokenSize], key[len(key)-IndexTokenSize:]
}

func tokenKey(token, member []byte) []byte {
	k := append([]byte{indexTokenPrefix}, token...)
	return append(k, member...)
}

// Replace makes tokens the tokens of member, removing those it had before
// (none: member leaves the index). It is synced when it returns nil.
func (x *Index) Replace(member []byte, tokens [][]byte) error {
	if len(member) == 0 || len(member) > MaxIndexMemberBytes {
		return fmt.Errorf("index member of %d bytes: want 1 to %d", len(member), MaxIndexMemberBytes)
	}
	for _, t := range tokens {
		if len(t) != IndexTokenSize {
			return fmt.Errorf("index token of %d bytes: want %d", len(t), IndexTokenSize)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	b := x.db.NewBatch()
	defer b.Close()
	if err := x.remove(b, member, func(m []byte) bool { return bytes.Equal(m, member) }); err != nil {
		return err
	}
	for _, t := range tokens {
		if err := b.Set(append(memberPrefix(member), t...), nil, nil); err != nil {
			return err
		}
		if err := b.Set(tokenKey(t, member), nil, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// RemovePrefix removes every member starting with prefix, and its tokens.
func (x *Index) RemovePrefix(prefix []byte) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	b := x.db.NewBatch()
	defer b.Close()
	if err := x.remove(b, prefix, func([]byte) bool { return true }); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// remove adds to b the removal of the members starting with prefix that
// keep selects.
func (x *Index) remove(b *pebble.Batch, prefix []byte, keep func(member []byte) bool) error {
	keys, err := x.keysUnder(memberPrefix(prefix))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if len(k) <= 1+IndexTokenSize {
			return fmt.Errorf("malformed index key %x", k)
		}
		member, token := memberOf(k)
		if !keep(member) {
			continue
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		if err := b.Delete(tokenKey(token, member), nil); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the members of token, in byte order, at most limit of
// them (limit+1 tells a caller there were more).
func (x *Index) Lookup(token []byte, limit int) ([][]byte, error) {
	if len(token) != IndexTokenSize {
		return nil, fmt.Errorf("index token of %d bytes: want %d", len(token), IndexTokenSize)
	}
	keys, err := x.keysUnder(tokenKey(token, nil), limit)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = k[1+IndexTokenSize:]
	}
	return out, nil
}

// keysUnder returns the keys starting with prefix, at most limit[0] if given.
func (x *Index) keysUnder(prefix []byte, limit ...int) ([][]byte, error) {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		if len(limit) > 0 && len(out) >= limit[0] {
			break
		}
		out = append(out, bytes.Clone(it.Key()))
	}
	return out, it.Error()
}

// prefixEnd is the least key greater than every key starting with prefix
// (nil: none, when prefix is all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Empty reports whether the index holds no token.
func (x *Index) Empty() (bool, error) {
	keys, err := x.keysUnder([]byte{indexTokenPrefix}, 1)
	return len(keys) == 0, err
}

// Height returns the height its owner said the index follows the chain
// through (SetHeight); 0 if it never said.
func (x *Index) Height() (int64, error) { return x.getCounter(indexHeightKey, "height") }

// SetHeight records that the index follows the chain through height h. It
// is synced when it returns nil.
func (x *Index) SetHeight(h int64) error { return x.setCounter(indexHeightKey, "height", h) }

// Format returns the format its owner said the index's entries have
// (SetFormat); 0 if it never said.
func (x *Index) Format() (int64, error) { return x.getCounter(indexFormatKey, "format") }

// SetFormat records the format of the index's entries. It is synced when
// it returns nil.
func (x *Index) SetFormat(f int64) error { return x.setCounter(indexFormatKey, "format", f) }

// getCounter reads the counter at key (0 if absent).
func (x *Index) getCounter(key byte, name string) (int64, error) {
	v, closer, err := x.db.Get([]byte{key})
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index %s: %w", name, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("index %s: %d bytes, want 8", name, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// setCounter sets the counter at key to n, synced.
func (x *Index) setCounter(key byte, name string, n int64) error {
	if n < 0 {
		return fmt.Errorf("index %s %d: want ≥ 0", name, n)
	}
	return x.db.Set([]byte{key}, binary.BigEndian.AppendUint64(nil, uint64(n)), pebble.Sync)
}
