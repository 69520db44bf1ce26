package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/cockroachdb/pebble/v2"
)

// WriteHashes re-derives, from the stored versions, the hash of every block's
// state writes (the same value Block.Hash gave when the block was committed),
// and checks that the latest-value keyspace agrees with the newest versions.
// It reads every key once; errors name the key.
func (s *Store) WriteHashes() (map[int64][]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	return s.writeHashes()
}

func (s *Store) writeHashes() (map[int64][]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{statePrefix}, UpperBound: []byte{statePrefix + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	hashers := map[int64]hash.Hash{}
	prevKey := ""
	for valid := it.First(); valid; valid = it.Next() {
		key, height, ok := splitStateKey(it.Key())
		if !ok {
			return nil, fmt.Errorf("state: malformed key %x", it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("state: read %q at %d: %w", key, height, err)
		}
		if len(v) == 0 || (v[0] != valueTag && v[0] != deleteTag) || (v[0] == deleteTag && len(v) != 1) {
			return nil, fmt.Errorf("state: value of %q at height %d is malformed", key, height)
		}
		if key != prevKey {
			// The first version of a key is its newest: the latest keyspace must hold it.
			latest, closer, err := s.db.Get(latestKey(key))
			if err != nil {
				return nil, fmt.Errorf("state: latest value of %q: %w", key, err)
			}
			same := bytes.Equal(latest, v)
			closer.Close()
			if !same {
				return nil, fmt.Errorf("state: latest value of %q differs from its version at height %d", key, height)
			}
			prevKey = key
		}
		h := hashers[height]
		if h == nil {
			h = sha256.New()
			hashers[height] = h
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(key)))
		h.Write(n[:])
		h.Write([]byte(key))
		if v[0] == deleteTag {
			h.Write([]byte{deleteTag})
			continue
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(v)-1))
		h.Write([]byte{valueTag})
		h.Write(n[:])
		h.Write(v[1:])
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	// Every latest key must have versions.
	lit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{latestPrefix}, UpperBound: []byte{latestPrefix + 1}})
	if err != nil {
		return nil, err
	}
	defer lit.Close()
	for valid := lit.First(); valid; valid = lit.Next() {
		key := string(lit.Key()[1:])
		vit, err := s.db.NewIter(&pebble.IterOptions{LowerBound: stateKey(key, int64(^uint64(0)>>1)), UpperBound: keyEnd(key)})
		if err != nil {
			return nil, err
		}
		has := vit.First()
		vit.Close()
		if !has {
			return nil, fmt.Errorf("state: %q has a latest value but no versions", key)
		}
	}
	out := make(map[int64][]byte, len(hashers))
	for h, hs := range hashers {
		out[h] = hs.Sum(nil)
	}
	return out, nil
}
