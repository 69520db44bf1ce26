package store

import (
	"bytes"
	"errors"
	"sync"
)

// latestCache keeps what reads of the last committed height found in the
// latest-values table. State at a height never changes, so between two
// commits every read of a key can share one Pebble lookup: a FHIR read
// looks up the caller, the patient and the record several times, and
// CheckTx the signer. Entries belong to one generation of the commits
// counter (even: no commit running); a Commit moves the counter on, which
// empties the cache for the next reader. It is bounded in bytes and keeps
// only small values.
type latestCache struct {
	mu    sync.Mutex
	gen   uint64
	bytes int
	m     map[string][]byte // nil value: the key has no value
}

const (
	// maxLatestCacheBytes bounds the values kept, and maxLatestCachedValue
	// one value: larger ones are read from Pebble each time.
	maxLatestCacheBytes  = 32 << 20
	maxLatestCachedValue = 64 << 10
)

// get returns whether the cache knows key in generation gen and if so a
// copy of its value (ErrNotFound if it has none).
func (c *latestCache) get(gen uint64, key string) (bool, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return false, nil, nil
	}
	v, ok := c.m[key]
	switch {
	case !ok:
		return false, nil, nil
	case v == nil:
		return true, nil, ErrNotFound
	}
	return true, bytes.Clone(v), nil
}

// put keeps what a read of key in generation gen found: its value, or
// ErrNotFound. Other errors are not kept.
func (c *latestCache) put(gen uint64, key string, v []byte, err error) {
	if (err != nil && !errors.Is(err, ErrNotFound)) || len(v) > maxLatestCachedValue {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return // a read of an older generation, finished late
	case gen > c.gen || c.m == nil || c.bytes+len(key)+len(v) > maxLatestCacheBytes:
		c.gen, c.bytes, c.m = gen, 0, make(map[string][]byte)
	}
	if err != nil {
		v = nil
	} else {
		v = append(make([]byte, 0, len(v)), v...) // not nil, even if empty
	}
	c.m[key] = v
	c.bytes += len(key) + len(v)
}
