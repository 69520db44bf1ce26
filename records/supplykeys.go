package records

import (
	"bytes"
	"crypto/sha256"
	"sync"
)

// productKeyCache holds product keys the node opened for its
// organizations. Opening one (HPKE with ML-KEM and X25519) costs more than
// the rest of a verification, and a pharmacy verifies many units of few
// products. An entry is found by the organization, the GTIN and a hash of
// the wrap it was opened from, so a different wrap is opened anew. The keys
// stay in memory only, as the epoch keys do; the cache is emptied when it
// reaches maxProductKeys entries.
type productKeyCache struct {
	mu   sync.Mutex
	keys map[productKeyRef][]byte
}

type productKeyRef struct {
	org, gtin string
	wrap      [sha256.Size]byte
}

// maxProductKeys bounds the cache.
const maxProductKeys = 4096

// get returns a copy of the key opened from wrap for org (nil: none): the
// caller may clear it.
func (c *productKeyCache) get(org, gtin string, wrap []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[productKeyRef{org, gtin, sha256.Sum256(wrap)}]
	if !ok {
		return nil
	}
	return bytes.Clone(k)
}

// put keeps a copy of key k opened from wrap for org.
func (c *productKeyCache) put(org, gtin string, wrap, k []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxProductKeys {
		c.keys = make(map[productKeyRef][]byte)
	}
	c.keys[productKeyRef{org, gtin, sha256.Sum256(wrap)}] = bytes.Clone(k)
}
