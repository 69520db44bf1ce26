package fhirrest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Planning a Bundle's entries (transaction.go): what each asks for, the id
// it writes, its references to other entries resolved, and the record
// version it writes, checked as the plain request would be.

// planBundle plans every entry of b. In a transaction, references to other
// entries' fullUrls are rewritten to the ids the entries get, and no two
// entries may write the same resource; a batch's entries may not refer to
// each other.
func (s *server) planBundle(r *http.Request, c caller, b *requestBundle, transaction bool) []*plannedEntry {
	plan := make([]*plannedEntry, len(b.Entry))
	for i := range b.Entry {
		plan[i] = s.planTarget(r, c, &b.Entry[i])
	}
	refs := map[string]string{}
	if transaction {
		refs = fullURLs(b.Entry, plan)
	}
	category := r.Header.Get(categoryHeader)
	for i, p := range plan {
		if p.err == nil && p.res != nil {
			p.err = resolveReferences(p, refs, transaction)
		}
		if p.err == nil {
			p.err = s.planWrite(r, c, p, &b.Entry[i], category)
		}
	}
	if transaction {
		refuseOverlaps(plan)
	}
	return plan
}

// planTarget is what entry e asks for: its method, resource type and id (a
// new one for a POST), its resource, parsed, and for a POST with
// ifNoneExist, the resource that search finds, if any (its id is then the
// entry's). Conditions are evaluated here, before anything is written.
func (s *server) planTarget(r *http.Request, c caller, e *requestEntry) *plannedEntry {
	p := &plannedEntry{method: e.Request.Method}
	if p.method == http.MethodGet {
		p.url = e.Request.URL
		return p
	}
	u, err := url.Parse(e.Request.URL)
	if err != nil {
		p.err = badEntry(fmt.Errorf("request.url %q: %w", e.Request.URL, err))
		return p
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	p.typ = parts[0]
	switch {
	case p.method == http.MethodPost && len(parts) == 1:
		p.id, p.status = records.NewRecordID(), "201 Created"
	case (p.method == http.MethodPut || p.method == http.MethodDelete) && len(parts) == 2:
		p.id, p.status = parts[1], "200 OK"
	default:
		p.err = badEntry(fmt.Errorf("entries are POST {type}, PUT {type}/{id}, DELETE {type}/{id} or GET; got %s %s", p.method, e.Request.URL))
		return p
	}
	if _, ok := clinicalTypes[p.typ]; !ok || p.typ == "Patient" && p.method == http.MethodPost {
		p.err = badEntry(notSupported(p.typ))
		return p
	}
	if err := c.permits(interaction{typ: p.typ, perm: map[string]byte{http.MethodPost: 'c', http.MethodPut: 'u', http.MethodDelete: 'd'}[p.method]}); err != nil {
		p.err = err
		return p
	}
	if p.method == http.MethodDelete {
		return p
	}
	if p.res, err = parseAs(e.Resource, p.typ); err == nil {
		p.res, err = s.priced(r, c, p.res) // an Invoice (invoice.go)
	}
	if err != nil {
		p.err = badEntry(err)
		return p
	}
	if p.method == http.MethodPost && e.Request.IfNoneExist != "" {
		p.err = s.planConditionalCreate(r, c, p, e.Request.IfNoneExist)
	}
	return p
}

// planConditionalCreate evaluates a POST entry's ifNoneExist, as a plain
// conditional create does: if it finds a resource, the entry is that one.
func (s *server) planConditionalCreate(r *http.Request, c caller, p *plannedEntry, cond string) error {
	patient, err := patientOfResource(p.res)
	if err != nil {
		return badEntry(err)
	}
	if p.found, err = s.existing(r, c, p.typ, patient, cond); err != nil || p.found == nil {
		return err
	}
	p.id = p.found.RecordID
	return nil
}

// fullURLs maps the fullUrl of each entry that names a resource with a
// placeholder (urn:uuid:… or urn:oid:…) to that resource's Type/id. An entry
// whose fullUrl another entry already has fails.
func fullURLs(entries []requestEntry, plan []*plannedEntry) map[string]string {
	refs := map[string]string{}
	for i, e := range entries {
		p := plan[i]
		if p.err != nil || p.id == "" || !isPlaceholder(e.FullURL) {
			continue
		}
		if _, dup := refs[e.FullURL]; dup {
			p.err = badEntry(fmt.Errorf("fullUrl %q is the fullUrl of an earlier entry too", e.FullURL))
			continue
		}
		refs[e.FullURL] = p.typ + "/" + p.id
	}
	return refs
}

// isPlaceholder reports whether ref is a placeholder for a resource of the
// same Bundle (R4: a urn:uuid or urn:oid fullUrl).
func isPlaceholder(ref string) bool {
	return strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:")
}

// resolveReferences rewrites every placeholder reference of p's resource
// to the Type/id refs maps it to. A placeholder no entry declares fails the
// entry (400): stored, it would point nowhere forever.
func resolveReferences(p *plannedEntry, refs map[string]string, transaction bool) error {
	return p.res.RewriteReferences(func(ref string) (string, error) {
		if !isPlaceholder(ref) {
			return ref, nil
		}
		if to, ok := refs[ref]; ok {
			return to, nil
		}
		err := fmt.Errorf("reference %q: no entry of this transaction has that fullUrl", ref)
		if !transaction {
			err = fmt.Errorf("reference %q: the entries of a batch cannot refer to each other", ref)
		}
		return "", &requestError{kind: carechain.KindMalformed, code: "not-found", path: p.typ, err: err}
	})
}

// planWrite checks a write entry as the plain request would be checked
// (create, update, delete) and sets the version it writes.
func (s *server) planWrite(r *http.Request, c caller, p *plannedEntry, e *requestEntry, category string) error {
	var err error
	switch {
	case p.method == http.MethodGet || p.found != nil:
		return nil
	case p.method == http.MethodPost:
		if p.put, err = recordVersion(p.res, p.id, category); err == nil {
			p.put, err = authoredBy(c.principal, p.put)
		}
	case p.method == http.MethodPut:
		if p.res.ID() == "" { // the entry's URL names it (HAPI FHIR takes it so too)
			if err := p.res.SetID(p.id); err != nil {
				return badEntry(err)
			}
		}
		var status int
		p.put, status, err = s.updateOf(r, c, p.res, p.id, e.Request.IfMatch, category)
		p.status = fmt.Sprintf("%d %s", status, http.StatusText(status))
	case p.method == http.MethodDelete:
		p.put, p.gone, err = s.deletion(r, c, p.typ, p.id, e.Request.IfMatch)
		p.status = "204 No Content"
	}
	if err == nil && p.status != "201 Created" && !p.gone {
		err = refuseUnderApproval(c, p)
	}
	return badEntry(err)
}

// refuseUnderApproval refuses (409) an entry that changes a record under
// an approval policy: such a change made on its own is a proposal
// (amend.go), which a Bundle cannot hold, and the ledger refuses it as a
// direct write.
func refuseUnderApproval(c caller, p *plannedEntry) error {
	if _, needed, err := approvalNeeded(c, p.id, false); err != nil || !needed {
		return err
	}
	return carechain.E(carechain.KindConflict, fmt.Errorf("%s/%s is under an approval policy: propose the change with a PUT of its own", p.typ, p.id))
}

// refuseOverlaps fails every write entry of a transaction that writes a
// resource an earlier entry writes (R4: the identities may not overlap).
func refuseOverlaps(plan []*plannedEntry) {
	seen := map[string]int{}
	for i, p := range plan {
		if p.err != nil || p.method == http.MethodGet {
			continue
		}
		key := p.typ + "/" + p.id
		if j, ok := seen[key]; ok {
			p.err = badEntry(fmt.Errorf("entry %d writes %s too", j, key))
			continue
		}
		seen[key] = i
	}
}

// badEntry makes an entry that is malformed or invalid a malformed Bundle
// (400), whatever the entry's own error; refusals (403, 404, 412) keep their
// status.
func badEntry(err error) error {
	if k := carechain.KindOf(err); err != nil && (k == carechain.KindMalformed || k == carechain.KindInvalid) {
		return fmt.Errorf("%w: %w", errBadEntry, err)
	}
	return err
}

var errBadEntry = carechain.NewError(carechain.KindMalformed, "invalid bundle entry")
