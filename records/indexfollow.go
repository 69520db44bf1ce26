package records

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// How the search index keeps up with the ledger.
//
// RunIndex follows the chain: every committed block's Changes (the
// records it gave a head, the patients whose grants it changed) are
// queued, and a single loop brings the entries of those records and
// patients up to date for every organization this node serves, whoever
// submitted the transactions: this node's API, a client that signed its
// own (the CLI's consent grant, record put --keys-dir) or another node.
// The index's height (store.Index.Height) says through which block it has
// done so, and survives restarts.
//
// When RunIndex starts behind the chain (a new or lost index, one of an
// older format, or blocks
// committed while the node was down or catching up), it catches up first:
// a new index is rebuilt; otherwise the state at the index's height is
// compared with the latest, and only the records whose head differs and
// the patients whose grants differ are indexed again. The comparison
// reads every patient's record heads and grants twice, and decrypts only
// what changed.
//
// Writes, grants and revocations made through this node's Service also
// index at once, before the call returns, so a search right after them
// finds them; the follower then skips what they did (indexedAt).
//
// Every index write runs under indexMu from the latest state read under
// it, so a later write never works from an older state than an earlier
// one. An index write that fails is logged and skipped: the index only
// narrows searches, and a stale entry costs a read, never a wrong answer.

// indexFeed holds what committed blocks changed that the index has not
// followed yet.
type indexFeed struct {
	mu       sync.Mutex
	records  map[string]struct{}
	patients map[string]struct{}
	height   int64         // the newest block queued
	wake     chan struct{} // has a value when something is queued
}

func newIndexFeed() *indexFeed {
	return &indexFeed{records: map[string]struct{}{}, patients: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// add queues b's changes; it is called in the node's commit path.
func (f *indexFeed) add(b ledger.CommittedBlock) {
	f.mu.Lock()
	for _, id := range b.Changes.Records {
		f.records[id] = struct{}{}
	}
	for _, p := range b.Changes.Patients {
		f.patients[p] = struct{}{}
	}
	f.height = max(f.height, b.Height)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take empties the queue, returning its changes and newest height.
func (f *indexFeed) take() (ledger.Changes, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var c ledger.Changes
	for id := range f.records {
		c.Records = append(c.Records, id)
	}
	for p := range f.patients {
		c.Patients = append(c.Patients, p)
	}
	clear(f.records)
	clear(f.patients)
	return c, f.height
}

// indexNow indexes c at once, for a call of this node's Service that
// changed it, and notes the height it did so at for the follower.
func (s *Service) indexNow(c ledger.Changes) {
	if s.index == nil {
		return
	}
	if err := s.reindex(c, 0); err != nil {
		s.log.Warn("search index: a change made through this node was not indexed", "err", err)
	}
}

// reindex brings the index up to date with c, from the latest state, for
// every organization this node serves. With following > 0 it is the
// follower's, for blocks through that height: it skips what indexNow did
// at that height or later, and forgets what indexNow did before it.
// Without, it notes what it did in indexedAt (if a follower runs).
func (s *Service) reindex(c ledger.Changes, following int64) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	v := s.latest()
	orgs, err := s.servedOrgs(v)
	if err != nil {
		return err
	}
	fresh := func(key string) bool {
		if following == 0 {
			if s.indexedAt != nil {
				s.indexedAt[key] = v.Height()
			}
			return true
		}
		return s.indexedAt[key] < following
	}
	for _, id := range c.Records {
		if !fresh("record:" + id) {
			continue
		}
		if err := s.reindexRecord(v, orgs, id); err != nil {
			return fmt.Errorf("index record %s: %w", id, err)
		}
	}
	for _, p := range c.Patients {
		if !fresh("patient:" + p) {
			continue
		}
		for _, o := range orgs {
			if err := s.indexPatient(v, o, p); err != nil {
				return fmt.Errorf("index patient %s for %s: %w", p, o.id, err)
			}
		}
	}
	if following > 0 {
		for k, h := range s.indexedAt {
			if h <= following {
				delete(s.indexedAt, k)
			}
		}
	}
	return nil
}

// reindexRecord brings every served organization's entry of record id up
// to date with v.
func (s *Service) reindexRecord(v *ledger.View, orgs []servedOrg, id string) error {
	h, err := v.Record(id)
	if err != nil {
		return nil // not in this state: nothing to index
	}
	for _, o := range orgs {
		if err := s.indexRecord(v, o, h, s.readsOnce(v, o.id, h.Patient)); err != nil {
			return err
		}
	}
	return nil
}

// RunIndex keeps the search index up to date with the chain until ctx
// ends (see above); follow subscribes a function to every committed block
// (node.Node.Follow) and returns a function that unsubscribes it. It
// returns nil at once on a service without an index.
func (s *Service) RunIndex(ctx context.Context, follow func(func(ledger.CommittedBlock)) (stop func())) error {
	if s.index == nil {
		return nil
	}
	feed := newIndexFeed()
	s.indexMu.Lock()
	s.indexedAt = map[string]int64{}
	s.indexMu.Unlock()
	stop := follow(feed.add)
	defer stop()
	if err := s.catchUp(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("search index: catching up with the chain: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-feed.wake:
		}
		c, height := feed.take()
		if err := s.reindex(c, height); err != nil {
			s.log.Warn("search index: a block's changes were not indexed", "height", height, "err", err)
		}
		if err := s.index.SetHeight(height); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
}

// IndexFormat numbers the terms the index holds (indexterms.go): when it
// changes, an index written in another format is emptied and rebuilt at
// the next start. 2 added Observation date, performer and encounter,
// Patient general-practitioner and organization, DiagnosticReport and
// Condition.
const IndexFormat = 2

// catchUp brings an index that follows the chain through an older height
// up to the latest state, and records that height. An index of another
// format (IndexFormat) is emptied first, and so rebuilt.
func (s *Service) catchUp(ctx context.Context) error {
	if format, err := s.index.Format(); err != nil {
		return err
	} else if format != IndexFormat {
		if err := s.index.RemovePrefix(nil); err != nil {
			return err
		}
		if err := s.index.SetHeight(0); err != nil {
			return err
		}
		if err := s.index.SetFormat(IndexFormat); err != nil {
			return err
		}
		s.log.Info("search index emptied: its format changed", "from", format, "to", IndexFormat)
	}
	from, err := s.index.Height()
	if err != nil {
		return err
	}
	v := s.latest()
	if from >= v.Height() {
		return nil
	}
	old, err := v.At(from)
	if from == 0 || err != nil {
		n, err := s.RebuildIndex(ctx)
		s.log.Info("search index rebuilt", "patients", n, "height", v.Height(), "err", err)
		if err != nil {
			return err
		}
		return s.index.SetHeight(v.Height())
	}
	c, err := changedBetween(ctx, old, v)
	if err != nil {
		return err
	}
	if err := s.reindex(c, 0); err != nil {
		return err
	}
	s.log.Info("search index caught up", "from", from, "to", v.Height(), "records", len(c.Records), "patients", len(c.Patients))
	return s.index.SetHeight(v.Height())
}

// changedBetween returns what changed of patients' record heads and grants
// from old to v.
func changedBetween(ctx context.Context, old, v *ledger.View) (ledger.Changes, error) {
	var c ledger.Changes
	patients, err := v.Principals("")
	if err != nil {
		return c, err
	}
	for _, p := range patients {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		if p.Kind != carechain.KindPatient {
			continue
		}
		was, _ := old.PatientRecords(p.ID) // absent then: every head is new
		prev := make(map[string]carechain.RecordHead, len(was))
		for _, h := range was {
			prev[h.RecordID] = h
		}
		heads, err := v.PatientRecords(p.ID)
		if err != nil {
			return c, err
		}
		for _, h := range heads {
			if h != prev[h.RecordID] {
				c.Records = append(c.Records, h.RecordID)
			}
		}
		gOld, _ := old.Grants(p.ID)
		gNew, err := v.Grants(p.ID)
		if err != nil {
			return c, err
		}
		if !reflect.DeepEqual(gOld, gNew) {
			c.Patients = append(c.Patients, p.ID)
		}
	}
	return c, nil
}
