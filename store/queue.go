package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/carechain/carechain"

	"github.com/cockroachdb/pebble/v2"
)

// MaxQueueItemBytes bounds one queued item; Append refuses a larger one.
const MaxQueueItemBytes = 64 << 10

const (
	queueItemPrefix = 'i'            // items: i | seq (big endian), so iteration is FIFO
	queueHighKey    = "m/removed-to" // the last seq handed out when an item was last removed
)

// ErrItemTooLarge is returned by Append for an item over MaxQueueItemBytes.
var ErrItemTooLarge = carechain.NewError(carechain.KindTooLarge, "queue item too large")

// Queue is a durable FIFO of opaque items, in its own Pebble database.
//
// It holds what a node has yet to do, such as access events not anchored on
// the ledger yet. That is node-local, not consensus state, so it stays out of
// the state Store: its writes are in no block or app hash, and one node's
// queue can never make its state differ from the others'.
//
// Items appended concurrently become visible in the order their writes
// commit, so a reader may see a later sequence number before an earlier one.
type Queue struct {
	db        *pebble.DB
	last      atomic.Uint64 // the last sequence number handed out
	n         atomic.Int64
	removeMu  sync.Mutex // serializes Removes, so n counts each removal once
	closeOnce sync.Once
	closeErr  error
}

// QueueItem is one queued item and the sequence number Append gave it.
type QueueItem struct {
	Seq  uint64
	Data []byte
}

// OpenQueue opens (creating) the queue in dir.
func OpenQueue(dir string) (*Queue, error) {
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{slog.Default().With("component", "pebble", "db", "queue")},
	})
	if err != nil {
		return nil, fmt.Errorf("open queue db %s: %w", dir, err)
	}
	// The last number handed out is the larger of the last item's and the
	// highest removed, so numbers keep increasing after the queue empties.
	q := &Queue{db: db}
	high, closer, err := db.Get([]byte(queueHighKey))
	if err == nil {
		if len(high) == 8 {
			q.last.Store(binary.BigEndian.Uint64(high))
		} else {
			err = fmt.Errorf("%s is %d bytes: corrupted", queueHighKey, len(high))
		}
		closer.Close()
	}
	if err == nil || errors.Is(err, pebble.ErrNotFound) {
		err = q.scan(func(seq uint64, _ []byte) bool {
			q.n.Add(1)
			q.last.Store(max(q.last.Load(), seq))
			return true
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue db %s: %w", dir, err)
	}
	return q, nil
}

func queueKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{queueItemPrefix}, seq)
}

// scan calls fn for each item, oldest first, until fn returns false. fn must
// not keep data.
func (q *Queue) scan(fn func(seq uint64, data []byte) bool) error {
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: []byte{queueItemPrefix}, UpperBound: []byte{queueItemPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if len(it.Key()) != 9 {
			return fmt.Errorf("malformed queue key %x", it.Key())
		}
		if !fn(binary.BigEndian.Uint64(it.Key()[1:]), v) {
			break
		}
	}
	return it.Error()
}

// Append stores items at the tail and returns their sequence numbers; when it
// returns nil they are synced to disk. Concurrent Appends share fsyncs (Pebble's
// WAL group commit), so nothing here serializes them.
func (q *Queue) Append(items ...[]byte) ([]uint64, error) {
	for i, item := range items {
		if len(item) > MaxQueueItemBytes {
			return nil, fmt.Errorf("%w: item #%d is %d bytes, limit %d", ErrItemTooLarge, i, len(item), MaxQueueItemBytes)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	first := q.last.Add(uint64(len(items))) - uint64(len(items)) + 1
	seqs := make([]uint64, len(items))
	batch := q.db.NewBatch()
	defer batch.Close()
	for i, item := range items {
		seqs[i] = first + uint64(i)
		if err := batch.Set(queueKey(seqs[i]), item, nil); err != nil {
			return nil, err
		}
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("queue append: %w", err)
	}
	q.n.Add(int64(len(items)))
	return seqs, nil
}

// Items returns up to max items from the head (oldest first), with their
// sequence numbers, without removing them.
func (q *Queue) Items(max int) ([]QueueItem, error) {
	var out []QueueItem
	err := q.scan(func(seq uint64, data []byte) bool {
		if len(out) >= max {
			return false
		}
		out = append(out, QueueItem{Seq: seq, Data: slices.Clone(data)})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("queue items: %w", err)
	}
	return out, nil
}

// Remove deletes the items with these sequence numbers (synced). Numbers not
// in the queue are ignored.
func (q *Queue) Remove(seqs ...uint64) error {
	q.removeMu.Lock()
	defer q.removeMu.Unlock()
	batch := q.db.NewBatch()
	defer batch.Close()
	removed := 0
	for _, seq := range slices.Compact(slices.Sorted(slices.Values(seqs))) {
		_, closer, err := q.db.Get(queueKey(seq))
		if err == nil {
			closer.Close()
			err = batch.Delete(queueKey(seq), nil)
			removed++
		}
		if err != nil && !errors.Is(err, pebble.ErrNotFound) {
			return fmt.Errorf("queue remove %d: %w", seq, err)
		}
	}
	if removed == 0 {
		return nil
	}
	// No removed number is above the last handed out: see OpenQueue.
	if err := batch.Set([]byte(queueHighKey), binary.BigEndian.AppendUint64(nil, q.last.Load()), nil); err != nil {
		return err
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("queue remove: %w", err)
	}
	q.n.Add(int64(-removed))
	return nil
}

// Len is the number of items in the queue (it may lag Appends in flight).
func (q *Queue) Len() int { return int(q.n.Load()) }

// Close closes the database. Closing twice is harmless.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { q.closeErr = q.db.Close() })
	return q.closeErr
}
