package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// Organization resources (tx.OrgResourceTypes: Schedule, Slot,
// HealthcareService, ChargeItemDefinition) name no patient. They are
// organization records: written in plain on the ledger, signed by a
// practitioner or admin of the organization that created them (which alone
// may change or delete them), and readable by every authenticated member of
// the consortium, with no consent check and no access event: they hold no
// health data. A resource of these types that refers to a patient is
// refused (400): what names a patient is a sealed record. They are created,
// read, vread, updated (If-Match), deleted, searched and their history read
// like clinical resources; PATCH and conditional writes are not served.

// orgOperationsDoc documents what an organization resource type serves.
const orgOperationsDoc = "an organization resource: read, vread, create, update, delete, history and search are served"

// orgRecord is version version (0: latest) of organization record id of
// typ, as a record the clinical answers take; notFound if there is none.
func orgRecord(v *ledger.View, typ, id string, version uint64) (*records.Record, error) {
	rv, err := v.OrgRecordVersion(typ, id, version)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, notFound(typ)
	} else if err != nil {
		return nil, err
	}
	return asRecord(rv), nil
}

// asRecord is rv as a records.Record.
func asRecord(rv *ledger.OrgRecordVersion) *records.Record {
	return &records.Record{RecordVersion: carechain.RecordVersion{RecordID: rv.ID, Version: rv.Version, ResourceType: rv.ResourceType,
		Author: rv.Author, AuthorOrg: rv.Org, Height: rv.Height, Time: rv.Time, Deleted: rv.Deleted}, Resource: rv.Resource}
}

// orgRead serves a read (version 0) or vread of an organization resource.
func (s *server) orgRead(w http.ResponseWriter, r *http.Request, c caller, typ, id string, version uint64) {
	rs, err := readShapeOf(r.URL.Query())
	if err != nil {
		s.failErr(w, err)
		return
	}
	rec, err := orgRecord(c.view, typ, id, version)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if version == 0 && unchangedSince(r, rec) {
		w.Header().Set("ETag", etag(rec.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeShapedRecord(w, http.StatusOK, typ, rec, rs.keep)
}

// unchangedSince reports whether a conditional read's If-None-Match names
// rec's version.
func unchangedSince(r *http.Request, rec *records.Record) bool {
	return slices.ContainsFunc(strings.Split(r.Header.Get("If-None-Match"), ","), func(tag string) bool {
		return strings.TrimSpace(tag) == etag(rec.Version)
	})
}

// orgWriter is the caller's signer and the If-Match version (0: none) of
// a write of an organization resource; false when it answered instead.
func (s *server) orgWriter(w http.ResponseWriter, r *http.Request, c caller) (records.Signer, uint64, bool) {
	signer, ok := s.signer(w, c)
	if !ok {
		return signer, 0, false
	}
	ifMatch, err := ifMatchOf(r.Header.Get("If-Match"))
	if err != nil {
		s.failErr(w, err)
		return signer, 0, false
	}
	return signer, ifMatch, true
}

// orgWrite serves a create (id "") or an update of an organization resource.
func (s *server) orgWrite(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	signer, ifMatch, ok := s.orgWriter(w, r, c)
	if !ok {
		return
	}
	res, err := readResource(w, r, typ)
	if err == nil && id != "" && res.ID() != "" && res.ID() != id {
		err = &requestError{kind: carechain.KindMalformed, path: "id", err: fmt.Errorf("the body's id %q is not the URL's %q", res.ID(), id)}
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if id == "" {
		id = records.NewRecordID()
	}
	if err := res.SetID(id); err != nil {
		s.failErr(w, err)
		return
	}
	res.DropMeta()
	put, err := s.Records.PutOrgRecord(r.Context(), signer, records.OrgPut{ResourceType: typ, ID: id, IfMatch: ifMatch, Resource: res.Canonical()})
	if err != nil {
		s.failErr(w, err)
		return
	}
	v, err := s.App.View(0)
	var rec *records.Record
	if err == nil {
		rec, err = orgRecord(v, typ, id, put.Version)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	status := http.StatusOK
	if put.Version == 1 {
		status = http.StatusCreated
	}
	w.Header().Set("Location", s.location(typ, id, put.Version))
	s.writeRecord(w, status, typ, rec)
}

// orgDelete serves a delete of an organization resource: a version marking
// it deleted (its versions stay). Deleting what is already deleted is a
// 204, as R4 allows.
func (s *server) orgDelete(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	signer, ifMatch, ok := s.orgWriter(w, r, c)
	if !ok {
		return
	}
	head, err := c.view.OrgRecord(typ, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		s.failErr(w, notFound(typ))
		return
	case err != nil:
		s.failErr(w, err)
		return
	case head.Deleted && ifMatch == 0:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	put, err := s.Records.PutOrgRecord(r.Context(), signer, records.OrgPut{ResourceType: typ, ID: id, IfMatch: ifMatch, Deleted: true})
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("ETag", etag(put.Version))
	w.WriteHeader(http.StatusNoContent)
}

// orgHistory serves the history of an organization resource, newest first.
func (s *server) orgHistory(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	hq, err := historyQueryOf(r.URL.Query(), false)
	if err != nil {
		s.failErr(w, err)
		return
	}
	versions, err := c.view.OrgRecordVersions(typ, id)
	if errors.Is(err, ledger.ErrNotFound) {
		err = notFound(typ)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	var recs []records.Record
	for i := len(versions) - 1; i >= 0; i-- {
		if rec := asRecord(&versions[i]); hq.keeps(&rec.RecordVersion) {
			recs = append(recs, *rec)
		}
	}
	total := len(recs)
	s.writeHistoryPage(w, r, recs[min(hq.page.offset, total):min(hq.page.offset+hq.page.count, total)], hq.page, total)
}

// orgSearch serves a search of an organization resource type: every live
// resource of the type that matches, by id, paged and sorted like a
// clinical search.
func (s *server) orgSearch(w http.ResponseWriter, r *http.Request, c caller, typ string, q url.Values) {
	err := checkParams(typ, q)
	for k := range q {
		if strings.HasPrefix(k, "_has:") {
			err = &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("%s: _has is not served for %s", k, orgOperationsDoc)}
		}
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	pg, err := pageOf(q)
	if err != nil {
		s.failErr(w, err)
		return
	}
	heads, err := c.view.OrgRecords(typ)
	if err != nil {
		s.failErr(w, err)
		return
	}
	var recs []records.Record
	for _, h := range heads {
		if h.Deleted {
			continue
		}
		rec, err := orgRecord(c.view, typ, h.ID, h.Latest)
		if err != nil {
			s.failErr(w, err)
			return
		}
		var doc any
		if err := json.Unmarshal(rec.Resource, &doc); err != nil {
			s.failErr(w, err)
			return
		}
		if matchAll(typ, doc, lastUpdated(rec.RecordVersion).Format(time.RFC3339), q) {
			recs = append(recs, *rec)
		}
	}
	if err := sortRecords(recs, typ, q.Get("_sort")); err != nil {
		s.fail(w, http.StatusBadRequest, "not-supported", err)
		return
	}
	s.writeSearchPage(w, r, c, recs, pg)
}

// isOrgType reports whether typ is an organization resource type.
func isOrgType(typ string) bool { return tx.IsOrgResourceType(typ) }

// orgCapabilities are those of the organization resource types, in type
// order.
func orgCapabilities() []capResource {
	var out []capResource
	for _, t := range tx.OrgResourceTypes {
		doc := "Readable by every member of the consortium; written only by practitioners and admins of the organization that created it; a resource naming a patient is refused (400)."
		ints := []capInteraction{{Code: "read"}, {Code: "vread"}, {Code: "create", Documentation: doc}, {Code: "update", Documentation: "If-Match is the version replaced."},
			{Code: "delete"}, {Code: "history-instance", Documentation: historyDoc}, {Code: "search-type", Documentation: orgSearchDoc}}
		out = append(out, capResource{Type: t, Interaction: ints, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true,
			SearchParam: capParams(t), ConditionalRd: "not-match", ConditionalDl: "not-supported"})
	}
	return out
}

// orgSearchDoc documents the search of an organization resource type.
const orgSearchDoc = "Every live resource of the type, of every organization. A parameter not listed is refused (400). Comma-separated values are alternatives, repeated parameters all apply. _count and _offset page with next links; _sort by _lastUpdated, _id or any listed parameter; _summary, _total and _elements shape the answer."
