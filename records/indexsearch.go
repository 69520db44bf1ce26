package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// IndexQuery is a search across patients through the blind search index.
type IndexQuery struct {
	Requester string
	Purpose   consent.Purpose
	// Conditions must all hold (SearchTerms makes them); at least one.
	Conditions []IndexCondition
	// Keep, if set, selects candidates by their head before anything is
	// decrypted (a resource type, not deleted, ...).
	Keep func(*carechain.RecordHead) bool
}

// SearchIndex returns the latest versions of the records that meet every
// condition of q in the index of the requester's organization and that the
// requester may read, decrypted, in record ID order. Every candidate is
// read through the consented read path: each attempt is an access event in
// its patient's log, and a record the requester may not read is left out.
// The caller still matches the results against its whole search: the index
// narrows, it does not decide.
//
// Without an index for the requester's organization it returns ErrNoIndex;
// when every condition matches more than MaxIndexCandidates records, ErrTooBroad.
func (s *Service) SearchIndex(ctx context.Context, q IndexQuery) (out []Record, err error) {
	if s.index == nil || len(q.Conditions) == 0 {
		return nil, ErrNoIndex
	}
	v := s.latest()
	p, err := v.Principal(q.Requester)
	if err != nil {
		return nil, &DeniedError{Reason: fmt.Sprintf("%s is not a registered principal", q.Requester)}
	}
	key, ok := s.searchKey(p.Org)
	if !ok {
		return nil, fmt.Errorf("%w: this node keeps none for %q", ErrNoIndex, p.Org)
	}
	cands, err := s.candidates(key, p.Org, q.Conditions)
	if err != nil {
		return nil, err
	}
	var log []Event
	defer func() {
		if lerr := s.record(ctx, v, log...); lerr != nil {
			out, err = nil, lerr // read, but not durably logged: not served
		}
	}()
	for _, c := range cands {
		h, err := v.Record(c.recordID)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if h.Patient != c.patient || (q.Keep != nil && !q.Keep(h)) {
			continue
		}
		r, err := s.read(v, q.Requester, h.RecordID, 0, q.Purpose, &log)
		var denied *DeniedError
		if errors.As(err, &denied) {
			continue // the attempt is logged; the result holds only what the requester may read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// candidate is a record an index lookup found.
type candidate struct{ patient, recordID string }

// candidates are the records of org meeting every condition, by record
// ID. A condition met by more than MaxIndexCandidates records does not
// narrow the set (the caller checks it on the decrypted resources); if
// every condition is, the search is too broad.
func (s *Service) candidates(key []byte, org string, conds []IndexCondition) ([]candidate, error) {
	var set map[string]bool
	for _, c := range conds {
		members, err := s.members(key, c)
		if err != nil {
			return nil, err
		}
		if members == nil {
			continue
		}
		next := map[string]bool{}
		for m := range members {
			if set == nil || set[m] {
				next[m] = true
			}
		}
		set = next
	}
	if set == nil {
		return nil, fmt.Errorf("%w: every parameter matches more than %d records; add parameters", ErrTooBroad, MaxIndexCandidates)
	}
	prefix := []byte(org + "\x00")
	var out []candidate
	for m := range set {
		rest, ok := bytes.CutPrefix([]byte(m), prefix)
		patient, recordID, ok2 := strings.Cut(string(rest), "\x00")
		if ok && ok2 {
			out = append(out, candidate{patient, recordID})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.recordID, b.recordID) })
	return out, nil
}

// members are the index members having any term of c, nil if they are
// more than MaxIndexCandidates (c does not narrow).
func (s *Service) members(key []byte, c IndexCondition) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range c {
		ms, err := s.index.Lookup(indexToken(key, t), MaxIndexCandidates+1)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			out[string(m)] = true
		}
		if len(out) > MaxIndexCandidates {
			return nil, nil
		}
	}
	return out, nil
}
