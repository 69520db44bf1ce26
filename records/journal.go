package records

import (
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// The access log's promise is that a patient sees every read. So an event
// is written to the node's journal (Options.Journal, a store.Queue synced to
// disk) before the read it describes is answered, and stays there until it
// is anchored: a crash loses no event, and a restarted node anchors what
// its journal holds. Reads of health data stop (KindUnavailable, HTTP 503)
// when the journal cannot be written, or when the oldest unanchored event is
// older than Options.MaxLag; break-glass reads go on, logged and flagged.

// DefaultMaxLag is how far anchoring may fall behind before reads stop.
const DefaultMaxLag = 5 * time.Minute

// ErrLogUnavailable is returned for a read of health data that cannot be
// logged durably now; the data is not served.
var ErrLogUnavailable = carechain.NewError(carechain.KindUnavailable, "the access log is unavailable")

// queued is a sealed event waiting to be anchored, with its journal
// sequence number (0 without a journal).
type queued struct {
	seq uint64
	ev  tx.SealedEvent
}

// enqueue journals events (one sync) and queues them for anchoring.
func (s *Service) enqueue(events ...tx.SealedEvent) error {
	if len(events) == 0 {
		return nil
	}
	qs := make([]queued, len(events))
	for i, ev := range events {
		qs[i].ev = ev
	}
	if s.journal != nil {
		items := make([][]byte, len(events))
		for i := range events {
			enc, err := tx.Marshal(&events[i])
			if err != nil {
				return err
			}
			items[i] = enc
		}
		seqs, err := s.journal.Append(items...)
		if err != nil {
			return fmt.Errorf("%w: journal: %v", ErrLogUnavailable, err)
		}
		for i := range qs {
			qs[i].seq = seqs[i]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, qs...)
	return nil
}

// loadJournal queues what the journal holds from before a restart.
func loadJournal(j *store.Queue) ([]queued, error) {
	items, err := j.Items(j.Len())
	if err != nil {
		return nil, fmt.Errorf("read the access-event journal: %w", err)
	}
	out := make([]queued, 0, len(items))
	for _, it := range items {
		var ev tx.SealedEvent
		if err := tx.Unmarshal(it.Data, &ev); err != nil {
			return nil, fmt.Errorf("access-event journal item %d: %w", it.Seq, err)
		}
		out = append(out, queued{seq: it.Seq, ev: ev})
	}
	return out, nil
}

// anchored removes a batch that reached the ledger from the journal.
func (s *Service) anchored(batch []queued) error {
	if s.journal == nil {
		return nil
	}
	seqs := make([]uint64, len(batch))
	for i, q := range batch {
		seqs[i] = q.seq
	}
	if err := s.journal.Remove(seqs...); err != nil {
		// The events are on the ledger; left in the journal they would be
		// anchored again after a restart (the ledger refuses no duplicate
		// across blocks), which is noise, not loss.
		return fmt.Errorf("remove %d anchored events from the journal: %w", len(seqs), err)
	}
	return nil
}

// ReadsStopped says why reads of health data are refused now (the access
// log is behind by more than Options.MaxLag), or "" if they are served.
func (s *Service) ReadsStopped() string { return s.logBehind() }

// logBehind says why reads of health data must stop now, or "" if they
// need not: the oldest unanchored event is older than the allowed lag.
func (s *Service) logBehind() string {
	lag, waiting := s.unanchoredFor()
	if !waiting || lag <= s.maxLag {
		return ""
	}
	return fmt.Sprintf("access events are unanchored for %v (limit %v)", lag.Round(time.Second), s.maxLag)
}

// unanchoredFor is how long the oldest access event not yet anchored has
// waited, and whether one waits at all.
func (s *Service) unanchoredFor() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return 0, false
	}
	return s.now().Sub(time.UnixMilli(s.pending[0].ev.Time)), true
}
