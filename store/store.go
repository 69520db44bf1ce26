// Package store keeps carechain's application state in Pebble.
//
// State is versioned by block height: every write of a block is stored under
// the key and the height, so any committed height can be read back (Get with a
// height). The latest value of each key is also kept on its own, so reads of
// current state, the hot path, are plain point lookups. A block's writes are
// collected in a Block and reach disk in one synced Pebble batch together with
// the commit metadata (height and app hash), so a crash leaves either the whole
// block or none of it.
//
// Keys are strings without NUL bytes; the caller owns their layout.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain"

	"github.com/cockroachdb/pebble/v2"
)

// ErrNotFound is returned when a key has no value at the requested height.
var ErrNotFound = carechain.NewError(carechain.KindNotFound, "not found")

// ErrFutureHeight is returned when reading a height that is not committed yet.
var ErrFutureHeight = carechain.NewError(carechain.KindMalformed, "height not committed yet")

// cacheBytes sizes Pebble's block cache.
const cacheBytes = 64 << 20

const (
	statePrefix  = 's' // versioned: s | key | 0 | ^height
	latestPrefix = 'l' // current:   l | key
	metaKey      = "m/commit"
	valueTag     = 1
	deleteTag    = 0
)

// Store is the application state database.
type Store struct {
	db   *pebble.DB
	last atomic.Pointer[Commit] // cached commit metadata
	// commits counts the starts and ends of Commit (odd while one runs):
	// GetAt reads the latest-values table for the last height only when
	// no commit ran meanwhile, as one writes that table before last moves.
	commits   atomic.Uint64
	cache     latestCache // of the latest-values table, per generation of commits
	closeOnce sync.Once
	closeErr  error
	dir       string
	readOnly  bool // opened by OpenReadOnly: Close writes nothing
	// Reads can outlive the node that started them (CometBFT's peer filter
	// queries the app from goroutines it does not wait for), and Pebble
	// panics when used after Close. So every use enters first: Close waits
	// for those in flight, and later ones get ErrClosed.
	closed   atomic.Bool
	inflight atomic.Int64
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = carechain.NewError(carechain.KindUnavailable, "state store is closed")

// enter marks a use of the database; false after Close. Each true is
// followed by leave.
func (s *Store) enter() bool {
	s.inflight.Add(1)
	if s.closed.Load() {
		s.inflight.Add(-1)
		return false
	}
	return true
}

func (s *Store) leave() { s.inflight.Add(-1) }

// Close flushes the memtable to sorted tables (unless the store is read-only)
// and closes the database.
// Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		for s.inflight.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
		if !s.readOnly {
			s.closeErr = s.db.Flush()
		}
		if err := s.db.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// Commit is the metadata of the last committed block.
type Commit struct {
	Height  int64
	AppHash []byte
}

// LastCommit returns the last committed height and app hash; zero values on a new store.
func (s *Store) LastCommit() (Commit, error) {
	c := s.last.Load()
	return Commit{Height: c.Height, AppHash: bytes.Clone(c.AppHash)}, nil
}

// LastHeight returns the last committed height (kept in memory).
func (s *Store) LastHeight() int64 { return s.last.Load().Height }

func (s *Store) readLastCommit() (Commit, error) {
	v, closer, err := s.db.Get([]byte(metaKey))
	if errors.Is(err, pebble.ErrNotFound) {
		return Commit{}, nil
	}
	if err != nil {
		return Commit{}, fmt.Errorf("read commit metadata: %w", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return Commit{}, fmt.Errorf("commit metadata is %d bytes: corrupted", len(v))
	}
	return Commit{Height: int64(binary.BigEndian.Uint64(v)), AppHash: bytes.Clone(v[8:])}, nil
}

func appHashKey(height int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("m/apphash/"), uint64(height))
}

func infoKey(height int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("m/info/"), uint64(height))
}

// Info returns the commit info stored with the block at height.
func (s *Store) Info(height int64) ([]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	v, closer, err := s.db.Get(infoKey(height))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("commit info at %d: %w", height, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// AppHash returns the app hash committed at height.
func (s *Store) AppHash(height int64) ([]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	v, closer, err := s.db.Get(appHashKey(height))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("app hash at %d: %w", height, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// stateKey is statePrefix | key | 0x00 | ^height (big endian), so that the
// versions of a key sort newest first and a seek for (key, h) lands on the
// newest version at or below h.
func stateKey(key string, height int64) []byte {
	b := make([]byte, 0, len(key)+10)
	b = append(b, statePrefix)
	b = append(b, key...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, ^uint64(height))
}

// keyEnd sorts after every version of key and before any longer key.
func keyEnd(key string) []byte {
	return append(append([]byte{statePrefix}, key...), 1)
}

func splitStateKey(k []byte) (key string, height int64, ok bool) {
	if len(k) < 10 || k[0] != statePrefix || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[1 : len(k)-9]), int64(^binary.BigEndian.Uint64(k[len(k)-8:])), true
}

func checkKey(key string) error {
	if key == "" || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("invalid state key %q", key)
	}
	return nil
}

// Get returns the value of key as of height (0 means the last committed height).
func (s *Store) Get(key string, height int64) ([]byte, error) {
	h, err := s.resolve(height)
	if err != nil {
		return nil, err
	}
	return s.GetAt(key, h)
}

// GetAt returns the value of key as of exactly height (0 is the genesis
// state, not the latest).
func (s *Store) GetAt(key string, h int64) ([]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if h < 0 || h > s.last.Load().Height {
		return nil, fmt.Errorf("%w: asked for %d", ErrFutureHeight, h)
	}
	if gen := s.commits.Load(); gen%2 == 0 && h == s.last.Load().Height {
		if ok, v, err := s.cache.get(gen, key); ok {
			return v, err
		}
		v, err := s.getLatest(key)
		if s.commits.Load() == gen { // no block was written meanwhile: the table held h's values
			s.cache.put(gen, key, v, err)
			return v, err
		}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{UpperBound: keyEnd(key)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.SeekGE(stateKey(key, h)) {
		return nil, ErrNotFound
	}
	return decodeValue(it)
}

func (s *Store) getLatest(key string) ([]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	v, closer, err := s.db.Get(latestKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer closer.Close()
	return decodeStored(key, v)
}

func decodeValue(it *pebble.Iterator) ([]byte, error) {
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, err
	}
	return decodeStored(string(it.Key()), v)
}

// decodeStored unwraps a stored value: a tag byte, then the value.
func decodeStored(key string, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("empty state value at %q: corrupted", key)
	}
	if v[0] == deleteTag {
		return nil, ErrNotFound
	}
	return bytes.Clone(v[1:]), nil
}

func latestKey(key string) []byte { return append([]byte{latestPrefix}, key...) }

func (s *Store) resolve(height int64) (int64, error) {
	last := s.last.Load()
	if height == 0 {
		return last.Height, nil
	}
	if height < 0 || height > last.Height {
		return 0, fmt.Errorf("%w: asked for %d, last committed %d", ErrFutureHeight, height, last.Height)
	}
	return height, nil
}

// Scan calls fn for each key with the given prefix that has a value at height
// (0 means latest), in key order. fn must not keep val.
func (s *Store) Scan(prefix string, height int64, fn func(key string, val []byte) error) error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()
	h, err := s.resolve(height)
	if err != nil {
		return err
	}
	lower := append([]byte{statePrefix}, prefix...)
	upper := append([]byte{statePrefix}, prefix...)
	upper = append(upper, 0xff)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; {
		key, _, ok := splitStateKey(it.Key())
		if !ok {
			return fmt.Errorf("malformed state key %x", it.Key())
		}
		if it.SeekGE(stateKey(key, h)) {
			if k, _, _ := splitStateKey(it.Key()); k == key {
				v, err := decodeValue(it)
				switch {
				case err == nil:
					if err := fn(key, v); err != nil {
						return err
					}
				case !errors.Is(err, ErrNotFound):
					return err
				}
			}
		}
		// Skip the remaining (older) versions of key.
		valid = it.SeekGE(keyEnd(key))
	}
	return nil
}

// Block collects the writes of one block. It is not safe for concurrent use.
//
// A Block can have a child (Child) whose writes reach the parent only on
// Merge, so one transaction's writes can be dropped when it is rejected.
type Block struct {
	store  *Store
	parent *Block
	height int64
	writes map[string][]byte // nil value: delete
	// tops lists the keys of writes by their first segment (see top), so
	// that Scan looks only at the writes that can match its prefix: a
	// block of many transactions, each of which scans, would otherwise
	// scan in time of all the block wrote, and take time quadratic in
	// its transactions.
	tops map[string][]string
}

// top is key's first segment, up to and including its first '/' (all of
// it if it has none). Every key under a prefix that holds a '/' has the
// prefix's top.
func top(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i+1]
	}
	return key
}

// write records key = val (nil: deleted) in b.writes and b.tops.
func (b *Block) write(key string, val []byte) {
	if _, ok := b.writes[key]; !ok {
		t := top(key)
		b.tops[t] = append(b.tops[t], key)
	}
	b.writes[key] = val
}

// Child starts a nested set of writes on top of b.
func (b *Block) Child() *Block {
	return &Block{store: b.store, parent: b, height: b.height, writes: make(map[string][]byte), tops: make(map[string][]string)}
}

// Merge applies the child's writes to its parent.
func (b *Block) Merge() {
	for k, v := range b.writes {
		b.parent.write(k, v)
	}
	clear(b.writes)
	clear(b.tops)
}

// NewBlock starts collecting the writes of the block at height.
func (s *Store) NewBlock(height int64) *Block {
	return &Block{store: s, height: height, writes: make(map[string][]byte), tops: make(map[string][]string)}
}

// Len is the number of keys the block writes.
func (b *Block) Len() int { return len(b.writes) }

// Height is the height the block writes at.
func (b *Block) Height() int64 { return b.height }

// Written returns the keys under prefix the block writes or deletes, in
// key order.
func (b *Block) Written(prefix string) []string {
	var keys []string
	for k := range b.writes {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Set records key = val in the block.
func (b *Block) Set(key string, val []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b.write(key, append([]byte{}, val...)) // never nil: nil means deleted
	return nil
}

// Delete records the deletion of key in the block.
func (b *Block) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b.write(key, nil)
	return nil
}

// Get reads key as the block sees it: its own writes first, then the last committed state.
func (b *Block) Get(key string) ([]byte, error) {
	if v, ok := b.writes[key]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return bytes.Clone(v), nil
	}
	if b.parent != nil {
		return b.parent.Get(key)
	}
	return b.store.Get(key, 0)
}

// Scan calls fn, in key order, for each key with the given prefix as the
// block sees it: its own writes (and its parents') over the last committed state.
func (b *Block) Scan(prefix string, fn func(key string, val []byte) error) error {
	merged := map[string][]byte{}
	if err := b.store.Scan(prefix, 0, func(k string, v []byte) error {
		merged[k] = bytes.Clone(v)
		return nil
	}); err != nil {
		return err
	}
	var chain []*Block
	for x := b; x != nil; x = x.parent {
		chain = append(chain, x)
	}
	for i := len(chain) - 1; i >= 0; i-- { // oldest first, so the newest write wins
		chain[i].eachWrite(prefix, func(k string, v []byte) { merged[k] = v })
	}
	keys := make([]string, 0, len(merged))
	for k, v := range merged {
		if v != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, merged[k]); err != nil {
			return err
		}
	}
	return nil
}

// eachWrite calls fn with each of b's own writes under prefix, in no order.
func (b *Block) eachWrite(prefix string, fn func(key string, val []byte)) {
	if strings.IndexByte(prefix, '/') < 0 {
		for k, v := range b.writes {
			if strings.HasPrefix(k, prefix) {
				fn(k, v)
			}
		}
		return
	}
	for _, k := range b.tops[top(prefix)] {
		if strings.HasPrefix(k, prefix) {
			fn(k, b.writes[k])
		}
	}
}

// Hash is SHA-256 over the block's writes in key order. Same writes, same hash.
func (b *Block) Hash() []byte {
	h := sha256.New()
	for _, k := range b.sortedKeys() {
		v := b.writes[k]
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		if v == nil {
			h.Write([]byte{deleteTag})
			continue
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write([]byte{valueTag})
		h.Write(n[:])
		h.Write(v)
	}
	return h.Sum(nil)
}

func (b *Block) sortedKeys() []string {
	keys := make([]string, 0, len(b.writes))
	for k := range b.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Commit writes the block, its app hash and the app's commit info (what the
// app hash was computed from) atomically and durably.
func (s *Store) Commit(b *Block, appHash, info []byte) error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()
	last := s.last.Load()
	if b.height <= last.Height && !(b.height == 0 && last.Height == 0) {
		return fmt.Errorf("commit height %d: already at %d", b.height, last.Height)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	for _, k := range b.sortedKeys() {
		v := b.writes[k]
		enc := []byte{deleteTag}
		if v != nil {
			enc = append([]byte{valueTag}, v...)
		}
		if err := batch.Set(stateKey(k, b.height), enc, nil); err != nil {
			return err
		}
		if err := batch.Set(latestKey(k), enc, nil); err != nil {
			return err
		}
	}
	meta := binary.BigEndian.AppendUint64(nil, uint64(b.height))
	meta = append(meta, appHash...)
	if err := batch.Set([]byte(metaKey), meta, nil); err != nil {
		return err
	}
	if err := batch.Set(appHashKey(b.height), appHash, nil); err != nil {
		return err
	}
	if err := batch.Set(infoKey(b.height), info, nil); err != nil {
		return err
	}
	s.commits.Add(1) // odd: the latest-values table may be ahead of last
	defer s.commits.Add(1)
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("commit block %d: %w", b.height, err)
	}
	s.last.Store(&Commit{Height: b.height, AppHash: bytes.Clone(appHash)})
	return nil
}
