package records

import (
	"context"
	"time"

	"github.com/carechain/carechain"
)

// Refusals before any consent check (no token, a bad token) are logged for
// the patient too, but a flood of them must not bury the patient's log or
// the node's anchoring: repeated refusals of one source, for one record,
// action and reason, within refusalWindow, become one event with a count.

const (
	// refusalWindow is how long repeated refusals are gathered into one event.
	refusalWindow = 10 * time.Second
	// maxRefusalKeys bounds the windows open at once; past it, refusals of
	// new sources fold into one window per record marked "(many sources)",
	// so a flood from many addresses costs bounded memory.
	maxRefusalKeys = 4096
)

type refusalKey struct{ source, recordID, action, reason string }

type refusal struct {
	first time.Time
	count int
	ev    Event
}

// RecordRefused logs an attempt on a record that was refused before any
// consent check (no or a bad token), from the network address source: the
// patient sees it, aggregated with its repeats (Event.Count).
func (s *Service) RecordRefused(requester, source, recordID, action, reason string) {
	head, err := s.latest().Record(recordID)
	if err != nil {
		return // no such record: no patient to tell
	}
	now := s.now()
	k := refusalKey{source, recordID, action, reason}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refusals[k]
	if !ok && len(s.refusals) >= maxRefusalKeys {
		k.source = "(many sources)"
		r, ok = s.refusals[k]
	}
	if !ok {
		r = &refusal{first: now, ev: Event{Requester: requester, Source: k.source, Patient: head.Patient, Action: action,
			RecordID: recordID, Category: head.Category, ResourceType: head.ResourceType, Decision: carechain.DecisionDeny, Reason: reason}}
		s.refusals[k] = r
	}
	r.count++
}

// closeWindows turns the refusal windows open for refusalWindow (all of
// them, if all) into access events.
func (s *Service) closeWindows(now time.Time, all bool) {
	s.mu.Lock()
	var due []*refusal
	for k, r := range s.refusals {
		if all || now.Sub(r.first) >= refusalWindow {
			due = append(due, r)
			delete(s.refusals, k)
		}
	}
	s.mu.Unlock()
	if len(due) == 0 {
		return
	}
	v := s.latest()
	for _, r := range due {
		ev := r.ev
		ev.Count = r.count
		_ = s.record(context.Background(), v, ev) // a failure is logged by record; refusals serve nothing
	}
}
