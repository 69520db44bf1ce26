package fhirrest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Transaction and batch Bundles (POST /fhir): the entries of a transaction
// are one ledger transaction, all committed or none; those of a batch are
// written one by one, each with its own outcome. Entries write clinical
// resources (POST {type}, PUT {type}/{id}); each resource is parsed once, as
// a single write's is.

type requestBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

func (b *requestBundle) resourceType() string { return b.ResourceType }

// maxEntries bounds the entries of a Bundle.
const maxEntries = 100

// bundleItem is a write entry of a Bundle, resolved.
type bundleItem struct {
	typ    string
	status string // the entry's response status when it is written
	put    records.PutItem
}

// transaction serves POST /fhir with a transaction Bundle (all entries in
// one ledger transaction, or none) or a batch Bundle (each on its own).
func (s *server) transaction(w http.ResponseWriter, r *http.Request, c caller) {
	bundle, err := readRequestBundle(w, r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	items := make([]bundleItem, len(bundle.Entry))
	errs := make([]error, len(bundle.Entry))
	for i, e := range bundle.Entry {
		items[i], errs[i] = resolveEntry(c.view, e.Request.Method, e.Request.URL, e.Resource, r.Header.Get(categoryHeader))
		if errs[i] == nil {
			items[i].put, errs[i] = authoredBy(c.principal, items[i].put)
		}
		if errs[i] == nil { // an entry may update only a record the caller may see (as a single update)
			_, errs[i] = s.mayUpdate(r, c, items[i].typ, items[i].put.RecordID)
		}
	}
	if bundle.Type == "transaction" {
		s.commitTransaction(w, r, signer, items, errs)
		return
	}
	s.commitBatch(w, r, signer, items, errs)
}

// readRequestBundle reads the body of POST /fhir: a transaction or batch
// Bundle of 1 to maxEntries entries.
func readRequestBundle(w http.ResponseWriter, r *http.Request) (*requestBundle, error) {
	var bundle requestBundle
	if err := readTyped(w, r, MaxBody, "Bundle", &bundle, "POST /fhir takes a Bundle of type transaction or batch"); err != nil {
		return nil, err
	}
	if bundle.Type != "transaction" && bundle.Type != "batch" {
		return nil, &requestError{kind: carechain.KindMalformed, code: "value", path: "Bundle.type",
			err: fmt.Errorf("bundle type %q: want transaction or batch", bundle.Type)}
	}
	if len(bundle.Entry) == 0 || len(bundle.Entry) > maxEntries {
		return nil, &requestError{kind: carechain.KindMalformed, code: "value", path: "Bundle.entry",
			err: fmt.Errorf("a bundle holds 1-%d entries", maxEntries)}
	}
	return &bundle, nil
}

// commitTransaction writes every entry in one ledger transaction, or fails
// with the first entry in error.
func (s *server) commitTransaction(w http.ResponseWriter, r *http.Request, signer records.Signer, items []bundleItem, errs []error) {
	puts := make([]records.PutItem, 0, len(items))
	for i, it := range items {
		if errs[i] != nil {
			s.failErr(w, fmt.Errorf("entry %d: %w", i, errs[i]))
			return
		}
		puts = append(puts, it.put)
	}
	res, err := s.Records.PutBatch(r.Context(), signer, puts)
	if err != nil {
		s.failErr(w, err)
		return
	}
	entries := make([]responseEntry, 0, len(items))
	for i, it := range items {
		entries = append(entries, s.written(it, res[i].Version))
	}
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
}

// commitBatch writes each valid entry on its own, and answers with each
// entry's outcome.
func (s *server) commitBatch(w http.ResponseWriter, r *http.Request, signer records.Signer, items []bundleItem, errs []error) {
	entries := make([]responseEntry, 0, len(items))
	for i, it := range items {
		err := errs[i]
		if err == nil {
			var res records.PutResult
			if res, err = s.Records.Put(r.Context(), signer, it.put); err == nil {
				entries = append(entries, s.written(it, res.Version))
				continue
			}
		}
		var re responseEntry
		status, oo := outcomeOf(err)
		re.Response.Status, re.Response.Outcome = fmt.Sprintf("%d %s", status, http.StatusText(status)), oo
		entries = append(entries, re)
	}
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "batch-response", "entry": entries})
}

// written is the response entry of an entry written as version.
func (s *server) written(it bundleItem, version uint64) responseEntry {
	var re responseEntry
	re.Response.Status, re.Response.Location, re.Response.Etag = it.status, s.location(it.typ, it.put.RecordID, version), etag(version)
	return re
}

// resolveEntry checks one write entry of a Bundle and makes the record
// version it writes, in category if set (categoryFor, as of v). A bad entry
// makes the Bundle malformed (400), whatever the entry's own error.
func resolveEntry(v *ledger.View, method, rawURL string, resource json.RawMessage, category string) (bundleItem, error) {
	it, id, err := entryTarget(method, rawURL)
	if err == nil {
		var res *fhirjson.Resource
		res, err = parseAs(resource, it.typ)
		if err == nil {
			it.put, err = recordVersion(res, id, categoryFor(v, id, category))
		}
	}
	if err != nil {
		return it, fmt.Errorf("%w: %w", errBadEntry, err)
	}
	return it, nil
}

// entryTarget is the resource type, id and response status of an entry's
// request: POST {type} (a new id) or PUT {type}/{id}, of a clinical type.
func entryTarget(method, rawURL string) (bundleItem, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return bundleItem{}, "", fmt.Errorf("request.url %q: %w", rawURL, err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	it := bundleItem{typ: parts[0]}
	var id string
	switch {
	case method == http.MethodPost && len(parts) == 1:
		id, it.status = records.NewRecordID(), "201 Created"
	case method == http.MethodPut && len(parts) == 2:
		id, it.status = parts[1], "200 OK"
	default:
		return it, "", fmt.Errorf("only POST {type} and PUT {type}/{id} entries are supported, got %s %s", method, rawURL)
	}
	if _, ok := clinicalTypes[it.typ]; !ok || it.typ == "Patient" && method == http.MethodPost {
		return it, "", notSupported(it.typ)
	}
	return it, id, nil
}

var errBadEntry = carechain.NewError(carechain.KindMalformed, "invalid bundle entry")
