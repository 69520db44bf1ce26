package store

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint writes a consistent copy of the store, as of one moment, to
// dir, which must not exist: Pebble hard-links the immutable tables (or
// copies them across filesystems) and copies the rest, with the write-ahead
// log flushed first. The store keeps serving meanwhile.
func (s *Store) Checkpoint(dir string) error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint state to %s: %w", dir, err)
	}
	return nil
}

// Checkpoint writes a consistent copy of the queue to dir, which must not
// exist, like Store.Checkpoint.
func (q *Queue) Checkpoint(dir string) error {
	if err := q.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint queue to %s: %w", dir, err)
	}
	return nil
}
