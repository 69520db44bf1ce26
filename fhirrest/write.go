package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Writes: create, update and delete of clinical resources. A written body is
// parsed once (parseAs); what the server needs from it (its patient, its
// category) is read from the parsed resource, which records seals as it is.

func (s *server) signer(w http.ResponseWriter, c caller) (records.Signer, bool) {
	sg, ok := s.Custodian.Signer(c.principal.ID)
	if !ok {
		s.fail(w, http.StatusForbidden, "forbidden", fmt.Errorf("this node does not hold the signing key of %s: writes go through the node of its organization", c.principal.ID))
	}
	return sg, ok
}

// readResource reads the request body as a resource of typ (parseAs).
func readResource(w http.ResponseWriter, r *http.Request, typ string) (*fhirjson.Resource, error) {
	b, err := readBody(w, r, MaxBody)
	if err != nil {
		return nil, err
	}
	return parseAs(b, typ)
}

func (s *server) create(w http.ResponseWriter, r *http.Request, c caller) {
	typ := r.PathValue("type")
	if isOrgType(typ) {
		s.orgWrite(w, r, c, typ, "") // orgrecords.go
		return
	}
	if !s.supported(w, typ) {
		return
	}
	if typ == "Patient" {
		s.fail(w, http.StatusMethodNotAllowed, "not-supported", errors.New("register the patient on the ledger, then PUT Patient/{pseudonym}"))
		return
	}
	res, err := readResource(w, r, typ)
	if err == nil {
		res, err = s.priced(r, c, res) // an Invoice (invoice.go)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	it, err := recordVersion(res, records.NewRecordID(), r.Header.Get(categoryHeader))
	if err == nil {
		it, err = authoredBy(c.principal, it)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		found, err := s.existing(r, c, typ, it.Patient, cond)
		if err != nil {
			s.failErr(w, err)
			return
		}
		if found != nil {
			s.writeRecord(w, http.StatusOK, typ, found)
			return
		}
	}
	s.write(w, r, c, typ, it, http.StatusCreated)
}

// existing is conditional create: the one resource the search cond (of
// the patient's resources of typ) finds, or nil if it finds none. If it
// finds several, the create is refused (412).
func (s *server) existing(r *http.Request, c caller, typ, patient, cond string) (*records.Record, error) {
	q, err := url.ParseQuery(cond)
	if err != nil {
		return nil, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("If-None-Exist must be search parameters: %w", err)}
	}
	q = s.normalizeRefs(typ, q)
	if err := checkParams(typ, q); err != nil {
		return nil, err
	}
	found, err := s.find(r, c, typ, patient, q)
	switch {
	case err != nil:
		return nil, err
	case len(found) > 1:
		return nil, &requestError{kind: carechain.KindPrecondition, code: "duplicate", err: fmt.Errorf("If-None-Exist matches %d resources", len(found))}
	case len(found) == 1:
		return &found[0], nil
	}
	return nil, nil
}

func (s *server) update(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if isOrgType(typ) {
		s.orgWrite(w, r, c, typ, id)
		return
	}
	if !s.supported(w, typ) {
		return
	}
	res, err := readResource(w, r, typ)
	if err != nil {
		s.failErr(w, err)
		return
	}
	s.updateTo(w, r, c, res, id)
}

// updateTo writes res as record id (an update, or an update as create),
// or proposes it if an approval policy covers the edit.
func (s *server) updateTo(w http.ResponseWriter, r *http.Request, c caller, res *fhirjson.Resource, id string) {
	typ := res.Type()
	res, err := s.priced(r, c, res) // an Invoice (invoice.go)
	if err != nil {
		s.failErr(w, err)
		return
	}
	it, status, err := s.updateOf(r, c, res, id, r.Header.Get("If-Match"), r.Header.Get(categoryHeader))
	if err != nil {
		s.failErr(w, err)
		return
	}
	if status == http.StatusOK { // an edit: a proposal if a policy covers it (amend.go)
		head, needed, err := approvalNeeded(c, id, r.Header.Get(amendReasonHeader) != "")
		if err != nil {
			s.failErr(w, err)
			return
		}
		if needed {
			s.propose(w, r, c, head, it)
			return
		}
	}
	s.write(w, r, c, typ, it, status)
}

// updateOf checks an update of record id to res (following version
// ifMatch, an If-Match header, if set; in category, if set) and returns the
// version it writes, with the status to answer: 201 when it creates the
// record.
func (s *server) updateOf(r *http.Request, c caller, res *fhirjson.Resource, id, ifMatchHeader, category string) (records.PutItem, int, error) {
	typ := res.Type()
	if res.ID() != id {
		return records.PutItem{}, 0, &requestError{kind: carechain.KindMalformed, path: typ + ".id",
			err: fmt.Errorf("resource id %q does not match the URL's %q", res.ID(), id)}
	}
	ifMatch, err := ifMatchOf(ifMatchHeader)
	if err != nil {
		return records.PutItem{}, 0, err
	}
	status := http.StatusOK
	exists, err := s.mayUpdate(r, c, typ, id)
	switch {
	case err != nil:
		return records.PutItem{}, 0, err
	case !exists && ifMatch != 0:
		return records.PutItem{}, 0, notFound(typ) // a version of nothing: as if it were not the caller's
	case !exists:
		status = http.StatusCreated // update as create
	}
	it, err := recordVersion(res, id, categoryFor(c.view, id, category))
	if err == nil {
		it, err = authoredBy(c.principal, it)
	}
	it.IfMatch = ifMatch
	if err == nil && exists {
		err = followsIfMatch(c, id, ifMatch)
	}
	return it, status, err
}

// followsIfMatch refuses (412) a write of record id that must follow
// version ifMatch (if set) when the record is at another version in the
// caller's view. The ledger enforces it again when the write commits.
func followsIfMatch(c caller, id string, ifMatch uint64) error {
	if ifMatch == 0 {
		return nil
	}
	head, err := c.view.Record(id)
	if err != nil {
		return err
	}
	if head.Latest != ifMatch {
		return fmt.Errorf("%w: the resource is at version %d, not the If-Match %d", records.ErrPrecondition, head.Latest, ifMatch)
	}
	return nil
}

// mayUpdate reports whether record id exists, and refuses an update of one
// the caller may not see as if it were absent (notFound), before anything
// else about it is told (its type, its version, a rule it is under). An id
// that is taken cannot be created, so such a write is refused rather than
// written as a new record.
func (s *server) mayUpdate(r *http.Request, c caller, typ, id string) (bool, error) {
	if _, err := c.view.Record(id); errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	head, err := s.Records.Visible(r.Context(), c.principal.ID, id, c.purpose, consent.ActionWrite)
	switch {
	case errors.Is(err, records.ErrNotVisible):
		return true, notFound(typ)
	case err != nil:
		return true, err
	case head.ResourceType != typ:
		return true, carechain.E(carechain.KindConflict, fmt.Errorf("%s is a %s", id, head.ResourceType))
	}
	return true, nil
}

// ifMatchOf is the version an If-Match header names (0 for none).
func ifMatchOf(h string) (uint64, error) {
	if h == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil {
		return 0, &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf("If-Match %q is not a version ETag", h)}
	}
	return v, nil
}

// write stores it as the next version of its record and answers with the
// version stored. it.IfMatch, if set, is the version the write must follow;
// the ledger enforces it, so two updates with the same If-Match cannot both
// commit.
func (s *server) write(w http.ResponseWriter, r *http.Request, c caller, typ string, it records.PutItem, status int) {
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	res, err := s.Records.Put(r.Context(), signer, it)
	if err != nil {
		s.failErr(w, err)
		return
	}
	switch preferReturn(r) {
	case "minimal": // nothing read back: no access event for a body not sent
		w.Header().Set("Location", s.location(typ, it.RecordID, res.Version))
		w.Header().Set("ETag", etag(res.Version))
		w.WriteHeader(status)
		return
	case "OperationOutcome":
		w.Header().Set("Location", s.location(typ, it.RecordID, res.Version))
		w.Header().Set("ETag", etag(res.Version))
		writeFHIR(w, status, informational(fmt.Sprintf("%s/%s stored as version %d", typ, it.RecordID, res.Version)))
		return
	}
	rec, err := s.Records.Read(r.Context(), c.principal.ID, it.RecordID, res.Version, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", s.location(typ, it.RecordID, res.Version))
	s.writeRecord(w, status, typ, rec)
}

// delete writes a version marking the resource deleted; nothing is erased.
func (s *server) delete(w http.ResponseWriter, r *http.Request, c caller) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if isOrgType(typ) {
		s.orgDelete(w, r, c, typ, id)
		return
	}
	if !s.supported(w, typ) {
		return
	}
	s.deleteRecord(w, r, c, typ, id)
}

// deleteRecord deletes record id of typ (following If-Match, if given).
func (s *server) deleteRecord(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	it, gone, err := s.deletion(r, c, typ, id, r.Header.Get("If-Match"))
	if err != nil {
		s.failErr(w, err)
		return
	}
	if gone {
		w.WriteHeader(http.StatusNoContent) // deleting twice is not an error
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	res, err := s.Records.Put(r.Context(), signer, it)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	w.WriteHeader(http.StatusNoContent)
}

// deletion checks a delete of record id of typ (following version
// ifMatchHeader, an If-Match header, if set) and returns the version that
// deletes it, or gone if it is deleted already (nothing to write).
func (s *server) deletion(r *http.Request, c caller, typ, id, ifMatchHeader string) (it records.PutItem, gone bool, err error) {
	ifMatch, err := ifMatchOf(ifMatchHeader)
	if err != nil {
		return it, false, err
	}
	head, err := s.visibleHead(r, c, typ, id, 0, consent.ActionWrite)
	if err != nil {
		return it, false, err
	}
	if err := followsIfMatch(c, id, ifMatch); err != nil {
		return it, false, err
	}
	return records.PutItem{RecordID: id, Delete: true, IfMatch: ifMatch}, head.Deleted && ifMatch == 0, nil
}
