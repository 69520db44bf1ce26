package fhirrest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// Transaction and batch Bundles (POST /fhir), as FHIR R4 has them
// (http.html#transaction). Entries are POST {type} (with ifNoneExist),
// PUT {type}/{id} and DELETE {type}/{id} (with ifMatch), and GET of
// anything a plain GET reads. Each entry goes through the code of the
// request it stands for (create, update, delete, read, search), so it
// passes the same consent and role checks and is logged the same way.
//
// A transaction is processed as R4 orders it: ids are assigned to every
// entry first, then the urn:uuid and urn:oid references between entries
// (their fullUrls) are rewritten to the Type/id they name, anywhere in the
// resources, and the writes (deletes, then creates, then updates) are one
// ledger transaction: all are committed or none. GET entries are read
// last, after the writes commit; reads change nothing, so a failed one is
// reported in its entry. A batch writes each entry on its own, and its
// entries may not refer to each other.

type requestBundle struct {
	ResourceType string         `json:"resourceType"`
	Type         string         `json:"type"`
	Entry        []requestEntry `json:"entry"`
}

type requestEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfNoneExist string `json:"ifNoneExist"`
		IfMatch     string `json:"ifMatch"`
	} `json:"request"`
}

func (b *requestBundle) resourceType() string { return b.ResourceType }

// maxEntries bounds the entries of a Bundle.
const maxEntries = 100

// plannedEntry is an entry of a Bundle, checked and ready to process.
type plannedEntry struct {
	method  string
	typ, id string
	res     *fhirjson.Resource // the resource of a POST or PUT, parsed once
	put     records.PutItem    // the version a write writes
	status  string             // the response status of a write
	found   *records.Record    // what a POST's ifNoneExist found: it writes nothing
	gone    bool               // a DELETE of a deleted resource: it writes nothing
	url     string             // the request URL of a GET
	version uint64             // the version written, once committed
	err     error
}

// writes reports whether p writes a record version.
func (p *plannedEntry) writes() bool {
	return p.err == nil && p.method != http.MethodGet && p.found == nil && !p.gone
}

// transaction serves POST /fhir with a transaction Bundle (all writes in
// one ledger transaction, or none) or a batch Bundle (each on its own).
func (s *server) transaction(w http.ResponseWriter, r *http.Request, c caller) {
	bundle, err := readRequestBundle(w, r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	transaction := bundle.Type == "transaction"
	plan := s.planBundle(r, c, bundle, transaction)
	var signer records.Signer
	if len(inWriteOrder(plan)) > 0 { // reads alone need no signing key
		var ok bool
		if signer, ok = s.signer(w, c); !ok {
			return
		}
	}
	if transaction {
		s.commitTransaction(w, r, c, signer, plan)
		return
	}
	s.commitBatch(w, r, c, signer, plan)
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

// commitTransaction writes every write entry in one ledger transaction, in
// R4 order, then reads the GET entries; or fails with the first entry in
// error, having written nothing.
func (s *server) commitTransaction(w http.ResponseWriter, r *http.Request, c caller, signer records.Signer, plan []*plannedEntry) {
	for i, p := range plan {
		if p.err != nil {
			s.failErr(w, fmt.Errorf("entry %d: %w", i, p.err))
			return
		}
	}
	writes := inWriteOrder(plan)
	if len(writes) > 0 {
		items := make([]records.PutItem, len(writes))
		for i, p := range writes {
			items[i] = p.put
		}
		res, err := s.Records.PutBatch(r.Context(), signer, items)
		if err != nil {
			s.failErr(w, fmt.Errorf("the transaction (its writes in R4 order: deletes, creates, updates): %w", err))
			return
		}
		for i, p := range writes {
			p.version = res[i].Version
		}
	}
	s.writeResponses(w, r, c, "transaction-response", plan)
}

// commitBatch writes each valid write entry on its own, in R4 order, reads
// the GET entries, and answers with each entry's outcome.
func (s *server) commitBatch(w http.ResponseWriter, r *http.Request, c caller, signer records.Signer, plan []*plannedEntry) {
	for _, p := range inWriteOrder(plan) {
		var res records.PutResult
		res, p.err = s.Records.Put(r.Context(), signer, p.put)
		p.version = res.Version
	}
	s.writeResponses(w, r, c, "batch-response", plan)
}

// writeResponses answers a transaction or batch: a Bundle of typ with each
// entry's outcome, linked to the endpoint it was posted to.
func (s *server) writeResponses(w http.ResponseWriter, r *http.Request, c caller, typ string, plan []*plannedEntry) {
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": typ,
		"link": []bundleLink{{Relation: "self", URL: s.abs(r.URL.RequestURI())}}, "entry": s.responses(r, c, plan)})
}

// inWriteOrder are the entries of plan that write, in the order R4
// processes them: deletes, then creates, then updates.
func inWriteOrder(plan []*plannedEntry) []*plannedEntry {
	var out []*plannedEntry
	for _, method := range []string{http.MethodDelete, http.MethodPost, http.MethodPut} {
		for _, p := range plan {
			if p.method == method && p.writes() {
				out = append(out, p)
			}
		}
	}
	return out
}

// responses are the response entries of plan, in its order; GET entries
// are read here, after every write.
func (s *server) responses(r *http.Request, c caller, plan []*plannedEntry) []responseEntry {
	out := make([]responseEntry, 0, len(plan))
	for _, p := range plan {
		var re responseEntry
		switch {
		case p.err != nil:
			re = failedEntry(p.err)
		case p.method == http.MethodGet:
			re = s.readEntry(r, c, p.url)
		case p.found != nil: // ifNoneExist matched: the existing resource
			re.Response.Status, re.Response.Location = "200 OK", s.location(p.typ, p.found.RecordID, p.found.Version)
			re.Response.Etag, re.Response.LastModified = etag(p.found.Version), lastUpdated(p.found.RecordVersion).Format(time.RFC3339)
		case p.gone:
			re.Response.Status = "204 No Content"
		default:
			re = s.written(p)
		}
		out = append(out, re)
	}
	return out
}

// written is the response entry of a write entry, committed.
func (s *server) written(p *plannedEntry) responseEntry {
	var re responseEntry
	re.Response.Status, re.Response.Etag = p.status, etag(p.version)
	if p.method != http.MethodDelete {
		re.Response.Location = s.location(p.typ, p.id, p.version)
	}
	if rv, err := s.App.Latest().RecordVersion(p.id, p.version); err == nil {
		re.Response.LastModified = lastUpdated(*rv).Format(time.RFC3339)
	}
	return re
}

// failedEntry is the response entry of an entry that failed with err.
func failedEntry(err error) responseEntry {
	var re responseEntry
	status, oo := outcomeOf(err)
	re.Response.Status, re.Response.Outcome = fmt.Sprintf("%d %s", status, http.StatusText(status)), oo
	return re
}
