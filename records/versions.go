package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// Reading history a page at a time: ReadableVersions picks, from metadata
// alone, the versions a requester may read; the caller orders and pages
// them; ReadVersions decrypts only the page. A version counted but not on
// the page is neither decrypted nor logged: it was not served.

// VersionQuery selects versions of one record (RecordID) or of a
// patient's records (Patient, and Keep for their heads).
type VersionQuery struct {
	Requester string
	Purpose   consent.Purpose
	RecordID  string // one record's versions; else Patient's records'
	Patient   string
	// Keep, if set, selects a patient's records by their head.
	Keep func(*carechain.RecordHead) bool
	// Versions, if set, selects versions by their metadata (a _since).
	Versions func(*carechain.RecordVersion) bool
}

// ReadableVersions returns the versions q selects that the requester may
// read and this node can decrypt for them, decrypting nothing: their
// metadata, oldest first per record, in record ID order. A record of which
// a selected version is refused is left out whole, and that refusal is an
// access event in the patient's log, as the read would have been. A record
// none of whose versions q selects is not looked at, and not logged.
func (s *Service) ReadableVersions(ctx context.Context, q VersionQuery) (out []carechain.RecordVersion, err error) {
	v := s.latest()
	ids, err := s.selectedRecords(v, q)
	if err != nil {
		return nil, err
	}
	var log []Event
	defer func() {
		if lerr := s.record(ctx, v, log...); lerr != nil {
			out, err = nil, lerr
		}
	}()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vs, err := v.RecordVersions(id)
		if err != nil {
			return nil, err
		}
		var kept []carechain.RecordVersion
		for i := range vs {
			rv := &vs[i]
			if q.Versions != nil && !q.Versions(rv) {
				continue
			}
			if ev, ok := s.mayDecrypt(v, q.Requester, rv, q.Purpose); !ok {
				log, kept = append(log, ev), nil
				break
			}
			kept = append(kept, *rv)
		}
		out = append(out, kept...)
	}
	return out, nil
}

// selectedRecords returns the IDs of the records q is about.
func (s *Service) selectedRecords(v *ledger.View, q VersionQuery) ([]string, error) {
	if q.RecordID != "" {
		return []string{q.RecordID}, nil
	}
	heads, err := v.PatientRecords(q.Patient)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := range heads {
		if q.Keep == nil || q.Keep(&heads[i]) {
			ids = append(ids, heads[i].RecordID)
		}
	}
	return ids, nil
}

// mayDecrypt reports whether requester may read rv and this node holds the
// key to decrypt it for them; if not, the refusal's access event.
func (s *Service) mayDecrypt(v *ledger.View, requester string, rv *carechain.RecordVersion, purpose consent.Purpose) (Event, bool) {
	d, reader, err := s.allowed(v, requester, rv, purpose)
	if err == nil {
		if _, werr := v.Wrap(rv.Patient, rv.Category, rv.Epoch, reader); werr != nil {
			err = &DeniedError{Reason: fmt.Sprintf("%s holds no key for this version (written after its access was revoked)", reader)}
		}
	}
	if err == nil {
		return Event{}, true
	}
	ev := readEvent(requester, rv, purpose)
	ev.Decision, ev.Reason, ev.RequesterOrg = carechain.DecisionDeny, err.Error(), d.org
	var denied *DeniedError
	if errors.As(err, &denied) {
		ev.Reason = denied.Reason
	}
	return ev, false
}

// ReadVersions decrypts versions (as ReadableVersions returned them) for
// requester, in their order; each read is an access event. A version the
// requester may no longer read (consent changed since) is left out.
func (s *Service) ReadVersions(ctx context.Context, requester string, purpose consent.Purpose, versions []carechain.RecordVersion) (out []Record, err error) {
	v := s.latest()
	var log []Event
	defer func() {
		if lerr := s.record(ctx, v, log...); lerr != nil {
			out, err = nil, lerr // read, but not durably logged: not served
		}
	}()
	for i := range versions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := s.read(v, requester, versions[i].RecordID, versions[i].Version, purpose, &log)
		var denied *DeniedError
		if errors.As(err, &denied) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}
